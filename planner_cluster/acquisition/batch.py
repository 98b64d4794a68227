"""Batch selection: q distinct, diverse, non-excluded candidates from one posterior.

Diversity, in order of preference:

- a posterior covariance given (``covariance_rows`` or ``covariance``): **kriging believer**,
  exact for a GP. The believed observation at each pick ``j`` (its own mean) leaves the means
  unchanged and shrinks every variance by ``c_j(x)^2 / (v_j + noise)`` (``c_j``: posterior
  covariance with ``j`` given the earlier picks): correlated candidates lose their appeal.
- else, with ``coords`` and ``q > 1``: **local penalisation**. Scores are multiplied by
  ``1 - exp(-d^2 / (2 r^2))`` around each pick (``d``: grid distance): log scores (ei, pi)
  get its log added, others are first shifted to be >= 0.
- else: the top ``q`` scores.

The believer runs exactly on a shortlist. Variances only shrink and every deterministic
acquisition is monotone in the std at a fixed mean (EI, UCB, variance rise with it; PI falls
where the mean already improves), so no candidate ever scores above the larger of its score now
and at zero variance (its *ceiling*). The picks run on the ``shortlist`` best candidates by
ceiling (then std, then tie-break key), with covariances over their rows only; if one left out
could have won a pick, the shortlist doubles and the picks are redone. Thompson draws and
travel penalties rank every eligible candidate at each pick.

Ties (within 1e-12, relative) go to the largest posterior std, then to random keys drawn from
``rng`` once per call: a uniform choice among the tied that does not depend on the shortlist.

Travel penalty (``travel_weight > 0``, needs ``coords``): each pick's scores are rescaled to
[0, 1] over the eligible candidates, then ``travel_weight * d / diagonal`` is subtracted, with
``d`` the distance from the current position (``position``, then each pick in turn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from planner_cluster.acquisition.functions import evaluate, get_acquisition
from planner_cluster.errors import AcquisitionError

__all__ = ["BatchSelection", "CovarianceFn", "RowsCovarianceFn", "select_batch"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: ``covariance(j) -> N``: posterior covariance of every candidate with candidate ``j``.
CovarianceFn = Callable[[int], FloatArray]
#: ``covariance_rows(rows m, k) -> m``: covariance of candidates ``rows`` with ``rows[k]``.
RowsCovarianceFn = Callable[[IntArray, int], FloatArray]
ScoreFn = Callable[[FloatArray, FloatArray], FloatArray]

_TIE = 1e-12
_MIN_SHORTLIST = 2048


@dataclass(frozen=True, eq=False)
class BatchSelection:
    """A ranked batch.

    Attributes:
        indices: ``q`` candidate indices, in the order they were picked (best first).
        scores: ``q`` acquisition values at pick time (after earlier picks' believer updates,
            before distance penalties; natural logs for ei and pi).
        acquisition: the acquisition's name.
    """

    indices: IntArray
    scores: FloatArray
    acquisition: str


def select_batch(
    mean: npt.ArrayLike,
    variance: npt.ArrayLike,
    *,
    q: int,
    acquisition: str = "ei",
    maximize: bool = True,
    best_f: float | None = None,
    exploration_scale: float = 1.0,
    exclude: Iterable[int] = (),
    coords: npt.ArrayLike | None = None,
    position: npt.ArrayLike | None = None,
    travel_weight: float = 0.0,
    covariance: CovarianceFn | None = None,
    covariance_rows: RowsCovarianceFn | None = None,
    noise: float = 0.0,
    shortlist: int | None = None,
    penalty_radius: float | None = None,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    **params: Any,
) -> BatchSelection:
    """Pick up to ``q`` distinct candidates not in ``exclude`` (measured or pending indices).

    Args:
        mean, variance: ``N`` posterior marginals.
        q: batch size; fewer are returned when fewer candidates are eligible.
        acquisition: registered acquisition name; ``params`` are its parameters (beta, xi).
        maximize: whether the campaign maximises its scalar.
        best_f: the incumbent EI and PI improve on (the learner passes the best posterior
            mean at a measured point: :meth:`ActiveLearner.incumbent`).
        exploration_scale: standard deviation of the observed values, the unit of ``xi``.
        exclude: candidate indices that must not be picked.
        coords: ``N x 2`` grid coordinates (local penalisation, travel).
        position: current probe position (grid units), for the travel penalty.
        travel_weight: travel penalty per field-of-view diagonal (0 disables).
        covariance: ``covariance(j) -> N`` posterior covariance with candidate ``j``.
        covariance_rows: ``covariance_rows(rows m, k) -> m`` posterior covariance of the
            candidates ``rows`` with candidate ``rows[k]``; lets the believer compute only the
            shortlist's rows (use instead of ``covariance``).
        noise: observation noise variance for the believer update.
        shortlist: believer shortlist size (default ``max(64 q, 2048)``); it grows until exact.
        penalty_radius: local penalisation radius (grid units); default 1/10 of the extent.
        rng, seed: randomness for stochastic acquisitions and ties (``rng`` wins).

    Raises:
        AcquisitionError: bad shapes or values, ``q < 1``, or no eligible candidate.
    """
    spec = get_acquisition(acquisition)
    mu = np.asarray(mean, dtype=np.float64).reshape(-1)
    var = np.asarray(variance, dtype=np.float64).reshape(-1)
    n = mu.shape[0]
    if q < 1:
        raise AcquisitionError(acquisition, f"q must be >= 1, got {q}")
    if var.shape[0] != n:
        raise AcquisitionError(acquisition, f"mean ({n}) and variance ({var.shape[0]}) differ")
    if covariance is not None and covariance_rows is not None:
        raise AcquisitionError(acquisition, "pass covariance or covariance_rows, not both")
    excluded = np.asarray(list(exclude), dtype=np.int64).reshape(-1)
    if excluded.size and (excluded.min() < 0 or excluded.max() >= n):
        raise AcquisitionError(acquisition, f"exclude holds indices outside [0, {n})")
    xy, diagonal = _grid(acquisition, coords, n)
    if travel_weight > 0 and xy is None:
        raise AcquisitionError(acquisition, "a travel penalty needs coords")
    rows = np.setdiff1d(np.arange(n, dtype=np.int64), excluded)  # eligible, sorted
    if rows.size == 0:
        raise AcquisitionError(acquisition, "no eligible candidate (measured, pending or excluded)")
    generator = rng if rng is not None else np.random.default_rng(seed)
    settings = {**params, "exploration_scale": exploration_scale}
    score = partial(
        evaluate, acquisition, maximize=maximize, best_f=best_f, rng=generator, **settings
    )
    picker = _Picker(  # positional: the field order of _Picker
        mu,
        var,
        score,
        q,
        covariance_rows
        if covariance is None
        else (lambda r, k: np.asarray(covariance(int(r[k])))[r]),
        noise,
        xy,
        None if position is None else np.asarray(position, dtype=np.float64).reshape(2),
        travel_weight / diagonal,
        penalty_radius if penalty_radius is not None else 0.1 * diagonal,
        spec.log_scale,
        generator.permutation(n),  # tie-break keys: a random choice among ties, by any subset
    )
    size = max(shortlist if shortlist is not None else max(64 * q, _MIN_SHORTLIST), q)
    if picker.believer is not None and travel_weight <= 0 and not spec.stochastic:
        picked, scores = _on_shortlist(picker, rows, size)
    else:
        picked, scores = picker.run(rows)
    return BatchSelection(indices=picked, scores=scores, acquisition=acquisition)


class _Outmatched(Exception):
    """A candidate outside the shortlist could have competed for a pick."""


@dataclass(frozen=True, eq=False)
class _Picker:
    """The fixed inputs of a run of picks (arrays over all ``N`` candidates)."""

    mu: FloatArray
    var: FloatArray
    score: ScoreFn
    q: int
    believer: RowsCovarianceFn | None
    noise: float
    xy: FloatArray | None
    position: FloatArray | None
    travel: float  # travel penalty per grid unit
    radius: float
    log_scale: bool
    keys: IntArray

    def run(self, rows: IntArray, rivals: _Rivals | None = None) -> tuple[IntArray, FloatArray]:
        """Up to ``q`` picks among ``rows`` (candidate indices): indices and scores; raises
        :class:`_Outmatched` once one of ``rivals`` (candidates left out) could have won a pick."""
        mu, var = self.mu[rows], self.var[rows].copy()
        xy = None if self.xy is None else self.xy[rows]
        here = self.position
        alive = np.ones(rows.size, dtype=bool)
        penalty = np.ones(rows.size)
        columns: list[FloatArray] = []
        picked: list[int] = []
        scores: list[float] = []
        for _ in range(min(self.q, rows.size)):
            raw = self.score(mu, var)
            rank = raw
            if self.believer is None and xy is not None and picked:  # local penalisation
                if self.log_scale:
                    rank = raw + np.log(np.maximum(penalty, np.finfo(np.float64).tiny))
                else:
                    rank = (raw - raw[alive].min() + 1e-12) * penalty
            if self.travel > 0 and xy is not None and here is not None:
                low, high = float(rank[alive].min()), float(rank[alive].max())
                scaled = (rank - low) / (high - low) if high > low else np.zeros_like(rank)
                rank = scaled - self.travel * np.hypot(*(xy - here).T)
            k, widest = _best(rank, np.sqrt(var), self.keys[rows], alive)
            if rivals is not None and rivals.could_win(rank[k], widest, self.keys[rows[k]]):
                raise _Outmatched
            picked.append(k)
            scores.append(float(raw[k]))
            alive[k] = False
            if xy is not None:
                here = xy[k]
            if self.believer is not None:
                var = self._believe(self.believer(rows, k), k, var, columns)
            elif xy is not None:
                d2 = ((xy - xy[k]) ** 2).sum(axis=1)
                penalty *= 1.0 - np.exp(-0.5 * d2 / max(self.radius, 1e-12) ** 2)
        return rows[picked], np.asarray(scores, dtype=np.float64)

    def _believe(
        self, column: FloatArray, k: int, var: FloatArray, columns: list[FloatArray]
    ) -> FloatArray:
        """Condition ``var`` on a believed observation at position ``k``; ``column`` is the
        model's posterior covariance with it, before any believed observation."""
        col = np.asarray(column, dtype=np.float64).reshape(-1).copy()
        if col.shape != var.shape:
            raise AcquisitionError("believer", f"covariance gave {col.shape}, expected {var.shape}")
        for prev in columns:  # covariance under the posterior already conditioned on earlier picks
            col -= prev * prev[k]
        denom = var[k] + self.noise
        if denom <= 0:
            return var
        col /= np.sqrt(denom)
        columns.append(col)
        return np.asarray(np.clip(var - col * col, 0.0, None), dtype=np.float64)


