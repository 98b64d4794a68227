"""The strategies the replay benchmark compares, each measuring one problem to a budget.

``core`` drives the planning core exactly as the campaign worker does (same settings, same
calls); the others are baselines measured in the same run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.replay_problems import Problem
from planner_cluster.acquisition import select_batch
from planner_cluster.campaign import CampaignSettings
from planner_cluster.planning import PlanningCore

IntArray = npt.NDArray[np.int64]


@dataclass
class Run:
    """One run: every measured grid point in order and what each model round cost."""

    strategy: str
    seed: int
    batch: int
    n_init: int
    measured: list[list[int]] = field(default_factory=list)
    variant: str = ""  # the campaign setting overrides, if any
    round_s: list[float] = field(default_factory=list)  # fit + rank, wall
    round_cpu_s: list[float] = field(default_factory=list)
    fit_s: list[float] = field(default_factory=list)  # of round_s: training ('core' only)
    refits: list[int] = field(default_factory=list)  # gpax: steps refitted after NaN output

    def as_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "seed": self.seed, "batch": self.batch,
                "variant": self.variant, "n_init": self.n_init, "measured": self.measured,
                "round_s": [round(x, 4) for x in self.round_s],
                "round_cpu_s": [round(x, 4) for x in self.round_cpu_s],
                "fit_s": [round(x, 4) for x in self.fit_s],
                **({"refits": self.refits} if self.refits else {})}


def campaign_settings(problem: Problem, seed: int, batch: int | None,
                      overrides: dict[str, Any]) -> CampaignSettings:
    """What a campaign on this problem would run with: the defaults, the problem's target
    and patch, the seed, and any overrides."""
    config: dict[str, Any] = {
        "scalarizer": {"name": problem.scalarizer, "params": problem.params},
        "patch": problem.patch, "patch_scale": problem.patch_scale, "seed": seed,
        **overrides}
    config["model"] = {"seed": seed, **overrides.get("model", {})}
    if batch is not None:
        config["batch"] = batch
    return CampaignSettings.from_config(config)


def _initial(problem: Problem, settings: CampaignSettings, init: IntArray | None) -> IntArray:
    """The given initial points, or the core's seed plan (what a campaign measures first)."""
    if init is not None:
        return init.reshape(-1, 2)
    core = PlanningCore(settings, problem.image, problem.axis)
    return core.plan().points[: settings.seeds].astype(np.int64)


def run_core(problem: Problem, *, seed: int, budget: int, batch: int | None,
             init: IntArray | None, overrides: dict[str, Any]) -> Run:
    settings = campaign_settings(problem, seed, batch, overrides)
    core = PlanningCore(settings, problem.image, problem.axis)
    first = _initial(problem, settings, init)
    run = Run("core", seed, settings.batch, len(first),
              variant=json.dumps(overrides, sort_keys=True) if overrides else "")

    def measure(points: IntArray) -> None:
        core.observe(points, problem.spectra[points[:, 0], points[:, 1]])
        run.measured += points.tolist()

    measure(first)
    while len(run.measured) < budget:
        c0, t0 = time.process_time(), time.perf_counter()
        decision = core.plan()
        take = 1 if decision.kind == "seed" else settings.batch
        if decision.kind == "model":
            run.round_s.append(time.perf_counter() - t0)
            run.round_cpu_s.append(time.process_time() - c0)
            run.fit_s.append(decision.fit_s)
        measure(decision.points[: min(take, budget - len(run.measured))].astype(np.int64))
    return run


