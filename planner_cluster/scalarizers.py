"""Scalarizers: physics-informed rewards that turn raw spectra into one number each.

Every scalarizer takes ``spectra`` (``m x n``) and their ``axis`` (``n``) and returns ``m``
float64 values. They are registered with :func:`scalarizer`; look one up with
:func:`get_scalarizer` (never by attribute name) and apply it with :func:`scalarize`.

Robustness to fitting outliers (BEPS SHO fits put ~1% of points up to 1000x off the loop): the
hysteresis-loop scalarizers first apply a **per-spectrum outlier filter** (:func:`despike`): a
point outside Tukey's fences (``spike_k`` interquartile ranges beyond the quartiles) of its own
spectrum is replaced by interpolating its nearest inlier neighbours. The rule is per spectrum
on purpose: a spectrum's score never depends on which other spectra share its batch, so scores
do not drift as a campaign grows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from planner_cluster.errors import ScalarizerError

__all__ = [
    "SCALARIZERS",
    "ScalarizerSpec",
    "despike",
    "get_scalarizer",
    "scalarize",
    "scalarizer",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ScalarizerFn = Callable[..., FloatArray]


@dataclass(frozen=True)
class ScalarizerSpec:
    """A registered scalarizer.

    Attributes:
        name: registry key.
        fn: ``fn(spectra m x n, axis n, **params) -> m`` (inputs already validated, float64).
        units: units of the result, in words (``"axis x signal"`` style when derived).
        params: default keyword parameters; callers may override any of them, nothing else.
        doc: one-line description.
    """

    name: str
    fn: ScalarizerFn
    units: str
    params: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""


SCALARIZERS: dict[str, ScalarizerSpec] = {}


def scalarizer(
    name: str, *, units: str, params: Mapping[str, Any] | None = None
) -> Callable[[ScalarizerFn], ScalarizerFn]:
    """Register ``fn`` under ``name`` with its result units and default parameters."""

    def register(fn: ScalarizerFn) -> ScalarizerFn:
        if name in SCALARIZERS:
            raise ValueError(f"scalarizer {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        SCALARIZERS[name] = ScalarizerSpec(name, fn, units, dict(params or {}), doc)
        return fn

    return register


def get_scalarizer(name: str) -> ScalarizerSpec:
    """The registered scalarizer ``name``; :class:`ScalarizerError` lists the known ones."""
    try:
        return SCALARIZERS[name]
    except KeyError:
        known = ", ".join(sorted(SCALARIZERS))
        raise ScalarizerError(name, f"unknown scalarizer; known: {known}") from None


def scalarize(name: str, spectra: npt.ArrayLike, axis: npt.ArrayLike, **params: Any) -> FloatArray:
    """Score ``spectra`` (``m x n``, or one spectrum ``n``) on ``axis`` (``n``) -> ``m`` values.

    Raises:
        ScalarizerError: unknown name or parameter, empty or mismatched input, NaN or infinite
            values (the offending rows are listed), or a result that is not finite.
    """
    spec = get_scalarizer(name)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ScalarizerError(
            name, f"unknown parameter(s) {unknown}; allowed: {sorted(spec.params)}"
        )
    data, x = _validate(name, spectra, axis)
    merged = {**spec.params, **params}
    values = np.asarray(spec.fn(data, x, **merged), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ScalarizerError(name, "result is not finite", rows=tuple(int(i) for i in bad))
    return values


def _validate(
    name: str, spectra: npt.ArrayLike, axis: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    data = np.asarray(spectra, dtype=np.float64)
    x = np.asarray(axis, dtype=np.float64)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise ScalarizerError(name, f"spectra must be m x n, got shape {data.shape}")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ScalarizerError(name, f"no spectra to score (shape {data.shape})")
    if x.ndim != 1 or x.shape[0] != data.shape[1]:
        raise ScalarizerError(name, f"axis shape {x.shape} does not match spectra {data.shape}")
    if not np.all(np.isfinite(x)):
        raise ScalarizerError(name, "axis contains NaN or infinite values")
    bad = np.flatnonzero(~np.all(np.isfinite(data), axis=1))
    if bad.size:
        raise ScalarizerError(
            name, "spectra contain NaN or infinite values", rows=tuple(int(i) for i in bad)
        )
    return data, x


# ---------------------------------------------------------------- robust preprocessing


def despike(spectra: FloatArray, k: float = 3.0) -> FloatArray:
    """Replace fitting outliers in each spectrum of ``m x n`` by interpolating their neighbours.

    Per spectrum, a point is an outlier when it lies outside Tukey's fences
    ``[Q1 - k * IQR, Q3 + k * IQR]`` of that spectrum's own values (``k = 3``: "far out").
    Outliers are replaced by linear interpolation between the nearest inliers, cyclically (a
    sweep is a closed loop). Real SHO-fit failures come in runs of 1-5 points at switching
    events, which a running median cannot remove. ``k <= 0`` disables the filter.
    """
    if k <= 0 or spectra.shape[1] < 4:
        return spectra
    q1, q3 = np.percentile(spectra, [25.0, 75.0], axis=1, keepdims=True)
    iqr = q3 - q1
    bad = (spectra < q1 - k * iqr) | (spectra > q3 + k * iqr)
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size == 0:
        return spectra
    out = spectra.copy()
    n = spectra.shape[1]
    pos = np.arange(n, dtype=np.float64)
    for i in rows:
        good = ~bad[i]
        xp = pos[good]
        fp = spectra[i, good]
        # Periodic interpolation: wrap the inliers once on each side.
        xw = np.concatenate([xp - n, xp, xp + n])
        fw = np.concatenate([fp, fp, fp])
        out[i, bad[i]] = np.interp(pos[bad[i]], xw, fw)
    return out


def _branches(
    loop: FloatArray, axis: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Split a closed sweep into its rising and falling branches.

    Returns ``(v_up, r_up, v_down, r_down)``: ``v_up`` increases from min to max bias, ``v_down``
    decreases from max to min (the loop is closed through its first point). ``r_*`` are
    ``m x len(v_*)``.
    """
    start = int(np.argmin(axis))
    order = np.roll(np.arange(axis.size), -start)
    v = axis[order]
    r = loop[:, order]
    top = int(np.argmax(v))
    v_up, r_up = v[: top + 1], r[:, : top + 1]
    v_down = np.concatenate([v[top:], v[:1]])
    r_down = np.concatenate([r[:, top:], r[:, :1]], axis=1)
    return v_up, r_up, v_down, r_down


