"""Recompute a campaign's decisions offline, exactly as its campaign actor made them.

The actor (:mod:`planner_cluster.actors.campaign`) is deterministic given what it saw: the
campaign config, the structural scan, the spectral axis, the measurements in stream order,
*when* each plan was made (``n_observed``, from the ``plan`` events) and which operator
controls it applied before which plan (vetoes, acquisition and scalarizer changes; see
:mod:`planner_cluster.archive.steering`). This module drives the
same :class:`~planner_cluster.planning.PlanningCore` through the same sequence on the CPU
with one torch thread, as the actor does, and returns every version's predictions,
uncertainty, acquisition values and plan. The demo archives them; ``autopilot replay`` runs it
again and compares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from ..archive import ControlRecord, settings_record
from ..campaign import AcquisitionPolicy, CampaignSettings, DKLConfig
from ..candidates import CandidateSet
from ..planning import Decision, PlanningCore
from ..planning.scoring import score_spectra
from ..planning.vetoes import veto_points

__all__ = ["Recomputation", "VersionResult", "recompute", "score", "settings_from_record",
           "settings_record", "single_torch_thread", "software_versions"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class VersionResult:
    """One model version, as recomputed.

    Attributes:
        version: the model version (1 for the first fit).
        n_train: measurements it was trained on (the first ``n_train`` in stream order).
        points: ``q x 2`` its plan, best first; ``scores``: their acquisition values (``q``).
        mean / variance: ``N`` posterior at every candidate.
        acquisition: ``N`` acquisition values at every candidate (before batch selection).
        loss: final training loss; ``best``: best scalar observed so far.
        fit_s / rank_s: how long this recomputation took for it.
    """

    version: int
    n_train: int
    points: IntArray
    scores: FloatArray
    mean: FloatArray
    variance: FloatArray
    acquisition: FloatArray
    loss: float
    best: float
    fit_s: float
    rank_s: float


@dataclass(frozen=True, eq=False)
class Recomputation:
    """Everything :func:`recompute` derived: candidates, scalars, seed plan, versions."""

    settings: CampaignSettings
    candidates: CandidateSet
    scalars: FloatArray
    seed_points: IntArray
    versions: list[VersionResult]
    #: every plan the core made, by model version, in order (points, scores): a version's
    #: first plan follows its fit, later ones are re-ranks (vetoes); version 0: seed plans
    plans: dict[int, list[tuple[IntArray, FloatArray]]] = field(default_factory=dict)

    def plans_of(self, version: int) -> list[tuple[IntArray, FloatArray]]:
        """Every plan of ``version`` (empty when it was never made)."""
        return self.plans.get(version, [])


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """Train with one torch thread (as the actor does) and restore the setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _known(kind: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    dropped = sorted(set(data) - names)
    if dropped:
        log.warning("archived %s settings %s no longer exist; ignored", kind.__name__, dropped)
    return {k: v for k, v in data.items() if k in names}


def settings_from_record(record: Mapping[str, Any]) -> CampaignSettings:
    """Inverse of :func:`settings_record`."""
    data = _known(CampaignSettings, record)
    model = _known(DKLConfig, data.get("model", {}))
    if "hidden" in model:
        model["hidden"] = tuple(model["hidden"])
    if model.get("patch_shape") is not None:
        model["patch_shape"] = tuple(model["patch_shape"])
    data["model"] = DKLConfig(**model)
    data["acquisition"] = AcquisitionPolicy(**_known(AcquisitionPolicy,
                                                     data.get("acquisition", {})))
    return CampaignSettings(**data)


def software_versions() -> dict[str, str]:
    """Versions of what the numbers depend on (recorded in archives, compared on replay)."""
    import platform

    import gpytorch
    import torch

    return {"python": platform.python_version(), "numpy": np.__version__,
            "torch": str(torch.__version__), "gpytorch": str(gpytorch.__version__)}


def score(settings: CampaignSettings, spectra: npt.NDArray[Any],
          axis: FloatArray | None) -> FloatArray:
    """The campaign scalarizer over ``m x n`` spectra, as the planning core applies it."""
    return score_spectra(settings.scalarizer, settings.scalarizer_params, spectra, axis)


def _result(d: Decision, best: float) -> VersionResult:
    assert d.mean is not None and d.variance is not None and d.values is not None
    return VersionResult(d.version, d.n_train, d.points.astype(np.int64),
                         d.scores.astype(np.float64), d.mean, d.variance, d.values, d.loss,
                         best, d.fit_s, d.rank_s)


class _Steering:
    """The controls the worker applied, replayed before the plan they took effect at."""

    def __init__(self, core: PlanningCore, config: Mapping[str, Any],
                 controls: Sequence[ControlRecord], vetoed: npt.NDArray[Any] | None) -> None:
        self.core = core
        self.config = dict(config)
        self.applied = sorted((c for c in controls if c.applied), key=lambda c: c.plan_index)
        grid = core.candidates.grid_shape
        steered = set().union(*(veto_points(c.args, grid) for c in self.applied
                                if c.action == "veto"))
        # vetoes with no applied control (older campaigns) count from the start
        self.vetoed = {(int(r), int(c)) for r, c in np.asarray(
            vetoed if vetoed is not None else np.zeros((0, 2)), np.int64).reshape(-1, 2)
            .tolist()} - steered

    def before_plan(self, index: int) -> npt.NDArray[np.int64] | None:
        """Apply the controls that took effect at plan ``index``; the points to exclude."""
        while self.applied and self.applied[0].plan_index <= index:
            control = self.applied.pop(0)
            if control.action == "veto":
                self.vetoed |= veto_points(control.args, self.core.candidates.grid_shape)
            elif control.changes:  # as the worker: the new config, resolved, then applied
                self.config.update(control.changes)
                new = CampaignSettings.from_config(self.config)
                if "scalarizer" in control.changes:
                    self.core.set_objective(new.scalarizer, new.scalarizer_params)
                if "acquisition" in control.changes:
                    self.core.set_policy(new.acquisition)
        return np.array(sorted(self.vetoed), np.int64).reshape(-1, 2) if self.vetoed else None


def recompute(config: Mapping[str, Any], image: npt.NDArray[Any], axis: FloatArray | None,
              coords: npt.NDArray[Any], spectra: npt.NDArray[Any],
              schedule: Sequence[tuple[int, int]], *, vetoed: npt.NDArray[Any] | None = None,
              controls: Sequence[ControlRecord] = (),
              on_version: Callable[[VersionResult], None] | None = None,
              settings: CampaignSettings | None = None) -> Recomputation:
    """Replay the actor's decisions through the same :class:`PlanningCore`.

    Args:
        config: the campaign config as it started (before any control changed it).
        image: the structural scan (``H x W`` or ``H x W x C``).
        axis: the spectral axis (``n``) or None.
        coords: ``m x 2`` measured grid points in stream order; ``spectra``: ``m x n``.
        schedule: ``(model_version, n_observed)`` of every plan the actor wrote, in order:
            the core had observed the first ``n_observed`` measurements when it planned.
        vetoed: ``k x 2`` vetoed points; those no applied control covers are excluded
            from every plan.
        controls: the campaign's controls; each one the worker applied is applied again
            before the plan it took effect at (``plan_index``).
        on_version: called after each recomputed model version (progress).
        settings: the resolved settings (from an archive); default: resolved from ``config``
            with the current code's defaults.
    """
    if settings is None:
        settings = CampaignSettings.from_config(config)
    core = PlanningCore(settings, image, axis, device="cpu")
    steering = _Steering(core, config, controls, vetoed)
    seeds = np.zeros((0, 2), np.int64)
    versions: dict[int, VersionResult] = {}
    plans: dict[int, list[tuple[IntArray, FloatArray]]] = {}
    observed = 0
    with single_torch_thread():
        for index, (version, n_observed) in enumerate(schedule):
            if n_observed > observed:
                core.observe(coords[observed:n_observed], spectra[observed:n_observed])
                observed = n_observed
            decision = core.plan(exclude=steering.before_plan(index))
            plans.setdefault(decision.version, []).append(
                (decision.points.astype(np.int64), decision.scores.astype(np.float64)))
            if decision.kind == "seed":
                seeds = seeds if len(seeds) else decision.points.astype(np.int64)
                continue
            if decision.version != version:
                log.warning("schedule says version %d, recomputation reached %d",
                            version, decision.version)
            if decision.version in versions:  # a re-rank of a model already recorded
                continue
            versions[decision.version] = _result(decision, core.best_value() or float("nan"))
            if on_version is not None:
                on_version(versions[decision.version])
    if observed < len(coords):
        core.observe(coords[observed:], spectra[observed:])
    return Recomputation(core.settings, core.candidates, core.scalars, seeds,
                         [versions[v] for v in sorted(versions)], plans)