def _fixed(name: str, problem: Problem, seed: int, budget: int, init: IntArray | None,
           order: Callable[[IntArray], IntArray]) -> Run:
    first = _initial(problem, campaign_settings(problem, seed, None, {}), init)
    run = Run(name, seed, 1, len(first), first.tolist())
    h, w = problem.grid_shape
    taken = set(map(tuple, first.tolist()))
    for flat in order(first):
        if len(run.measured) >= budget:
            break
        point = (int(flat) // w, int(flat) % w)
        if point not in taken:
            taken.add(point)
            run.measured.append(list(point))
    return run


def run_random(problem: Problem, *, seed: int, budget: int, batch: int | None,
               init: IntArray | None, overrides: dict[str, Any]) -> Run:
    h, w = problem.grid_shape
    rng = np.random.default_rng([seed, 10_000])
    return _fixed("random", problem, seed, budget, init, lambda _: rng.permutation(h * w))


def run_raster(problem: Problem, *, seed: int, budget: int, batch: int | None,
               init: IntArray | None, overrides: dict[str, Any]) -> Run:
    """An evenly spaced grid over the field, row by row, as many points as the budget."""
    h, w = problem.grid_shape

    def order(first: IntArray) -> IntArray:
        step = max(1, int(math.sqrt(h * w / max(budget - len(first), 1))))
        rows, cols = np.meshgrid(np.arange(step // 2, h, step), np.arange(step // 2, w, step),
                                 indexing="ij")
        grid = rows.ravel() * w + cols.ravel()
        return np.concatenate([grid, np.setdiff1d(np.arange(h * w), grid)])

    return _fixed("raster", problem, seed, budget, init, order)


_GPAX_ATTEMPTS = 3


def run_gpax(problem: Problem, *, seed: int, budget: int, batch: int | None,
             init: IntArray | None, overrides: dict[str, Any]) -> Run:
    """gpax viDKL, its published recipe, on the same candidates as the core, one point per
    step, ranked by EI over every unmeasured candidate."""
    import gpax  # type: ignore[import-untyped]  # the [bench] extra
    import jax.numpy as jnp

    settings = campaign_settings(problem, seed, None, {})
    core = PlanningCore(settings, problem.image, problem.axis)  # the same candidates
    cands = core.candidates
    feats = cands.features.astype(np.float64)
    x_all = (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-12)
    first = _initial(problem, settings, init)
    run = Run("gpax", seed, 1, len(first), first.tolist())
    measured = list(cands.index_of(first))
    truth = problem.truth.reshape(-1)[cands.flat_index()]
    while len(run.measured) < budget:
        c0, t0 = time.process_time(), time.perf_counter()
        scored = [i for i in measured if np.isfinite(truth[i])]
        y = truth[scored]
        y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
        for attempt in range(_GPAX_ATTEMPTS):
            key_fit, key_pred = gpax.utils.get_keys(seed * 1000 + len(measured)
                                                    + 100_000 * attempt)
            model = gpax.viDKL(x_all.shape[1], 2, "RBF")
            model.fit(key_fit, jnp.asarray(x_all[scored]), jnp.asarray((y - y_mean) / y_std),
                      num_steps=100, step_size=0.05, print_summary=False, progress_bar=False)
            if x_all.shape[0] > 1000:
                mean, var = model.predict_in_batches(key_pred, jnp.asarray(x_all),
                                                     batch_size=1000)
            else:  # gpax 0.1.9's split_in_batches fails with less than one full batch
                mean, var = model.predict(key_pred, jnp.asarray(x_all))
            if np.all(np.isfinite(mean)) and np.all(np.isfinite(var)):
                break
            # SVI at lr 0.05 sometimes diverges: refit with new keys, as a gpax user would
            run.refits.append(len(run.measured))
        sel = select_batch(np.asarray(mean, np.float64) * y_std + y_mean,
                           np.asarray(var, np.float64) * y_std**2, q=1, acquisition="ei",
                           best_f=float(y.max()), exclude=measured, seed=seed)
        run.round_s.append(time.perf_counter() - t0)
        run.round_cpu_s.append(time.process_time() - c0)
        pick = int(sel.indices[0])
        measured.append(pick)
        run.measured.append(cands.coords[pick].tolist())
    return run


STRATEGIES: dict[str, Callable[..., Run]] = {
    "core": run_core, "random": run_random, "raster": run_raster, "gpax": run_gpax}
