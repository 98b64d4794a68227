"""Recompute a campaign's decisions offline, exactly as its campaign actor made them.

The actor (:mod:`planner_cluster.actors.campaign`) is deterministic given what it saw: the
campaign config, the structural scan, the spectral axis, the measurements in stream order and
*when* each model version was trained (``n_train``, from the ``plan`` events). This module
drives an :class:`~planner_cluster.learner.ActiveLearner` through the same sequence (seed
plan, then for each version: observe the new measurements, warm-started fit, rank) on the
CPU with one torch thread, as the actor does, and returns every version's predictions,
uncertainty, acquisition values and plan. The demo archives them; ``autopilot replay`` runs it
again and compares.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..acquisition import evaluate, get_acquisition
from ..campaign_config import CampaignSettings
from ..candidates import CandidateSet, make_candidates
from ..learner import AcquisitionPolicy, ActiveLearner
from ..models import DKLConfig
from ..scalarizers import scalarize

__all__ = ["Recomputation", "VersionResult", "recompute", "settings_from_record",
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


def settings_record(settings: CampaignSettings) -> dict[str, Any]:
    """The fully resolved settings as JSON-ready data: with them a later version of the code,
    whose defaults may have changed, still trains the same model."""
    record: dict[str, Any] = json_ready(asdict(settings))
    return record


def json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


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


def _axis_for(axis: FloatArray | None, length: int) -> FloatArray:
    if axis is not None and axis.shape[0] == length:
        return axis
    return np.arange(length, dtype=np.float64)


def score(settings: CampaignSettings, spectra: npt.NDArray[Any],
          axis: FloatArray | None) -> FloatArray:
    """The campaign scalarizer over ``m x n`` spectra (as the actor applies it)."""
    batch = np.asarray(spectra, dtype=np.float64).reshape(len(spectra), -1)
    return scalarize(settings.scalarizer, batch, _axis_for(axis, batch.shape[1]),
                     **dict(settings.scalarizer_params or {}))


def recompute(config: Mapping[str, Any], image: npt.NDArray[Any], axis: FloatArray | None,
              coords: npt.NDArray[Any], spectra: npt.NDArray[Any],
              schedule: Sequence[tuple[int, int]], *, vetoed: npt.NDArray[Any] | None = None,
              on_version: Callable[[VersionResult], None] | None = None,
              settings: CampaignSettings | None = None) -> Recomputation:
    """Replay the actor's decisions.

    Args:
        config: the campaign config as the planner stored it.
        image: the structural scan (``H x W`` or ``H x W x C``).
        axis: the spectral axis (``n``) or None.
        coords: ``m x 2`` measured grid points in stream order; ``spectra``: ``m x n``.
        schedule: ``(model_version, n_train)`` of every plan the actor wrote, in order
            (version 0, ``n_train`` 0: a seed plan).
        vetoed: ``k x 2`` vetoed points (treated as pending for every version).
        on_version: called after each recomputed version (progress).
        settings: the resolved settings (from an archive); default: resolved from ``config``
            with the current code's defaults.
    """
    if settings is None:
        settings = CampaignSettings.from_config(config)
    settings = replace(settings, model=replace(settings.model, device="cpu"))
    candidates = make_candidates(image, patch=settings.patch, stride=settings.stride,
                                 scale=settings.patch_scale)
    pending = (candidates.index_of(np.asarray(vetoed)).tolist()
               if vetoed is not None and len(vetoed) else [])
    learner = ActiveLearner(candidates, model_config=settings.model,
                            policy=settings.acquisition)
    index = candidates.index_of(coords) if len(coords) else np.zeros(0, np.int64)
    scalars: list[float] = []
    seeds = np.zeros((0, 2), np.int64)
    versions: list[VersionResult] = []
    observed = 0
    spec = get_acquisition(settings.acquisition.name)
    with single_torch_thread():
        for version, n_train in schedule:
            if version == 0:
                # as the actor: a space-filling seed plan as long as a full plan
                seeds = candidates.coords[learner.seed_points(
                    max(settings.seeds, settings.plan_size, 1))]
                continue
            if n_train > observed:
                group = score(settings, spectra[observed:n_train], axis)
                learner.observe(index[observed:n_train].tolist(), group.tolist())
                scalars.extend(group.tolist())
                observed = n_train
            t0 = time.perf_counter()
            report = learner.update()
            fit_s = time.perf_counter() - t0
            ranked = learner.rank(q=settings.plan_size, pending=pending)
            pol = settings.acquisition
            rng = np.random.default_rng(pol.seed + ranked.model_version) if spec.stochastic \
                else None
            values = evaluate(pol.name, ranked.mean, ranked.variance, maximize=pol.maximize,
                              best_f=learner.best_value(), rng=rng, **dict(pol.params))
            result = VersionResult(
                ranked.model_version, n_train, ranked.coords.astype(np.int64),
                ranked.scores.astype(np.float64), ranked.mean, ranked.variance,
                np.asarray(values, np.float64), float(report.loss), learner.best_value(),
                fit_s, ranked.seconds)
            if result.version != version:
                log.warning("schedule says version %d, recomputation reached %d",
                            version, result.version)
            versions.append(result)
            if on_version is not None:
                on_version(result)
    if observed < len(coords):
        scalars.extend(score(settings, spectra[observed:], axis).tolist())
    return Recomputation(settings, candidates, np.asarray(scalars, np.float64), seeds, versions)
