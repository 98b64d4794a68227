"""Scalarizers on analytic inputs, outlier robustness, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from planner_cluster.errors import ScalarizerError
from planner_cluster.scalarizers import SCALARIZERS, get_scalarizer, scalarize


def triangle_sweep(v_max: float = 8.0, steps: int = 16) -> np.ndarray:
    """0 -> +V -> 0 -> -V -> 0 (last point excluded), like the BEPS waveform."""
    up = np.linspace(0.0, v_max, steps + 1)
    return np.concatenate([up[:-1], up[::-1][:-1], -up[:-1], -up[::-1][:-1]])


def square_loop(volts: np.ndarray, vc: float, height: float, imprint: float = 0.0) -> np.ndarray:
    """A rectangular hysteresis loop: switches up at +vc, down at -vc (shifted by imprint)."""
    rising = np.diff(np.concatenate([volts, volts[:1]])) > 0
    state = np.empty_like(volts)
    level = -1.0  # starts at 0 V on the lower branch
    for i, v in enumerate(volts):
        if rising[i] and v >= vc + imprint:
            level = 1.0
        if not rising[i] and v <= -vc + imprint:
            level = -1.0
        state[i] = level
    return height * state


def parallelogram_loop(volts: np.ndarray, vc: float, height: float, width: float) -> np.ndarray:
    """Linear switching ramps of bias-width ``width`` centred on +-vc: a parallelogram."""
    rising = np.diff(np.concatenate([volts, volts[:1]])) > 0
    up = np.clip((volts - vc) / width * 2, -1, 1)
    down = np.clip((volts + vc) / width * 2, -1, 1)
    return height * np.where(rising, up, down)


def test_registry_is_filled_by_decorators() -> None:
    for name in (
        "loop_area",
        "coercive_bias_positive",
        "coercive_bias_negative",
        "coercive_width",
        "nucleation_bias",
        "remanent_response",
        "band_integral",
        "peak_position",
        "band_ratio",
    ):
        assert name in SCALARIZERS
        assert get_scalarizer(name).units


def test_parallelogram_loop_area_is_exact() -> None:
    volts = triangle_sweep(8.0, 64)
    loop = parallelogram_loop(volts, vc=3.0, height=2.0, width=1.0)
    # base (2 vc) x height (2 h) for a parallelogram sheared along bias.
    area = scalarize("loop_area", loop, volts)
    np.testing.assert_allclose(area, [2 * 3.0 * 2 * 2.0], rtol=1e-9)


def test_coercive_biases_nucleation_and_remanence_of_a_loop() -> None:
    volts = triangle_sweep(8.0, 160)
    loop = parallelogram_loop(volts, vc=3.0, height=2.0, width=1.0)
    np.testing.assert_allclose(scalarize("coercive_bias_positive", loop, volts), [3.0], atol=1e-6)
    np.testing.assert_allclose(scalarize("coercive_bias_negative", loop, volts), [-3.0], atol=1e-6)
    np.testing.assert_allclose(scalarize("coercive_width", loop, volts), [6.0], atol=1e-6)
    # 10% of the 4.0 height = 0.4 above -2: ramp starts at 2.5 V, reaches it at 2.6 V.
    np.testing.assert_allclose(scalarize("nucleation_bias", loop, volts), [2.6], atol=0.06)
    np.testing.assert_allclose(scalarize("remanent_response", loop, volts), [2.0], atol=1e-9)


def test_loop_scalarizers_ignore_fit_outliers() -> None:
    rng = np.random.default_rng(0)
    volts = triangle_sweep(8.5, 16)
    clean = np.stack([square_loop(volts, vc, 1e-4) for vc in rng.uniform(1, 6, 50)])
    spiky = clean.copy()
    rows = rng.integers(0, 50, 40)
    cols = rng.integers(0, 64, 40)
    spiky[rows, cols] *= rng.choice([-1000.0, 1000.0], 40)
    for name in ("loop_area", "coercive_width", "remanent_response"):
        np.testing.assert_allclose(
            scalarize(name, spiky, volts), scalarize(name, clean, volts), rtol=0.2, atol=1e-9
        )


def test_gaussian_peak_position_band_integral_and_ratio() -> None:
    energy = np.linspace(400.0, 600.0, 401)
    peak = np.exp(-0.5 * ((energy - 456.13) / 3.0) ** 2)
    second = 0.5 * np.exp(-0.5 * ((energy - 532.0) / 4.0) ** 2)
    spectra = np.stack([peak + second, 2 * (peak + second)])
    pos = scalarize("peak_position", spectra, energy, lo=440.0, hi=470.0)
    np.testing.assert_allclose(pos, [456.13, 456.13], atol=1e-6)
    integral = scalarize("band_integral", spectra, energy, lo=430.0, hi=482.0)
    np.testing.assert_allclose(
        integral, [3.0 * np.sqrt(2 * np.pi), 6.0 * np.sqrt(2 * np.pi)], rtol=1e-4
    )
    ratio = scalarize("band_ratio", spectra, energy, lo=430.0, hi=482.0, lo2=500.0, hi2=564.0)
    np.testing.assert_allclose(ratio, [3.0 / (0.5 * 4.0)] * 2, rtol=1e-4)


def test_linear_background_is_removed() -> None:
    x = np.linspace(0.0, 10.0, 201)
    y = 2.0 + 0.3 * x + np.exp(-0.5 * ((x - 5.0) / 0.5) ** 2)
    out = scalarize("band_integral", y, x, lo=1.0, hi=9.0, background="linear")
    np.testing.assert_allclose(out, [0.5 * np.sqrt(2 * np.pi)], rtol=1e-3)


@pytest.mark.parametrize(
    ("spectra", "axis", "match"),
    [
        (np.array([[1.0, np.nan, 3.0]]), np.arange(3.0), "NaN"),
        (np.zeros((0, 3)), np.arange(3.0), "no spectra"),
        (np.zeros((2, 3)), np.arange(4.0), "does not match"),
        (np.zeros((2, 3, 4)), np.arange(4.0), "m x n"),
    ],
)
def test_bad_spectra_raise_scalarizer_error(
    spectra: np.ndarray, axis: np.ndarray, match: str
) -> None:
    with pytest.raises(ScalarizerError, match=match):
        scalarize("band_integral", spectra, axis, lo=0.0, hi=2.0)


def test_nan_rows_are_reported() -> None:
    spectra = np.ones((4, 8))
    spectra[2, 3] = np.nan
    with pytest.raises(ScalarizerError) as info:
        scalarize("loop_area", spectra, np.arange(8.0))
    assert info.value.rows == (2,)


def test_unknown_names_and_parameters() -> None:
    with pytest.raises(ScalarizerError, match="unknown scalarizer"):
        scalarize("nope", np.ones((1, 4)), np.arange(4.0))
    with pytest.raises(ScalarizerError, match="unknown parameter"):
        scalarize("loop_area", np.ones((1, 4)), np.arange(4.0), window=3)
    with pytest.raises(ScalarizerError, match="window"):
        scalarize("band_integral", np.ones((1, 4)), np.arange(4.0), lo=10.0, hi=20.0)