class _Rivals(NamedTuple):
    """Candidates left out of a shortlist: ceilings, initial stds and tie-break keys (``m``)."""

    ceiling: FloatArray
    std: FloatArray
    key: IntArray

    def could_win(self, top: float, widest: float, key: int) -> bool:
        """Whether one of them could have taken a pick won with score ``top`` and ``key``,
        ``widest`` being the largest std among the shortlist's near-ties (see :func:`_best`)."""
        near = self.ceiling >= top - _TIE * abs(top)
        c, s, k = self.ceiling[near], self.std[near], self.key[near]
        harmless = (c <= top) & ((s < widest * (1.0 - _TIE)) | ((s <= widest) & (k < key)))
        return not bool(harmless.all())


def _on_shortlist(picker: _Picker, rows: IntArray, size: int) -> tuple[IntArray, FloatArray]:
    """The believer's picks among ``rows``, run on a growing shortlist until provably exact."""
    mu, var = picker.mu[rows], picker.var[rows]
    ceiling = np.maximum(picker.score(mu, var), picker.score(mu, np.zeros_like(var)))
    std, keys = np.sqrt(np.clip(var, 0.0, None)), picker.keys[rows]
    order = np.lexsort((keys, std, ceiling))  # ascending: the best candidates last
    while size < rows.size:
        inside, out = order[-size:], order[:-size]
        try:
            return picker.run(np.sort(rows[inside]), _Rivals(ceiling[out], std[out], keys[out]))
        except _Outmatched:
            logger.debug("believer shortlist of %d candidates was not enough; doubling", size)
            size *= 2
    return picker.run(rows)


def _best(
    rank: FloatArray, std: FloatArray, keys: IntArray, alive: npt.NDArray[np.bool_]
) -> tuple[int, float]:
    """Position of the best alive ``rank``: among near-ties the largest std, then the largest
    key. Also returns the largest std among the near-ties."""
    live = np.flatnonzero(alive)
    top = float(rank[live].max())
    ties = live[rank[live] >= top - _TIE * abs(top)]
    widest = float(std[ties].max())
    ties = ties[std[ties] >= widest * (1.0 - _TIE)]
    return int(ties[np.argmax(keys[ties])]), widest


def _grid(name: str, coords: npt.ArrayLike | None, n: int) -> tuple[FloatArray | None, float]:
    if coords is None:
        return None, 1.0
    xy = np.asarray(coords, dtype=np.float64)
    if xy.shape != (n, 2):
        raise AcquisitionError(name, f"coords must be {n} x 2, got {xy.shape}")
    extent = xy.max(axis=0) - xy.min(axis=0)
    return xy, float(max(np.hypot(extent[0], extent[1]), 1.0))
