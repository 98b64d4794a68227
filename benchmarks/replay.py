"""Replay benchmark: offline active learning on recorded data, our DKL against gpax viDKL.

Every problem is a recorded (or procedural) field of view with a spectrum at every grid point,
so the "microscope" answers instantly with the true scalar there. Each strategy starts from the
same initial points per seed and runs ``--steps`` round trips (``q`` points per round trip).
Per step we record the best true value found, the recall of the true top-1% sites, the RMSE of
the predicted map (in units of the truth's std), and the update and ranking times.

    .venv/bin/python benchmarks/replay.py --steps 50 --seeds 3
    .venv/bin/python benchmarks/replay.py --problems beps:loop_area --strategies dkl-ei,random

Strategies: ``dkl-<acq>-q<k>`` (ours: ``acq`` in ei, ucb, maxvar, thompson, pi), ``random``,
``raster`` (an evenly spaced grid of the whole budget, row by row), ``gpax-ei`` (gpax 0.1.9
viDKL with its published recipe: z_dim 2, RBF, 100 SVI steps at lr 0.05, refit from scratch
every step; its mean and variance are ranked with our EI so that only the model differs).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, write_result
from edge_agent.instruments.datasets import load_dataset
from planner_cluster.acquisition import select_batch
from planner_cluster.candidates import CandidateSet, Normalization, make_candidates
from planner_cluster.learner import AcquisitionPolicy, ActiveLearner
from planner_cluster.models import DKLConfig
from planner_cluster.scalarizers import scalarize

logger = logging.getLogger("replay")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------- problems


@dataclass(frozen=True, eq=False)
class Problem:
    """One field of view: candidates, the true scalar at each, and what counts as a top site."""

    name: str
    candidates: CandidateSet
    truth: FloatArray
    top: npt.NDArray[np.bool_]
    description: str


def _problem(
    name: str,
    dataset: Any,
    scalar: str,
    params: dict[str, Any],
    patch: int,
    normalize: Normalization,
) -> Problem:
    spectra = dataset.spectra.reshape(-1, dataset.spectra.shape[-1])
    truth = scalarize(scalar, spectra, dataset.axis, **params)
    cands = make_candidates(
        dataset.image, patch=patch, scale=dataset.patch_scale, normalize=normalize
    )
    truth = truth[cands.flat_index()]
    k = max(1, math.ceil(0.01 * truth.size))
    threshold = np.sort(truth)[-k]
    return Problem(
        name,
        cands,
        truth,
        truth >= threshold,
        f"{dataset.name}: {scalar}{params or ''}, maximise; {len(cands)} candidates, "
        f"patch {patch} ({normalize}-normalised), top-1% = {int((truth >= threshold).sum())} sites",
    )


PROBLEMS: dict[str, Callable[[Normalization, Path | None], Problem]] = {
    "beps:loop_area": lambda norm, d: _problem(
        "beps:loop_area", load_dataset("beps", data_dir=d), "loop_area", {}, 7, norm
    ),
    "beps:coercive": lambda norm, d: _problem(
        "beps:coercive", load_dataset("beps", data_dir=d), "coercive_width", {}, 7, norm
    ),
    "eels:ti_l": lambda norm, d: _problem(
        "eels:ti_l",
        load_dataset("eels", data_dir=d),
        "band_integral",
        {"lo": 450.0, "hi": 475.0, "background": "linear"},
        32,
        norm,
    ),
    "procedural:loop_area": lambda norm, d: _problem(
        "procedural:loop_area",
        load_dataset("procedural", size=64, seed=0),
        "loop_area",
        {},
        9,
        norm,
    ),
}


# ---------------------------------------------------------------------- strategies


@dataclass
class Trace:
    """What one run did, step by step (step 0 = the initial points)."""

    measured: list[list[int]]
    update_s: list[float]
    rank_s: list[float]
    rmse: list[float]
    cpu_s: list[float] = field(default_factory=lambda: [0.0])


def _rmse(problem: Problem, mean: FloatArray | None) -> float:
    if mean is None:
        return float("nan")
    return float(np.sqrt(np.mean((mean - problem.truth) ** 2)) / (problem.truth.std() + 1e-300))


def run_dkl(
    problem: Problem, init: IntArray, steps: int, q: int, acq: str, seed: int, config: DKLConfig
) -> Trace:
    policy = AcquisitionPolicy(name=acq, maximize=True, seed=seed, params=ACQ_PARAMS.get(acq, {}))
    learner = ActiveLearner(
        problem.candidates, model_config=replace(config, seed=seed), policy=policy
    )
    learner.observe(init, problem.truth[init])
    trace = Trace([list(map(int, init))], [0.0], [0.0], [float("nan")])
    for _ in range(steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        learner.update()
        t1 = time.perf_counter()
        plan = learner.rank(q=q)
        t2 = time.perf_counter()
        learner.observe(plan.indices, problem.truth[plan.indices])
        trace.measured.append(list(map(int, plan.indices)))
        trace.update_s.append(t1 - t0)
        trace.rank_s.append(t2 - t1)
        trace.rmse.append(_rmse(problem, plan.mean))
        trace.cpu_s.append(time.process_time() - c0)
    return trace


ACQ_PARAMS: dict[str, dict[str, Any]] = {"ucb": {"beta": 4.0}}


def run_random(problem: Problem, init: IntArray, steps: int, q: int, seed: int) -> Trace:
    rng = np.random.default_rng(10_000 + seed)
    rest = np.setdiff1d(np.arange(len(problem.truth)), init)
    order = rng.permutation(rest)[: steps * q]
    return _fixed_order(init, order, steps, q)


def run_raster(problem: Problem, init: IntArray, steps: int, q: int, seed: int) -> Trace:
    del seed
    rows, cols = problem.candidates.grid_shape
    budget = steps * q
    stride = max(1, int(math.floor(math.sqrt(rows * cols / max(budget, 1)))))
    while stride > 1 and math.ceil(rows / stride) * math.ceil(cols / stride) < budget:
        stride -= 1
    coords = problem.candidates.coords
    on_grid = (coords[:, 0] % stride == stride // 2 % stride) & (
        coords[:, 1] % stride == stride // 2 % stride
    )
    order = np.flatnonzero(on_grid)
    order = order[~np.isin(order, init)][:budget]
    if order.size < budget:
        extra = np.setdiff1d(np.arange(len(problem.truth)), np.concatenate([order, init]))
        order = np.concatenate([order, extra[: budget - order.size]])
    return _fixed_order(init, order, steps, q)


def _fixed_order(init: IntArray, order: IntArray, steps: int, q: int) -> Trace:
    trace = Trace([list(map(int, init))], [0.0], [0.0], [float("nan")])
    for s in range(steps):
        trace.measured.append(list(map(int, order[s * q : (s + 1) * q])))
        trace.update_s.append(0.0)
        trace.rank_s.append(0.0)
        trace.rmse.append(float("nan"))
        trace.cpu_s.append(0.0)
    return trace


def run_gpax(problem: Problem, init: IntArray, steps: int, q: int, seed: int) -> Trace:
    import gpax  # type: ignore[import-untyped]  # the [bench] extra
    import jax.numpy as jnp

    feats = problem.candidates.features.astype(np.float64)
    x_all = (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-12)
    x_all_j = jnp.asarray(x_all)
    measured = list(map(int, init))
    trace = Trace([list(measured)], [0.0], [0.0], [float("nan")])
    for step in range(steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        y = problem.truth[measured]
        y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
        key_fit, key_pred = gpax.utils.get_keys(seed * 1000 + step)
        model = gpax.viDKL(x_all.shape[1], 2, "RBF")
        model.fit(
            key_fit,
            jnp.asarray(x_all[measured]),
            jnp.asarray((y - y_mean) / y_std),
            num_steps=100,
            step_size=0.05,
            print_summary=False,
            progress_bar=False,
        )
        t1 = time.perf_counter()
        if x_all.shape[0] > 1000:
            mean, var = model.predict_in_batches(key_pred, x_all_j, batch_size=1000)
        else:  # gpax 0.1.9's split_in_batches fails when there is less than one full batch
            mean, var = model.predict(key_pred, x_all_j)
        mean_np = np.asarray(mean, dtype=np.float64) * y_std + y_mean
        var_np = np.asarray(var, dtype=np.float64) * y_std**2
        sel = select_batch(
            mean_np,
            var_np,
            q=q,
            acquisition="ei",
            best_f=float(y.max()),
            exclude=measured,
            coords=problem.candidates.coords,
            seed=seed,
        )
        t2 = time.perf_counter()
        logger.debug("gpax step %d: fit+predict %.1fs", step, t1 - t0)
        picks = list(map(int, sel.indices))
        measured += picks
        trace.measured.append(picks)
        trace.update_s.append(t1 - t0)
        trace.rank_s.append(t2 - t1)
        trace.rmse.append(_rmse(problem, mean_np))
        trace.cpu_s.append(time.process_time() - c0)
    return trace


# ---------------------------------------------------------------------- driver

_ACQ_ALIASES = {
    "maxvar": "max_variance",
    "ei": "ei",
    "ucb": "ucb",
    "pi": "pi",
    "thompson": "thompson",
}
DEFAULT_STRATEGIES = (
    "dkl-ei-q1,dkl-ucb-q1,dkl-maxvar-q1,dkl-ei-q4,dkl-ucb-q4,dkl-maxvar-q4,random,raster,gpax-ei"
)


def run_strategy(
    name: str, problem: Problem, init: IntArray, steps: int, seed: int, config: DKLConfig
) -> Trace:
    parts = name.split("-")
    q = int(parts[-1][1:]) if parts[-1].startswith("q") else 1
    if parts[0] == "dkl":
        return run_dkl(problem, init, steps, q, _ACQ_ALIASES[parts[1]], seed, config)
    if parts[0] == "random":
        return run_random(problem, init, steps, q, seed)
    if parts[0] == "raster":
        return run_raster(problem, init, steps, q, seed)
    if parts[0] == "gpax":
        return run_gpax(problem, init, steps, q, seed)
    raise SystemExit(f"unknown strategy {name!r}")


def metrics(problem: Problem, trace: Trace) -> dict[str, list[float]]:
    """Per-step curves from a trace."""
    seen: list[int] = []
    out: dict[str, list[float]] = {"n_measured": [], "best": [], "best_quantile": [], "recall": []}
    sorted_truth = np.sort(problem.truth)
    top_total = int(problem.top.sum())
    for picks in trace.measured:
        seen += picks
        best = float(problem.truth[seen].max())
        out["n_measured"].append(float(len(seen)))
        out["best"].append(best)
        out["best_quantile"].append(
            float(np.searchsorted(sorted_truth, best, side="right") / sorted_truth.size)
        )
        out["recall"].append(float(problem.top[np.unique(seen)].sum() / top_total))
    out["rmse"] = trace.rmse
    out["update_s"] = trace.update_s
    out["rank_s"] = trace.rank_s
    out["cpu_s"] = trace.cpu_s
    return out


def memory_check(size: int, patch: int) -> dict[str, Any]:
    """Fit on 50 points and rank ``size**2`` candidates; peak RSS of this process (MB)."""
    import torch

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data = load_dataset("procedural", size=size, seed=0)
    truth = scalarize("loop_area", data.spectra.reshape(-1, data.spectra.shape[-1]), data.axis)
    cands = make_candidates(data.image, patch=patch)
    learner = ActiveLearner(cands, model_config=DKLConfig(), policy=AcquisitionPolicy("ei"))
    init = learner.seed_points(50, np.random.default_rng(0))
    learner.observe(init, truth[init])
    c0, t0 = time.process_time(), time.perf_counter()
    learner.update()
    c1, t1 = time.process_time(), time.perf_counter()
    plan = learner.rank(q=4)
    c2, t2 = time.process_time(), time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "candidates": len(cands),
        "features": int(cands.features.shape[1]),
        "fit_s": t1 - t0,
        "fit_cpu_s": c1 - c0,
        "rank_q4_s": t2 - t1,
        "rank_q4_cpu_s": c2 - c1,
        "peak_rss_mb": peak,
        "rss_before_data_mb": before,
        "plan": plan.indices.tolist(),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--problems", default=",".join(PROBLEMS), help="comma list of " + ", ".join(PROBLEMS)
    )
    ap.add_argument("--datasets", default=None, help="shortcut: keep problems of these datasets")
    ap.add_argument("--strategies", default=DEFAULT_STRATEGIES)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    ap.add_argument("--no-memory", action="store_true", help="skip the 65k-candidate memory check")
    ap.add_argument("--init", type=int, default=5, help="initial points (same for every strategy)")
    ap.add_argument("--normalize", default="image", choices=["patch", "image", "none"])
    ap.add_argument(
        "--dkl", default="", help="DKLConfig overrides, e.g. lr=0.05,warm_iterations=40"
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--tag", default="", help="suffix of the result file names")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch (and XLA) threads; 1 keeps timings stable on a shared machine; 0: defaults",
    )
    ap.add_argument(
        "--memory-check", action="store_true", help="only the 65k-candidate memory check"
    )
    ap.add_argument(
        "--merge",
        default="",
        help="comma list of result JSONs (one problem each, each a complete run) to combine",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if args.threads == 1:  # before jax is imported (gpax strategy)
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_check:
        print(json.dumps(memory_check(256, 16)))
        return 0
    if args.merge:
        return merge([Path(p) for p in args.merge.split(",")], args.out, args.tag,
                     measure_memory=not args.no_memory)
    config = _config_from(args.dkl)
    problems = [p for p in args.problems.split(",") if p]
    if args.datasets:
        keep = set(args.datasets.split(","))
        problems = [p for p in problems if p.split(":")[0] in keep]
    strategies = [s for s in args.strategies.split(",") if s]
    results: dict[str, Any] = {}
    started = time.perf_counter()
    tag = f"_{args.tag}" if args.tag else ""
    args.out.mkdir(parents=True, exist_ok=True)
    for pname in problems:
        problem = PROBLEMS[pname](args.normalize, args.data_dir)
        logger.info("problem %s", problem.description)
        runs: dict[str, list[dict[str, list[float]]]] = {s: [] for s in strategies}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            probe = ActiveLearner(problem.candidates, policy=AcquisitionPolicy(seed=seed))
            init = probe.seed_points(args.init, np.random.default_rng(seed))
            for strategy in strategies:
                t0 = time.perf_counter()
                trace = run_strategy(strategy, problem, init, args.steps, seed, config)
                m = metrics(problem, trace)
                runs[strategy].append(m)
                partial = {
                    "results": {pname: {"description": problem.description, "runs": runs}},
                    "settings": {
                        "steps": args.steps,
                        "seeds": seed + 1 - args.first_seed,
                        "first_seed": args.first_seed,
                        "command": " ".join(sys.argv),
                    },
                    "machine": machine_info(),
                    "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
                (args.out / f"replay{tag}.partial.json").write_text(json.dumps(partial) + "\n")
                logger.info(
                    "%s seed %d %-14s recall %.2f best_q %.4f step %.3fs (%.0fs)",
                    pname,
                    seed,
                    strategy,
                    m["recall"][-1],
                    m["best_quantile"][-1],
                    np.mean(np.add(m["update_s"][1:], m["rank_s"][1:])),
                    time.perf_counter() - t0,
                )
        results[pname] = {
            "description": problem.description,
            "top_sites": int(problem.top.sum()),
            "candidates": len(problem.candidates),
            "runs": runs,
        }
    mem = {} if args.no_memory else _memory_subprocess()
    settings = {
        "steps": args.steps,
        "seeds": args.seeds,
        "init": args.init,
        "normalize": args.normalize,
        "strategies": strategies,
        "problems": problems,
        "dkl_config": config.__dict__,
        "wall_s": time.perf_counter() - started,
        "torch_threads": torch.get_num_threads(),
        "command": " ".join(sys.argv),
    }
    path = write_result(
        args.out / f"replay{tag}.json", "replay", results, settings=settings, memory=mem
    )
    table = summary_table(results, args.steps)
    (args.out / f"replay{tag}.md").write_text(table + "\n")
    plot(results, args.out / f"replay{tag}.png")
    print(table)
    print(f"wrote {path}")
    return 0


def merge(paths: list[Path], out: Path, tag: str, *, measure_memory: bool = True) -> int:
    """Combine per-problem result files (each problem measured in one run) into one report;
    the memory check runs now if none of them has it."""
    results: dict[str, Any] = {}
    parts = []
    for path in paths:
        doc = json.loads(path.read_text())
        for pname, res in doc.get("results", doc).items():  # a .partial.json is bare results
            if pname not in results:
                results[pname] = {**res, "runs": {k: list(v) for k, v in res["runs"].items()}}
                continue
            for strategy, runs in res["runs"].items():
                results[pname]["runs"].setdefault(strategy, []).extend(runs)
        parts.append(
            {
                "file": path.name,
                "settings": doc.get("settings", {}),
                "machine": doc.get("machine", machine_info()),
                "memory": doc.get("memory"),
                "when": doc.get("when", ""),
            }
        )
    steps = min(len(next(iter(r["runs"].values()))[0]["recall"]) - 1 for r in results.values())
    suffix = f"_{tag}" if tag else ""
    memory = next((p["memory"] for p in parts if p["memory"]), None)
    if memory is None and measure_memory:
        memory = _memory_subprocess()
    path = write_result(
        out / f"replay{suffix}.json",
        "replay",
        results,
        parts=parts,
        memory=memory,
        settings=parts[0]["settings"],
    )
    table = summary_table(results, steps)
    (out / f"replay{suffix}.md").write_text(table + "\n")
    plot(results, out / f"replay{suffix}.png")
    print(table)
    print(f"wrote {path}")
    return 0


def _config_from(spec: str) -> DKLConfig:
    config = DKLConfig()
    fields = config.__dataclass_fields__
    overrides: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown DKLConfig field {key!r}")
        current = getattr(config, key)
        if isinstance(current, tuple):
            overrides[key] = tuple(int(v) for v in value.split("x") if v)
        elif isinstance(current, bool):
            overrides[key] = value.lower() in ("1", "true", "yes")
        elif isinstance(current, int):
            overrides[key] = int(value)
        elif isinstance(current, float) or current is None:
            overrides[key] = None if value.lower() == "none" else float(value)
        else:
            overrides[key] = value
    return replace(config, **overrides)


def _memory_subprocess() -> dict[str, Any]:
    """Run the memory check in a fresh process, so its peak RSS is the ranking's own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-check", "--threads", "1"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        return {"error": done.stderr[-2000:]}


