"""Seed plans: space-filling points chosen before any model, from the scan alone.

Numpy only (no torch, no model), so the gateway can hand an edge the seed plan the moment its
scan is stored, while the campaign's worker starts; the worker's :class:`PlanningCore` draws
the same order from the same function, so its first plan continues the gateway's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from planner_cluster.campaign import CampaignSettings
from planner_cluster.candidates import CandidateSet, make_candidates

__all__ = ["seed_order", "seed_plan", "space_filling"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def space_filling(features: npt.NDArray[np.float32], k: int, rng: np.random.Generator,
                  measured: Sequence[int] = ()) -> IntArray:
    """``k`` space-filling rows of ``features`` (``n x d``), k-means++ style D^2 sampling.

    The first point is drawn uniformly; each next one with probability proportional to the
    squared feature distance to the nearest point chosen so far. ``measured`` rows count as
    chosen. Features are compared after per-feature standardisation.
    """
    if k < 1:
        return np.zeros(0, dtype=np.int64)
    std = np.maximum(features.std(axis=0), 1e-12)
    n = features.shape[0]
    chosen: list[int] = []
    nearest = np.full(n, np.inf)
    anchors = list(measured) or [int(rng.integers(n))]
    if not measured:
        chosen.append(anchors[0])
    for a in anchors:
        nearest = np.minimum(nearest, _sq_dist(features, std, a))
    while len(chosen) < min(k, n):
        weights = np.where(np.isfinite(nearest), nearest, 0.0)
        total = float(weights.sum())
        if total <= 0:
            pick = int(rng.choice(np.setdiff1d(np.arange(n), chosen)))
        else:
            pick = int(rng.choice(n, p=weights / total))
        chosen.append(pick)
        nearest = np.minimum(nearest, _sq_dist(features, std, pick))
    return np.asarray(chosen, dtype=np.int64)


def seed_order(candidates: CandidateSet, settings: CampaignSettings) -> IntArray:
    """The campaign's fixed seed order (candidate indices): ``max(seeds, plan_size)`` points,
    drawn with the campaign's seed, before anything is measured."""
    return space_filling(candidates.features, max(settings.seeds, settings.plan_size),
                         np.random.default_rng([settings.acquisition.seed, 7]))


def seed_plan(settings: CampaignSettings, image: npt.ArrayLike) -> IntArray:
    """The first plan of a campaign (``plan_size x 2`` grid points, in order), as its
    :class:`PlanningCore` makes it on ``image`` before any measurement."""
    candidates = make_candidates(image, patch=settings.patch, stride=settings.stride,
                                 scale=settings.patch_scale, normalize=settings.normalize)
    order = seed_order(candidates, settings)[: settings.plan_size]
    return candidates.coords[order].astype(np.int64)


def _sq_dist(feats: npt.NDArray[np.float32], std: npt.NDArray[np.float32], i: int) -> FloatArray:
    diff = (feats - feats[i]) / std
    return np.asarray(np.einsum("ij,ij->i", diff, diff), dtype=np.float64)
