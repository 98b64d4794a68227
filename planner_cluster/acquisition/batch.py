"""Batch selection: q distinct, diverse, non-excluded candidates from one posterior.

Diversity, in order of preference:

- ``covariance`` given (a GP posterior): **kriging believer**, exact for a GP. After each pick
  ``j`` the believed observation (its own mean) leaves every mean unchanged and shrinks every
  variance by ``c_j(x)^2 / (v_j + noise)``, where ``c_j`` is the posterior covariance with ``j``
  (itself updated by the earlier picks). Correlated candidates lose their appeal.
- else, with ``coords`` and ``q > 1``: **local penalisation**. Scores (shifted to be >= 0) are
  multiplied by ``1 - exp(-d^2 / (2 r^2))`` around each pick (``d``: grid distance).
- else: the top ``q`` scores.

Travel penalty (``travel_weight > 0``, needs ``coords``): each pick's scores are rescaled to
[0, 1] over the eligible candidates, then ``travel_weight * d / diagonal`` is subtracted, with
``d`` the distance from the current position (``position``, then each pick in turn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from planner_cluster.acquisition.functions import evaluate, get_acquisition
from planner_cluster.errors import AcquisitionError

__all__ = ["BatchSelection", "select_batch"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
CovarianceFn = Callable[[int], npt.NDArray[np.float64]]


@dataclass(frozen=True, eq=False)
class BatchSelection:
    """A ranked batch.

    Attributes:
        indices: ``q`` candidate indices, in the order they were picked (best first).
        scores: ``q`` acquisition values at pick time (after earlier picks' believer updates,
            before distance penalties).
        acquisition: the acquisition's name.
    """

    indices: npt.NDArray[np.int64]
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
    exclude: Iterable[int] = (),
    coords: npt.ArrayLike | None = None,
    position: npt.ArrayLike | None = None,
    travel_weight: float = 0.0,
    covariance: CovarianceFn | None = None,
    noise: float = 0.0,
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
        best_f: best value observed so far (EI, PI).
        exclude: candidate indices that must not be picked.
        coords: ``N x 2`` grid coordinates (local penalisation, travel).
        position: current probe position (grid units), for the travel penalty.
        travel_weight: travel penalty per field-of-view diagonal (0 disables).
        covariance: ``covariance(j) -> N`` posterior covariance with candidate ``j``.
        noise: observation noise variance for the believer update.
        penalty_radius: local penalisation radius (grid units); default 1/10 of the extent.
        rng, seed: randomness for stochastic acquisitions (``rng`` wins).

    Raises:
        AcquisitionError: bad shapes or values, ``q < 1``, or no eligible candidate.
    """
    spec = get_acquisition(acquisition)
    mu = np.asarray(mean, dtype=np.float64).reshape(-1)
    var = np.asarray(variance, dtype=np.float64).reshape(-1).copy()
    n = mu.shape[0]
    if q < 1:
        raise AcquisitionError(acquisition, f"q must be >= 1, got {q}")
    if var.shape[0] != n:
        raise AcquisitionError(acquisition, f"mean ({n}) and variance ({var.shape[0]}) differ")
    eligible = np.ones(n, dtype=bool)
    if isinstance(exclude, np.ndarray):
        excluded = exclude.astype(np.int64).reshape(-1)
    else:
        excluded = np.fromiter((int(i) for i in exclude), dtype=np.int64)
    if excluded.size:
        if excluded.min() < 0 or excluded.max() >= n:
            raise AcquisitionError(acquisition, f"exclude holds indices outside [0, {n})")
        eligible[excluded] = False
    xy = _coords(acquisition, coords, n)
    if travel_weight > 0 and xy is None:
        raise AcquisitionError(acquisition, "a travel penalty needs coords")
    available = int(eligible.sum())
    if available == 0:
        raise AcquisitionError(
            acquisition, "no eligible candidate (all measured, pending or excluded)"
        )
    generator = rng if rng is not None else np.random.default_rng(seed)
    diagonal = _diagonal(xy)
    radius = penalty_radius if penalty_radius is not None else 0.1 * diagonal
    here = None if position is None else np.asarray(position, dtype=np.float64).reshape(2)
    penalty = np.ones(n)
    picked: list[int] = []
    picked_scores: list[float] = []
    columns: list[FloatArray] = []
    for _ in range(min(q, available)):
        raw = evaluate(
            acquisition, mu, var, maximize=maximize, best_f=best_f, rng=generator, **params
        )
        rank = np.where(eligible, raw, -np.inf)
        if covariance is None and xy is not None and picked:
            rank = np.where(eligible, (raw - raw[eligible].min() + 1e-12) * penalty, -np.inf)
        if travel_weight > 0 and xy is not None and here is not None:
            rank = _travel(rank, eligible, xy, here, travel_weight, diagonal)
        j = int(np.argmax(rank))
        picked.append(j)
        picked_scores.append(float(raw[j]))
        eligible[j] = False
        if xy is not None:
            here = xy[j]
        if covariance is not None:
            var = _believe(covariance, j, var, columns, noise)
        elif xy is not None:
            d2 = ((xy - xy[j]) ** 2).sum(axis=1)
            penalty *= 1.0 - np.exp(-0.5 * d2 / max(radius, 1e-12) ** 2)
    if spec.stochastic:
        logger.debug("thompson batch %s", picked)
    return BatchSelection(
        indices=np.asarray(picked, dtype=np.int64),
        scores=np.asarray(picked_scores, dtype=np.float64),
        acquisition=acquisition,
    )


def _coords(name: str, coords: npt.ArrayLike | None, n: int) -> FloatArray | None:
    if coords is None:
        return None
    xy = np.asarray(coords, dtype=np.float64)
    if xy.shape != (n, 2):
        raise AcquisitionError(name, f"coords must be {n} x 2, got {xy.shape}")
    return xy


def _diagonal(xy: FloatArray | None) -> float:
    if xy is None:
        return 1.0
    extent = xy.max(axis=0) - xy.min(axis=0)
    return float(max(np.hypot(extent[0], extent[1]), 1.0))


def _travel(
    rank: FloatArray,
    eligible: npt.NDArray[np.bool_],
    xy: FloatArray,
    here: FloatArray,
    weight: float,
    diagonal: float,
) -> FloatArray:
    finite = rank[eligible]
    low, high = float(finite.min()), float(finite.max())
    scaled = (rank - low) / (high - low) if high > low else np.zeros_like(rank)
    dist = np.hypot(xy[:, 0] - here[0], xy[:, 1] - here[1])
    return np.where(eligible, scaled - weight * dist / diagonal, -np.inf)


def _believe(
    covariance: CovarianceFn, j: int, var: FloatArray, columns: list[FloatArray], noise: float
) -> FloatArray:
    """Condition the variances on a believed observation at ``j`` (rank-one GP update)."""
    col = np.asarray(covariance(j), dtype=np.float64).reshape(-1).copy()
    for prev in columns:  # covariance under the posterior already conditioned on earlier picks
        col -= prev * prev[j]
    denom = var[j] + noise
    if denom <= 0:
        return var
    col /= np.sqrt(denom)
    columns.append(col)
    return np.asarray(np.clip(var - col * col, 0.0, None), dtype=np.float64)