def _mean_at(runs: list[dict[str, list[float]]], key: str, step: int) -> tuple[float, float]:
    vals = [r[key][min(step, len(r[key]) - 1)] for r in runs]
    return float(np.mean(vals)), float(np.std(vals))


def _at_measurements(run: dict[str, list[float]], key: str, n: float) -> float:
    """Value of ``key`` at the last step with at most ``n`` measurements."""
    counts = np.asarray(run["n_measured"])
    i = int(np.searchsorted(counts, n, side="right") - 1)
    return float(run[key][max(i, 0)])


def _step_s(rs: list[dict[str, list[float]]]) -> float:
    return float(np.mean([np.mean(np.add(r["update_s"][1:], r["rank_s"][1:])) for r in rs]))


def _cpu_s(rs: list[dict[str, list[float]]]) -> float:
    return float(np.mean([np.mean(r.get("cpu_s", [0.0, 0.0])[1:]) for r in rs]))


def summary_table(results: dict[str, Any], steps: int) -> str:
    lines = []
    for pname, res in results.items():
        runs = res["runs"]
        n_equal = min(r[0]["n_measured"][-1] for r in runs.values())
        gpax = next((_step_s(rs) for s, rs in runs.items() if s.startswith("gpax")), None)
        gpax_cpu = next((_cpu_s(rs) for s, rs in runs.items() if s.startswith("gpax")), None)
        lines.append(f"\n**{pname}**: {res['description']}\n")
        lines.append(
            f"| strategy | recall top-1% @{steps} steps | best quantile @{steps} | "
            f"recall @{int(n_equal)} meas. | RMSE/std @{steps} | update s | rank s | "
            "CPU s/step | step vs gpax (wall, CPU) |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for s, rs in runs.items():
            rec, rec_sd = _mean_at(rs, "recall", steps)
            bq, bq_sd = _mean_at(rs, "best_quantile", steps)
            req = float(np.mean([_at_measurements(r, "recall", n_equal) for r in rs]))
            model = not s.startswith(("random", "raster"))
            rmse = float(np.nanmean([r["rmse"][-1] for r in rs])) if model else float("nan")
            upd = float(np.mean([np.mean(r["update_s"][1:]) for r in rs]))
            rnk = float(np.mean([np.mean(r["rank_s"][1:]) for r in rs]))
            cpu = _cpu_s(rs)
            ratio = "-"
            if gpax and gpax_cpu and model and _step_s(rs) > 0 and cpu > 0:
                ratio = f"{gpax / _step_s(rs):.0f}x, {gpax_cpu / cpu:.0f}x"
            lines.append(
                f"| {s} | {rec:.2f} ± {rec_sd:.2f} | {bq:.4f} ± {bq_sd:.4f} | {req:.2f} | "
                f"{f'{rmse:.2f}' if model else '-'} | {upd:.3f} | {rnk:.3f} | {cpu:.3f} | {ratio} |"
            )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4.5 * len(results), 7), squeeze=False)
    for col, (pname, res) in enumerate(results.items()):
        for s, rs in res["runs"].items():
            x = np.asarray(rs[0]["n_measured"])
            for row, key in enumerate(("recall", "best_quantile")):
                y = np.mean([r[key] for r in rs], axis=0)
                axes[row, col].plot(
                    x, y, label=s, lw=1.2, ls="--" if s in ("random", "raster") else "-"
                )
        axes[0, col].set_title(pname)
        axes[0, col].set_ylabel("recall of top-1% sites")
        axes[1, col].set_ylabel("best found (quantile of truth)")
        axes[1, col].set_xlabel("points measured")
        axes[1, col].set_xscale("log")
        axes[0, col].set_xscale("log")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
