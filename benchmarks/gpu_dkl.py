"""DKL on CPU and CUDA from the same code: training on 500 points, ranking 65k candidates.

    .venv/bin/python benchmarks/gpu_dkl.py            # every available device
    .venv/bin/python benchmarks/gpu_dkl.py --devices cpu --repeats 2

Uses the procedural 256 x 256 sample (16 x 16 patches -> 65,536 candidates x 256 features).
For each device: a cold fit (``iterations``), a warm fit (``warm_iterations``), embedding and
posterior prediction for every candidate, and a q=4 believer batch. CUDA times synchronise
the device. Devices that are absent are reported as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks.machine import print_table, write_result
from edge_agent.instruments.procedural import procedural
from planner_cluster.campaign import AcquisitionPolicy
from planner_cluster.candidates import make_candidates
from planner_cluster.learner import ActiveLearner
from planner_cluster.models import DKLConfig
from planner_cluster.scalarizers import scalarize

logger = logging.getLogger("gpu_dkl")


PHASES = ("cold_fit", "warm_fit", "predict", "rank_q4")


def _cell(row: dict[str, Any], phase: str) -> str:
    return f"{row[phase + '_s']:.3f} ({row[phase + '_cpu_s']:.3f})"


def _mark(device: str) -> tuple[float, float]:
    """(wall, process CPU) time after the device has finished its queued work."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter(), time.process_time()


def bench_device(device: str, dtype: str, n_train: int, repeats: int, size: int) -> dict[str, Any]:
    data = procedural(size=size, seed=0)
    spectra = data.spectra.reshape(-1, data.spectra.shape[-1])
    truth = scalarize("loop_area", spectra, data.axis)
    cands = make_candidates(data.image, patch=16)
    config = replace(DKLConfig(), device=device, dtype=dtype)  # type: ignore[arg-type]
    keys = PHASES
    rows: dict[str, list[float]] = {f"{k}_{u}": [] for k in keys for u in ("s", "cpu_s")}
    for rep in range(repeats):
        learner = ActiveLearner(
            cands, model_config=replace(config, seed=rep), policy=AcquisitionPolicy("ei")
        )
        idx = np.random.default_rng(rep).choice(len(cands), n_train + 4, replace=False)
        learner.observe(idx[:n_train], truth[idx[:n_train]])
        marks = [_mark(device)]
        learner.update()
        marks.append(_mark(device))
        learner.observe(idx[n_train:], truth[idx[n_train:]])
        learner.update()
        marks.append(_mark(device))
        learner.predict()
        marks.append(_mark(device))
        learner.rank(q=4)
        marks.append(_mark(device))
        for k, a, b in zip(keys, marks, marks[1:], strict=False):
            rows[f"{k}_s"].append(b[0] - a[0])
            rows[f"{k}_cpu_s"].append(b[1] - a[1])
    out: dict[str, Any] = {k: float(np.median(v)) for k, v in rows.items()}
    out.update(
        device=device,
        dtype=dtype,
        candidates=len(cands),
        n_train=n_train,
        repeats=repeats,
        iterations=config.iterations,
        warm_iterations=config.warm_iterations,
    )
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
        out["max_memory_mb"] = torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", default="cpu,cuda", help="comma list: cpu, cuda, cuda:1 ...")
    ap.add_argument("--n-train", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=256, help="image side: size**2 candidates")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "gpu_dkl.json"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for device in filter(None, args.devices.split(",")):
        if device.startswith("cuda") and not torch.cuda.is_available():
            built = torch.version.cuda
            skipped[device] = f"CUDA not available (torch {torch.__version__}, CUDA build: {built})"
            print(f"SKIP {device}: {skipped[device]}")
            continue
        for dtype in ("float64", "float32") if device.startswith("cuda") else ("float64",):
            logger.info("timing %s %s", device, dtype)
            results.append(bench_device(device, dtype, args.n_train, args.repeats, args.size))
    print_table(
        f"DKL, {args.n_train} training points, {args.size**2} candidates "
        f"(median of {args.repeats})",
        [
            "device",
            "dtype",
            "cold fit s (CPU)",
            "warm fit s (CPU)",
            "predict all s (CPU)",
            "rank q=4 s (CPU)",
        ],
        [[r["device"], r["dtype"], *(_cell(r, k) for k in PHASES)] for r in results],
    )
    write_result(
        args.out, "gpu_dkl", results, skipped=skipped, torch_threads=torch.get_num_threads()
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
