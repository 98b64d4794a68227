"""Replay benchmark: discovery at equal numbers of measurements, through the planning core.

Every strategy starts from the same initial points per seed and measures until the same total
budget (initial points included). ``core`` is exactly what a live campaign runs: a
:class:`~planner_cluster.planning.PlanningCore` with the campaign defaults (plus any
``--set`` overrides), measuring the top ``batch`` points of each plan. ``gpax`` is gpax 0.1.9
viDKL with its published recipe (z_dim 2, RBF, 100 SVI steps at lr 0.05, refit from scratch
every step, one point per step) on the same candidates, ranked by EI; ``random`` and
``raster`` need no model.

    .venv/bin/python benchmarks/replay.py --problem beps:loop_area --seeds 0-9 --out a.json
    .venv/bin/python benchmarks/replay.py --dataset my.h5 --scalarizer precomputed \\
        --init-points init.json --budget 60 --strategies core,gpax --out b.json
    .venv/bin/python benchmarks/replay.py --report a.json b.json     # table from runs

OUT.json lists every run as ``{"strategy", "seed", "batch", "measured": [[row, col], ...]}`` in
measurement order, with per-round timings; the table (median and interquartile range over
seeds) is computed from those lists, at the budget.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, write_result
from benchmarks.replay_problems import SUITE, Problem, ProblemSpec, load_problem
from benchmarks.replay_report import paired_table, report_table, target_table
from benchmarks.replay_strategies import STRATEGIES, Run

logger = logging.getLogger("replay")


def _seeds(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _overrides(items: list[str]) -> dict[str, Any]:
    """``--set model.lr=0.01 --set ensemble=3`` -> a nested campaign config."""
    config: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:  # numbers, booleans, lists, objects; anything else is a word (tanh, thompson)
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = config
        *path, leaf = key.split(".")
        for name in path:
            node = node.setdefault(name, {})
        node[leaf] = value
    return config


def _problems(args: argparse.Namespace) -> list[tuple[str, ProblemSpec]]:
    if args.dataset:
        name = Path(args.dataset).stem if args.dataset.endswith((".h5", ".hdf5")) \
            else args.dataset
        return [(name, ProblemSpec(args.dataset, args.scalarizer or "precomputed",
                                   json.loads(args.params), args.patch or 8))]
    names = list(SUITE) if args.problem == "all" else args.problem.split(",")
    return [(n, SUITE[n]) for n in names]


def run_problem(problem: Problem, args: argparse.Namespace, init_file: dict[str, Any] | None,
                on_run: Callable[[list[Run]], None]) -> list[Run]:
    overrides = _overrides(args.set)
    runs: list[Run] = []
    for seed in _seeds(args.seeds):
        init = None if init_file is None else np.asarray(init_file[str(seed)], np.int64)
        for name in args.strategies.split(","):
            t0 = time.perf_counter()
            run = STRATEGIES[name](problem, seed=seed, budget=args.budget, batch=args.batch,
                                   init=init, overrides=overrides)
            init = np.asarray(run.measured[: run.n_init], np.int64)  # shared by the rest
            runs.append(run)
            on_run(runs)
            found = problem.top[tuple(np.asarray(run.measured).T)].sum()
            logger.info("%s seed %d %-7s %d measured, %d/%d top sites, best %.4g (%.0f s)",
                        problem.name, seed, name, len(run.measured), found, problem.top.sum(),
                        np.nanmax(problem.truth[tuple(np.asarray(run.measured).T)]),
                        time.perf_counter() - t0)
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="beps:loop_area",
                    help="suite problem(s), comma separated, or 'all': " + ", ".join(SUITE))
    ap.add_argument("--dataset", default="", help="a data set name or a replay .h5 file")
    ap.add_argument("--scalarizer", default="", help="NAME or 'precomputed' (with --dataset)")
    ap.add_argument("--params", default="{}", help="scalarizer parameters as JSON")
    ap.add_argument("--patch", type=int, default=0, help="patch size (with --dataset)")
    ap.add_argument("--init-points", type=Path, default=None,
                    help='JSON {"seed": [[row, col], ...]} (or a folder of <problem>.json); '
                         "default: the core's seed plan")
    ap.add_argument("--budget", type=int, default=60, help="total measurements per run")
    ap.add_argument("--batch", type=int, default=None,
                    help="measurements per model update for 'core' (default: the campaign's)")
    ap.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    ap.add_argument("--strategies", default="core,random,raster",
                    help="comma list of " + ", ".join(STRATEGIES))
    ap.add_argument("--set", action="append", default=[],
                    help="campaign setting override for 'core', e.g. model.lr=0.02")
    ap.add_argument("--threads", type=int, default=1, help="torch / XLA threads")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--jax-cache", type=Path, default=None,
                    help="persistent JAX compilation cache for gpax (same picks; a gpax user "
                         "without one pays the compile at every step)")
    ap.add_argument("--out", type=Path, default=None, help="OUT.json")
    ap.add_argument("--paired", nargs=2, action="append", default=[], metavar=("A", "B"),
                    help="with --report: seed-by-seed table of strategy A vs B "
                         "(labels as in the tables, e.g. 'core q=1' gpax)")
    ap.add_argument("--report", nargs="*", default=None,
                    help="print the table of OUT files (with --out: also merge them there)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.report is not None:
        docs = [json.loads(Path(p).read_text()) for p in args.report]
        print(target_table(docs))
        print(report_table(docs))
        for a, b in args.paired:
            print(f"\nPaired by seed, {a} vs {b}:\n")
            print(paired_table(docs, a, b))
        if args.out:  # one file holding every run of the reports
            merged: dict[str, Any] = {}
            for doc in docs:
                for name, res in doc["results"].items():
                    merged.setdefault(name, {**res, "runs": []})["runs"] += res["runs"]
            write_result(args.out, "replay", merged, parts=[  # a merged file keeps its parts
                part for d in docs for part in d.get("parts") or [
                    {"settings": d.get("settings"), "machine": d.get("machine"),
                     "when": d.get("when")}]])
        return 0
    os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={args.threads > 1} "
                                       f"intra_op_parallelism_threads={args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    if args.jax_cache and "gpax" in args.strategies:
        import jax

        jax.config.update("jax_compilation_cache_dir", str(args.jax_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    results: dict[str, Any] = {}
    started = time.perf_counter()
    for name, spec in _problems(args):
        problem = load_problem(name, spec, args.data_dir)
        logger.info("problem %s", problem.description)

        def save(runs: list[Run], name: str = name, problem: Problem = problem) -> None:
            results[name] = {
                "description": problem.description, "top_sites": int(problem.top.sum()),
                "points": int(problem.truth.size),
                "truth": np.where(np.isfinite(problem.truth), problem.truth, None).tolist(),
                "top": np.argwhere(problem.top).tolist(), "runs": [r.as_json() for r in runs]}
            if args.out:  # after every run: a long benchmark keeps what it finished
                write_result(args.out, "replay", results, settings=_settings(args, started))

        run_problem(problem, args, _init_points(args.init_points, name), save)
    doc = {"results": results}
    print(report_table([doc]))
    return 0


def _init_points(path: Path | None, problem: str) -> dict[str, Any] | None:
    """The initial points: a JSON file, or a folder of ``<problem>.json`` files."""
    if path is None:
        return None
    if path.is_dir():
        path = path / f"{problem.replace(':', '_')}.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _settings(args: argparse.Namespace, started: float) -> dict[str, Any]:
    return {"budget": args.budget, "batch": args.batch, "seeds": args.seeds,
            "strategies": args.strategies, "overrides": args.set, "threads": args.threads,
            "init_points": str(args.init_points or "core seed plan"),
            "wall_s": round(time.perf_counter() - started, 1), "command": " ".join(sys.argv),
            "machine": machine_info()}


if __name__ == "__main__":
    raise SystemExit(main())
