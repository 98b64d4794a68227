"""Acquisition functions on a posterior's marginal mean and variance (``N`` each).

Each function returns ``N`` scores, higher = more worth measuring, whether the campaign
maximises or minimises its scalar (``maximize=False`` flips the sign of the mean internally).
They are registered with :func:`acquisition` and looked up with :func:`get_acquisition`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from planner_cluster.errors import AcquisitionError

__all__ = [
    "ACQUISITIONS",
    "AcquisitionSpec",
    "acquisition",
    "evaluate",
    "get_acquisition",
]

FloatArray = npt.NDArray[np.float64]
AcquisitionFn = Callable[..., FloatArray]


@dataclass(frozen=True)
class AcquisitionSpec:
    """A registered acquisition function.

    Attributes:
        name: registry key.
        fn: ``fn(mean N, std N, *, best_f, sign, rng, **params) -> N`` (``sign`` is +1 to
            maximise, -1 to minimise; ``std`` is the posterior standard deviation).
        params: default keyword parameters (the only ones callers may pass).
        needs_best_f: whether ``best_f`` (the best value observed so far) is required.
        stochastic: whether the scores are random draws (Thompson sampling).
    """

    name: str
    fn: AcquisitionFn
    params: Mapping[str, Any] = field(default_factory=dict)
    needs_best_f: bool = False
    stochastic: bool = False


ACQUISITIONS: dict[str, AcquisitionSpec] = {}


def acquisition(
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    needs_best_f: bool = False,
    stochastic: bool = False,
) -> Callable[[AcquisitionFn], AcquisitionFn]:
    """Register an acquisition function under ``name``."""

    def register(fn: AcquisitionFn) -> AcquisitionFn:
        if name in ACQUISITIONS:
            raise ValueError(f"acquisition {name!r} registered twice")
        ACQUISITIONS[name] = AcquisitionSpec(name, fn, dict(params or {}), needs_best_f, stochastic)
        return fn

    return register


def get_acquisition(name: str) -> AcquisitionSpec:
    """The registered acquisition ``name``; :class:`AcquisitionError` lists the known ones."""
    try:
        return ACQUISITIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACQUISITIONS))
        raise AcquisitionError(name, f"unknown acquisition; known: {known}") from None


def evaluate(
    name: str,
    mean: npt.ArrayLike,
    variance: npt.ArrayLike,
    *,
    maximize: bool = True,
    best_f: float | None = None,
    rng: np.random.Generator | None = None,
    **params: Any,
) -> FloatArray:
    """Scores (``N``) of acquisition ``name`` at posterior ``mean`` and ``variance`` (``N``)."""
    spec = get_acquisition(name)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise AcquisitionError(
            name, f"unknown parameter(s) {unknown}; allowed: {sorted(spec.params)}"
        )
    mu = np.asarray(mean, dtype=np.float64).reshape(-1)
    var = np.asarray(variance, dtype=np.float64).reshape(-1)
    if mu.shape != var.shape:
        raise AcquisitionError(name, f"mean {mu.shape} and variance {var.shape} differ in shape")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(var))):
        raise AcquisitionError(name, "mean or variance contains NaN or infinite values")
    if spec.needs_best_f and (best_f is None or not np.isfinite(best_f)):
        raise AcquisitionError(name, "needs a finite best_f (the best value observed so far)")
    std = np.sqrt(np.clip(var, 0.0, None))
    return spec.fn(
        mu,
        std,
        best_f=best_f,
        sign=1.0 if maximize else -1.0,
        rng=rng if rng is not None else np.random.default_rng(),
        **{**spec.params, **params},
    )


def _ndtr(z: FloatArray) -> FloatArray:
    """Standard normal CDF, elementwise."""
    return np.asarray(torch.special.ndtr(torch.from_numpy(np.ascontiguousarray(z))).numpy())


def _improvement(mean: FloatArray, best_f: float, sign: float, xi: float) -> FloatArray:
    return np.asarray(sign * (mean - best_f) - xi, dtype=np.float64)


@acquisition("ei", params={"xi": 0.0}, needs_best_f=True)
def expected_improvement(
    mean: FloatArray, std: FloatArray, *, best_f: float, sign: float, rng: Any, xi: float
) -> FloatArray:
    """EI = u Phi(u / s) + s phi(u / s), u = improvement over ``best_f`` minus ``xi``."""
    del rng
    u = _improvement(mean, best_f, sign, xi)
    safe = np.where(std > 0, std, 1.0)
    z = u / safe
    ei = u * _ndtr(z) + std * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    return np.where(std > 0, np.maximum(ei, 0.0), np.maximum(u, 0.0))


@acquisition("pi", params={"xi": 0.0}, needs_best_f=True)
def probability_of_improvement(
    mean: FloatArray, std: FloatArray, *, best_f: float, sign: float, rng: Any, xi: float
) -> FloatArray:
    """PI = Phi(u / s), u = improvement over ``best_f`` minus ``xi``."""
    del rng
    u = _improvement(mean, best_f, sign, xi)
    safe = np.where(std > 0, std, 1.0)
    return np.where(std > 0, _ndtr(u / safe), (u > 0).astype(np.float64))


@acquisition("ucb", params={"beta": 4.0})
def upper_confidence_bound(
    mean: FloatArray, std: FloatArray, *, best_f: float | None, sign: float, rng: Any, beta: float
) -> FloatArray:
    """UCB = sign * mean + sqrt(beta) * std (a lower confidence bound when minimising)."""
    del best_f, rng
    return np.asarray(sign * mean + np.sqrt(beta) * std, dtype=np.float64)


@acquisition("max_variance")
def max_variance(
    mean: FloatArray, std: FloatArray, *, best_f: float | None, sign: float, rng: Any
) -> FloatArray:
    """Posterior variance: pure exploration (maps the whole field)."""
    del mean, best_f, sign, rng
    return np.asarray(std * std, dtype=np.float64)


@acquisition("thompson", stochastic=True)
def thompson(
    mean: FloatArray,
    std: FloatArray,
    *,
    best_f: float | None,
    sign: float,
    rng: np.random.Generator,
) -> FloatArray:
    """One draw from the marginal posterior at each candidate (independent across candidates)."""
    del best_f
    return np.asarray(sign * (mean + std * rng.standard_normal(mean.shape[0])), dtype=np.float64)
