"""Acquisition functions on a posterior's marginal mean and variance (``N`` each).

Each function returns ``N`` finite scores, higher = more worth measuring, whether the campaign
maximises or minimises its scalar (``maximize=False`` flips the sign of the mean internally).
``ei`` and ``pi`` return **natural logs** (log EI, log PI, as botorch's
``LogExpectedImprovement``): EI and PI underflow to 0 far from the incumbent, and a ranking of
zeros is a ranking by index. They are registered with :func:`acquisition` and looked up with
:func:`get_acquisition`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from planner_cluster.campaign.settings import ACQUISITION_NAMES, ACQUISITION_PARAMS
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

_FMAX = float(np.finfo(np.float64).max)
_Z_MAX = 1e150  # |z| beyond this would overflow z * z; clipping keeps log EI / log PI finite
_STD_FLOOR = 1e-12  # x exploration_scale: std of certain candidates in log EI / log PI
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(0.5 * math.pi)


@dataclass(frozen=True)
class AcquisitionSpec:
    """A registered acquisition function.

    Exploration parameters and their units (``scale`` is the ``exploration_scale`` given to
    :func:`evaluate`: the standard deviation of the observed values):

    - ``xi`` (ei, pi; default 0): the improvement over ``best_f`` required, in units of
      ``scale``. ``xi = 1`` asks for one standard deviation of the data above the incumbent.
    - ``beta`` (ucb; default 4, >= 0): ``UCB = sign * mean + sqrt(beta) * std``, so
      ``sqrt(beta)`` is the number of posterior standard deviations added; dimensionless.

    Attributes:
        name: registry key.
        fn: ``fn(mean N, std N, *, best_f, sign, scale, rng, **params) -> N`` (``sign`` is +1
            to maximise, -1 to minimise; ``std`` is the posterior standard deviation).
        params: default keyword parameters (the only ones callers may pass).
        needs_best_f: whether ``best_f`` (the incumbent to improve on) is required.
        stochastic: whether the scores are random draws (Thompson sampling).
        log_scale: whether the scores are natural logs of a positive quantity (ei, pi).
    """

    name: str
    fn: AcquisitionFn
    params: Mapping[str, Any] = field(default_factory=dict)
    needs_best_f: bool = False
    stochastic: bool = False
    log_scale: bool = False


ACQUISITIONS: dict[str, AcquisitionSpec] = {}


def acquisition(
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    needs_best_f: bool = False,
    stochastic: bool = False,
    log_scale: bool = False,
) -> Callable[[AcquisitionFn], AcquisitionFn]:
    """Register an acquisition function under ``name`` (see :class:`AcquisitionSpec`)."""

    def register(fn: AcquisitionFn) -> AcquisitionFn:
        if name in ACQUISITIONS:
            raise ValueError(f"acquisition {name!r} registered twice")
        ACQUISITIONS[name] = AcquisitionSpec(
            name, fn, dict(params or {}), needs_best_f, stochastic, log_scale
        )
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
    exploration_scale: float = 1.0,
    rng: np.random.Generator | None = None,
    **params: Any,
) -> FloatArray:
    """Scores (``N``, finite) of acquisition ``name`` at posterior ``mean`` and ``variance``
    (``N``); ``exploration_scale`` (> 0) is the standard deviation of the observed values, the
    unit of ``xi`` (see :class:`AcquisitionSpec`)."""
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
        raise AcquisitionError(name, "needs a finite best_f (the incumbent to improve on)")
    if not (np.isfinite(exploration_scale) and exploration_scale > 0):
        raise AcquisitionError(name, f"exploration_scale must be > 0, got {exploration_scale}")
    values = {**spec.params, **params}
    if not all(np.isfinite(float(v)) for v in values.values()):
        raise AcquisitionError(name, f"parameters must be finite, got {values}")
    std = np.sqrt(np.clip(var, 0.0, None))
    with np.errstate(over="ignore"):  # extreme means: clipped to the largest float below
        scores = spec.fn(
            mu,
            std,
            best_f=best_f,
            sign=1.0 if maximize else -1.0,
            scale=float(exploration_scale),
            rng=rng if rng is not None else np.random.default_rng(),
            **values,
        )
    return np.asarray(np.clip(scores, -_FMAX, _FMAX), dtype=np.float64)


def _z(
    mean: FloatArray, std: FloatArray, best_f: float, sign: float, xi: float, scale: float
) -> tuple[FloatArray, FloatArray]:
    """Standardised improvement ``z`` (``N``, clipped to +-1e150) and the std used (``N``).

    Certain candidates (std below ``1e-12 * scale``) get that floor instead of 0, so their
    log score stays finite and ordered by mean: about ``log u`` when ``u > 0`` (EI is ``u``),
    about ``-(u / floor)^2 / 2`` when ``u <= 0``, far below uncertain candidates of similar mean.
    """
    s = np.maximum(std, max(_STD_FLOOR * scale, np.finfo(np.float64).tiny))
    u = sign * (mean - best_f) - xi * scale
    return np.clip(u / s, -_Z_MAX, _Z_MAX), s


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _log_h(z: torch.Tensor) -> torch.Tensor:
    """``log(phi(z) + z Phi(z))`` (log EI at unit std), finite and smooth for finite ``z``.

    For ``z > -1`` the direct formula is accurate. Below, ``phi(z) + z Phi(z)`` cancels; it is
    ``phi(z) (1 - w)`` with ``w = |z| Phi(z) / phi(z) = |z| erfcx(-z / sqrt 2) sqrt(pi / 2)``,
    and beyond ``z = -1e6`` (where ``1 - w`` is lost to rounding) ``1 - w ~ 1 / z^2``.
    """
    upper = z.clamp_min(-1.0)
    log_upper = torch.log(
        torch.exp(-0.5 * upper * upper - _LOG_SQRT_2PI) + upper * torch.special.ndtr(upper)
    )
    lower = z.clamp_max(-1.0)
    mid = lower.clamp_min(-1e6)
    log_w = torch.log(-mid * torch.special.erfcx(-mid / math.sqrt(2.0))) + _LOG_SQRT_PI_2
    log_1mw = torch.where(lower > -1e6, _log1mexp(log_w), -2.0 * torch.log(-lower))
    log_lower = -0.5 * lower * lower - _LOG_SQRT_2PI + log_1mw
    return torch.where(z > -1.0, log_upper, log_lower)


@acquisition("ei", params={"xi": 0.0}, needs_best_f=True, log_scale=True)
def expected_improvement(
    mean: FloatArray,
    std: FloatArray,
    *,
    best_f: float,
    sign: float,
    scale: float,
    rng: Any,
    xi: float,
) -> FloatArray:
    """log EI = log(s h(u / s)), h(z) = phi(z) + z Phi(z), u = improvement - ``xi * scale``."""
    del rng
    z, s = _z(mean, std, best_f, sign, xi, scale)
    return np.asarray(_log_h(torch.from_numpy(z)).numpy() + np.log(s), dtype=np.float64)


@acquisition("pi", params={"xi": 0.0}, needs_best_f=True, log_scale=True)
def probability_of_improvement(
    mean: FloatArray,
    std: FloatArray,
    *,
    best_f: float,
    sign: float,
    scale: float,
    rng: Any,
    xi: float,
) -> FloatArray:
    """log PI = log Phi(u / s), u = improvement over ``best_f`` minus ``xi * scale``."""
    del rng
    z, _ = _z(mean, std, best_f, sign, xi, scale)
    return np.asarray(torch.special.log_ndtr(torch.from_numpy(z)).numpy(), dtype=np.float64)


@acquisition("ucb", params={"beta": 4.0})
def upper_confidence_bound(
    mean: FloatArray,
    std: FloatArray,
    *,
    best_f: float | None,
    sign: float,
    scale: float,
    rng: Any,
    beta: float,
) -> FloatArray:
    """UCB = sign * mean + sqrt(beta) * std (a lower confidence bound when minimising)."""
    del best_f, scale, rng
    if beta < 0:
        raise AcquisitionError("ucb", f"beta must be >= 0, got {beta}")
    return np.asarray(sign * mean + np.sqrt(beta) * std, dtype=np.float64)


@acquisition("max_variance")
def max_variance(
    mean: FloatArray, std: FloatArray, *, best_f: float | None, sign: float, scale: float, rng: Any
) -> FloatArray:
    """Posterior variance: pure exploration (maps the whole field)."""
    del mean, best_f, sign, scale, rng
    return np.asarray(std * std, dtype=np.float64)


@acquisition("thompson", stochastic=True)
def thompson(
    mean: FloatArray,
    std: FloatArray,
    *,
    best_f: float | None,
    sign: float,
    scale: float,
    rng: np.random.Generator,
) -> FloatArray:
    """One draw from the marginal posterior at each candidate (independent across candidates)."""
    del best_f, scale
    return np.asarray(sign * (mean + std * rng.standard_normal(mean.shape[0])), dtype=np.float64)


# The settings schema names the acquisitions and their parameters (torch-free); the registry
# must implement exactly those.
if set(ACQUISITIONS) != set(ACQUISITION_NAMES) or any(
        dict(spec.params) != ACQUISITION_PARAMS[name] for name, spec in ACQUISITIONS.items()):
    raise ImportError("acquisition registry and campaign settings disagree")
