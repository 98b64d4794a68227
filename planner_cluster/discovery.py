"""Discovery curves: how fast a campaign finds the best sites, against random sampling.

Shared by the demo (:mod:`planner_cluster.demo.results`), its archive reader and the replay
benchmark, so "top-1% site" means one thing everywhere.

With a ground truth (every spectrum of the replayed data set, scored by the campaign's
scalarizer) the demo measures two things per step: the best value found so far, and how many
of the top-1% sites were measured. The random baseline samples the same candidates without
replacement with the same budget, averaged over several seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Discovery", "discovery", "random_baseline", "top_mask"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def top_mask(truth: npt.ArrayLike, fraction: float = 0.01) -> npt.NDArray[np.bool_]:
    """The top ``fraction`` of the sites with a finite true value (at least one; ties at the
    threshold included): the one definition of "top-1% sites" for the demo, its archive and
    the replay benchmark. Sites whose truth is NaN (an unscorable spectrum) are never top."""
    values = np.asarray(truth, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, dtype=bool)
    k = max(1, math.ceil(fraction * int(finite.sum())))
    threshold = np.sort(values[finite])[-k]
    return np.asarray(finite & (values >= threshold))


@dataclass(frozen=True, eq=False)
class Discovery:
    """Per step (``n`` measurements): best value so far and top sites found so far.

    For the random baseline, ``best`` and ``top`` are ``seeds x n``; for a campaign ``n``.
    """

    best: FloatArray
    top: FloatArray

    @property
    def mean_best(self) -> FloatArray:
        return self.best.mean(axis=0) if self.best.ndim == 2 else self.best

    @property
    def mean_top(self) -> FloatArray:
        return self.top.mean(axis=0) if self.top.ndim == 2 else self.top


def discovery(indices: IntArray, truth: FloatArray, top: npt.NDArray[np.bool_]) -> Discovery:
    """The curves of one campaign: ``indices`` are its measured candidates, in order."""
    if indices.size == 0:
        return Discovery(np.zeros(0), np.zeros(0))
    best = np.maximum.accumulate(truth[indices])
    seen = np.zeros(truth.size, dtype=bool)
    found = []
    for i in indices:
        seen[i] = True
        found.append(int((seen & top).sum()))
    return Discovery(best.astype(np.float64), np.asarray(found, dtype=np.float64))


def random_baseline(truth: FloatArray, top: npt.NDArray[np.bool_], steps: int, *,
                    seeds: int = 32, seed: int = 0) -> Discovery:
    """Random sampling without replacement, ``steps`` points, ``seeds`` runs."""
    steps = min(steps, truth.size)
    rng = np.random.default_rng(seed)
    best = np.empty((seeds, steps))
    found = np.empty((seeds, steps))
    for s in range(seeds):
        order = rng.permutation(truth.size)[:steps]
        best[s] = np.maximum.accumulate(truth[order])
        found[s] = np.cumsum(top[order])
    return Discovery(best, found)