def _crossing(v: FloatArray, r: FloatArray, level: FloatArray) -> FloatArray:
    """Per row of ``r`` (``m x k``), the bias where ``r`` crosses ``level`` (``m``) most steeply."""
    d = r - level[:, None]
    sign_change = (d[:, :-1] * d[:, 1:]) <= 0
    jump = np.abs(np.diff(r, axis=1))
    score = np.where(sign_change, jump, -1.0)
    i = np.argmax(score, axis=1)
    rows = np.arange(r.shape[0])
    d0, d1 = d[rows, i], d[rows, i + 1]
    denom = d0 - d1
    frac = np.where(np.abs(denom) > 0, d0 / np.where(denom == 0, 1.0, denom), 0.5)
    out = v[i] + frac * (v[i + 1] - v[i])
    none = ~sign_change.any(axis=1)
    # No crossing: the loop never switches; report the end of the sweep it never reached.
    return np.asarray(np.where(none, v[-1], out), dtype=np.float64)


def _interp_rows(v: FloatArray, r: FloatArray, at: float) -> FloatArray:
    """Linear interpolation of each row of ``r`` (``m x k``) at bias ``at`` (``v`` monotonic)."""
    if v[0] > v[-1]:
        v, r = v[::-1], r[:, ::-1]
    j = int(np.clip(np.searchsorted(v, at), 1, v.size - 1))
    w = (at - v[j - 1]) / (v[j] - v[j - 1]) if v[j] != v[j - 1] else 0.0
    return np.asarray(r[:, j - 1] + w * (r[:, j] - r[:, j - 1]), dtype=np.float64)


# ---------------------------------------------------------------- hysteresis loops (BEPS)


