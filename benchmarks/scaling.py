"""How one ranking round scales with candidates N and training points n (DKL, CPU).

    .venv/bin/python benchmarks/scaling.py          # N 2,500 / 16,384 / 65,536 x n 50 / 200 / 500
    .venv/bin/python benchmarks/scaling.py --sides 50 --n-train 50 --full

Data: the procedural sample (``load_dataset("procedural", size=side, seed=0)``, side 50, 128
and 256 for N = side^2), 16 x 16 patches normalised by the image, loop-area targets at ``n``
random grid points. For each (N, n), with ``DKLModel(DKLConfig())``:

- fit cold: the first fit (``iterations`` steps); fit warm: a refit after 4 more points
  (``warm_iterations`` steps);
- predict: embed every candidate and compute the posterior mean and variance (the learner
  re-embeds once per model version);
- believer: EI (``xi = 0``) with q = 16 kriging-believer picks through ``select_batch``, the
  covariance computed for the believer's shortlist rows only (``covariance_rows``); with
  ``--full``, also the same picks with covariance columns over all N (the pre-shortlist cost);
- round: predict + believer, what a plan costs once the fit is done.

Torch runs on ``--threads`` (2) threads. Times are wall seconds: one fit each, the median of
``--repeats`` (3) rounds. The machine's load average is recorded with the results: on a shared
2-core machine other processes stretch every multi-threaded torch call.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks.machine import write_result
from edge_agent.instruments.datasets import load_dataset
from planner_cluster.acquisition import select_batch
from planner_cluster.candidates import make_candidates
from planner_cluster.models import DKLConfig, DKLModel
from planner_cluster.scalarizers import scalarize

logger = logging.getLogger("scaling")

Q = 16


def bench(side: int, n_train: int, repeats: int, full: bool) -> dict[str, Any]:
    """Time one (N = side^2, n) cell: fits once, prediction and the believer batch
    ``repeats`` times each (medians)."""
    data = load_dataset("procedural", size=side, seed=0)
    spectra = data.spectra.reshape(-1, data.spectra.shape[-1])
    truth = scalarize("loop_area", spectra, data.axis)
    cands = make_candidates(data.image, patch=16, normalize="image")
    idx = np.random.default_rng(0).choice(len(cands), n_train + 4, replace=False)
    model = DKLModel(DKLConfig(), reference=cands.features)
    t0 = time.perf_counter()
    model.fit(cands.features[idx[:n_train]], truth[idx[:n_train]])
    t1 = time.perf_counter()
    model.fit(cands.features[idx], truth[idx])
    t2 = time.perf_counter()
    predict_s, believer_s = [], []
    for _ in range(repeats):
        t3 = time.perf_counter()
        latent = model.embed(cands.features)
        mean, variance = model.predict_embedded(latent)
        predict_s.append(time.perf_counter() - t3)
    values = truth[idx]
    common: dict[str, Any] = {
        "q": Q,
        "acquisition": "ei",
        "best_f": float(values.max()),
        "exploration_scale": float(values.std()),
        "exclude": idx,
        "coords": cands.coords,
        "noise": model.noise_variance,
    }

    def rows_cov(rows: np.ndarray, k: int) -> np.ndarray:
        return model.covariance_embedded(latent[torch.as_tensor(rows)], k)

    for _ in range(repeats):
        common["rng"] = np.random.default_rng(0)
        t4 = time.perf_counter()
        picks = select_batch(mean, variance, covariance_rows=rows_cov, **common)
        believer_s.append(time.perf_counter() - t4)
    out: dict[str, Any] = {
        "candidates": len(cands),
        "n_train": n_train,
        "fit_cold_s": t1 - t0,
        "fit_warm_s": t2 - t1,
        "predict_s": float(np.median(predict_s)),
        "believer_s": float(np.median(believer_s)),
        "round_s": float(np.median(predict_s) + np.median(believer_s)),
        "predict_runs_s": predict_s,
        "believer_runs_s": believer_s,
        "picks": picks.indices.tolist(),
    }
    if full:
        common["rng"] = np.random.default_rng(0)
        t5 = time.perf_counter()
        every = select_batch(
            mean,
            variance,
            covariance=lambda j: model.covariance_embedded(latent, j),
            shortlist=len(cands),
            **common,
        )
        out["believer_all_rows_s"] = time.perf_counter() - t5
        out["same_picks"] = every.indices.tolist() == out["picks"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sides", default="50,128,256", help="image sides: N = side^2 candidates")
    ap.add_argument("--n-train", default="50,200,500", help="training points")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per cell (median)")
    ap.add_argument("--full", action="store_true", help="also time the all-rows believer")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "scaling.json"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    results = []
    for side in (int(s) for s in args.sides.split(",")):
        for n_train in (int(n) for n in args.n_train.split(",")):
            logger.info("N = %d, n = %d", side * side, n_train)
            results.append(bench(side, n_train, args.repeats, args.full))
    headers = ["N", "n", "fit cold s", "fit warm s", "predict s", f"q={Q} believer s", "round s"]
    if args.full:
        headers += ["believer, all rows s", "same picks"]
    rows = []
    for r in results:
        cells = [f"{r['candidates']:,}", r["n_train"]]
        cells += [f"{r[k]:.2f}" for k in ("fit_cold_s", "fit_warm_s", "predict_s")]
        cells += [f"{r[k]:.2f}" for k in ("believer_s", "round_s")]
        if args.full:
            cells += [f"{r['believer_all_rows_s']:.2f}", r["same_picks"]]
        rows.append(cells)
    print(f"\nDKL ranking round, {args.threads} torch threads\n")
    print("| " + " | ".join(headers) + " |\n|" + "---|" * len(headers))
    for cells in rows:
        print("| " + " | ".join(str(c) for c in cells) + " |")
    settings = {
        "torch_threads": args.threads,
        "repeats": args.repeats,
        "q": Q,
        "acquisition": "ei",
        "config": "DKLConfig()",
        "load_average": list(os.getloadavg()),
    }
    write_result(args.out, "scaling", results, settings=settings)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
