"""The demo's part of the campaign archive: every model version recomputed offline, as the
archive's ``/entry/models`` table (the format itself: :mod:`planner_cluster.archive`,
docs/archive.md)."""

from __future__ import annotations

import numpy as np

from ..archive import ModelTable
from .recompute import Recomputation

__all__ = ["model_table"]


def model_table(r: Recomputation) -> ModelTable:
    """Every recomputed version's maps and plan, stacked (plans padded with -1 / NaN)."""
    q = max((len(v.points) for v in r.versions), default=0)
    n = len(r.candidates)
    points = np.full((len(r.versions), q, 2), -1, np.int32)
    scores = np.full((len(r.versions), q), np.nan, np.float64)
    for i, v in enumerate(r.versions):
        points[i, :len(v.points)] = v.points
        scores[i, :len(v.scores)] = v.scores

    def stack(name: str) -> np.typing.NDArray[np.float32]:
        if not r.versions:
            return np.zeros((0, n), np.float32)
        return np.stack([getattr(v, name) for v in r.versions]).astype(np.float32)

    return ModelTable(np.array([v.version for v in r.versions], np.int64),
                      np.array([v.n_train for v in r.versions], np.int64), stack("mean"),
                      stack("variance"), stack("acquisition"), points, scores,
                      np.array([v.loss for v in r.versions]),
                      np.array([v.best for v in r.versions]), r.seed_points.astype(np.int32))