@scalarizer("loop_area", units="bias x response", params={"spike_k": 3.0, "signed": False})
def loop_area(spectra: FloatArray, axis: FloatArray, *, spike_k: float, signed: bool) -> FloatArray:
    """Area enclosed by the loop (shoelace formula over the closed sweep)."""
    r = despike(spectra, spike_k)
    area = 0.5 * np.sum(axis * np.roll(r, -1, axis=1) - np.roll(axis, -1) * r, axis=1)
    return np.asarray(area if signed else np.abs(area), dtype=np.float64)


@scalarizer("coercive_bias", units="bias", params={"spike_k": 3.0, "branch": "rising"})
def coercive_bias(
    spectra: FloatArray, axis: FloatArray, *, spike_k: float, branch: str
) -> FloatArray:
    """Bias where a branch crosses the loop's mid level (``branch``: rising or falling)."""
    r = despike(spectra, spike_k)
    v_up, r_up, v_down, r_down = _branches(r, axis)
    mid = 0.5 * (r.max(axis=1) + r.min(axis=1))
    if branch == "rising":
        return _crossing(v_up, r_up, mid)
    if branch == "falling":
        return _crossing(v_down, r_down, mid)
    raise ScalarizerError("coercive_bias", f"branch must be 'rising' or 'falling', got {branch!r}")


@scalarizer("coercive_bias_positive", units="bias", params={"spike_k": 3.0})
def coercive_bias_positive(spectra: FloatArray, axis: FloatArray, *, spike_k: float) -> FloatArray:
    """Coercive bias on the rising branch (positive for a loop centred at zero)."""
    return coercive_bias(spectra, axis, spike_k=spike_k, branch="rising")


@scalarizer("coercive_bias_negative", units="bias", params={"spike_k": 3.0})
def coercive_bias_negative(spectra: FloatArray, axis: FloatArray, *, spike_k: float) -> FloatArray:
    """Coercive bias on the falling branch (negative for a loop centred at zero)."""
    return coercive_bias(spectra, axis, spike_k=spike_k, branch="falling")


@scalarizer("coercive_width", units="bias", params={"spike_k": 3.0})
def coercive_width(spectra: FloatArray, axis: FloatArray, *, spike_k: float) -> FloatArray:
    """Distance between the rising and falling coercive biases (loop opening along bias)."""
    up = coercive_bias(spectra, axis, spike_k=spike_k, branch="rising")
    down = coercive_bias(spectra, axis, spike_k=spike_k, branch="falling")
    return np.abs(up - down)


@scalarizer("nucleation_bias", units="bias", params={"spike_k": 3.0, "fraction": 0.1})
def nucleation_bias(
    spectra: FloatArray, axis: FloatArray, *, spike_k: float, fraction: float
) -> FloatArray:
    """Bias on the rising branch where the response first leaves its start by ``fraction``."""
    if not 0.0 < fraction < 1.0:
        raise ScalarizerError("nucleation_bias", f"fraction must be in (0, 1), got {fraction}")
    r = despike(spectra, spike_k)
    v_up, r_up, _, _ = _branches(r, axis)
    start = np.median(r_up[:, :3], axis=1)
    height = np.maximum(r.max(axis=1) - r.min(axis=1), 1e-300)
    moved = np.abs(r_up - start[:, None]) > fraction * height[:, None]
    first = np.where(moved.any(axis=1), np.argmax(moved, axis=1), v_up.size - 1)
    return np.asarray(v_up[first], dtype=np.float64)


@scalarizer("remanent_response", units="response", params={"spike_k": 3.0})
def remanent_response(spectra: FloatArray, axis: FloatArray, *, spike_k: float) -> FloatArray:
    """Half the vertical opening of the loop at zero bias: ``|r_falling(0) - r_rising(0)| / 2``."""
    r = despike(spectra, spike_k)
    v_up, r_up, v_down, r_down = _branches(r, axis)
    return 0.5 * np.abs(_interp_rows(v_down, r_down, 0.0) - _interp_rows(v_up, r_up, 0.0))


# ---------------------------------------------------------------- spectra (EELS, STS, ...)


def _window(name: str, axis: FloatArray, lo: float, hi: float) -> npt.NDArray[np.bool_]:
    if not lo < hi:
        raise ScalarizerError(name, f"window must have lo < hi, got [{lo}, {hi}]")
    inside = (axis >= lo) & (axis <= hi)
    if int(inside.sum()) < 2:
        raise ScalarizerError(name, f"window [{lo}, {hi}] holds fewer than 2 axis points")
    return inside


def _band(
    name: str, spectra: FloatArray, axis: FloatArray, lo: float, hi: float, background: str
) -> tuple[FloatArray, FloatArray]:
    """The window's axis (``k``) and its spectra (``m x k``), with an optional linear background
    through the window's end points removed."""
    inside = _window(name, axis, lo, hi)
    x, y = axis[inside], spectra[:, inside]
    if background == "linear":
        slope = (y[:, -1] - y[:, 0]) / (x[-1] - x[0])
        y = y - (y[:, :1] + slope[:, None] * (x - x[0]))
    elif background != "none":
        raise ScalarizerError(name, f"background must be 'none' or 'linear', got {background!r}")
    return x, y


@scalarizer(
    "band_integral", units="axis x signal", params={"lo": 0.0, "hi": 1.0, "background": "none"}
)
def band_integral(
    spectra: FloatArray, axis: FloatArray, *, lo: float, hi: float, background: str
) -> FloatArray:
    """Trapezoid integral of the signal over ``[lo, hi]`` on the axis."""
    x, y = _band("band_integral", spectra, axis, lo, hi, background)
    return np.asarray(np.trapezoid(y, x, axis=1), dtype=np.float64)


@scalarizer("peak_position", units="axis", params={"lo": 0.0, "hi": 1.0, "background": "none"})
def peak_position(
    spectra: FloatArray, axis: FloatArray, *, lo: float, hi: float, background: str
) -> FloatArray:
    """Position of the maximum in ``[lo, hi]``, refined by a parabola through log values
    (exact for a Gaussian peak) or through the values when they are not positive."""
    x, y = _band("peak_position", spectra, axis, lo, hi, background)
    rows = np.arange(y.shape[0])
    i = np.clip(np.argmax(y, axis=1), 1, x.size - 2)
    y0, y1, y2 = y[rows, i - 1], y[rows, i], y[rows, i + 1]
    positive = (y0 > 0) & (y1 > 0) & (y2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        l0, l1, l2 = (np.log(np.where(positive, v, 1.0)) for v in (y0, y1, y2))
    a0, a1, a2 = np.where(positive, l0, y0), np.where(positive, l1, y1), np.where(positive, l2, y2)
    denom = a0 - 2 * a1 + a2
    shift = np.where(denom < 0, 0.5 * (a0 - a2) / np.where(denom == 0, -1.0, denom), 0.0)
    shift = np.clip(shift, -0.5, 0.5)
    step = x[i + 1] - x[i]
    return np.asarray(x[i] + shift * step, dtype=np.float64)


@scalarizer(
    "band_ratio",
    units="ratio",
    params={"lo": 0.0, "hi": 1.0, "lo2": 1.0, "hi2": 2.0, "background": "none"},
)
def band_ratio(
    spectra: FloatArray,
    axis: FloatArray,
    *,
    lo: float,
    hi: float,
    lo2: float,
    hi2: float,
    background: str,
) -> FloatArray:
    """Ratio of the band integral over ``[lo, hi]`` to the one over ``[lo2, hi2]``."""
    x1, y1 = _band("band_ratio", spectra, axis, lo, hi, background)
    x2, y2 = _band("band_ratio", spectra, axis, lo2, hi2, background)
    num = np.trapezoid(y1, x1, axis=1)
    den = np.trapezoid(y2, x2, axis=1)
    tiny = 1e-12 * np.maximum(np.abs(num), 1e-300)
    zero = np.flatnonzero(np.abs(den) <= tiny)
    if zero.size:
        raise ScalarizerError(
            "band_ratio", "denominator band integrates to zero", rows=tuple(int(i) for i in zero)
        )
    return np.asarray(num / den, dtype=np.float64)


@scalarizer("value", units="signal")
def value(spectra: FloatArray, axis: FloatArray) -> FloatArray:
    """The measurement itself: for one-value 'spectra' (a point property measured directly, or
    a replay file's precomputed ``scalar``)."""
    if spectra.shape[1] != 1:
        raise ScalarizerError("value", f"needs one value per measurement, got {spectra.shape[1]}")
    return np.asarray(spectra[:, 0], dtype=np.float64)
