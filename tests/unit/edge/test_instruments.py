"""Contract tests shared by every instrument driver, then driver-specific behaviour."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import (
    AcquisitionStopped,
    ConfigError,
    InstrumentError,
    OutOfBoundsError,
    UnknownDriverError,
)
from edge_agent.instruments import Instrument, InstrumentInfo, make_instrument, parse_spec
from edge_agent.instruments.base import ReportsAxis
from edge_agent.instruments.replay import ReplayMicroscope
from tests.conftest import SHARED_DATA, wait_for

needs_data = pytest.mark.skipif(not (SHARED_DATA / "BEPS_PTO_50x50.h5").is_file(),
                                reason="real data folder absent")


class InstrumentContract:
    """Every driver must pass these. Subclasses provide the ``instrument`` fixture."""

    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        raise NotImplementedError

    def test_implements_every_capability(self, instrument: Instrument) -> None:
        assert isinstance(instrument, Instrument)
        assert isinstance(instrument.info, InstrumentInfo)

    def test_info_is_consistent(self, instrument: Instrument) -> None:
        info = instrument.info
        rows, cols = info.grid_shape
        assert rows > 0 and cols > 0 and info.spectrum_length > 0
        assert info.image_shape[0] == rows * info.patch_scale
        assert info.image_shape[1] == cols * info.patch_scale
        described = info.describe()
        assert described["grid_shape"] == [rows, cols]
        assert None not in described.values()

    def test_scan_first_gives_the_structural_image(self, instrument: Instrument) -> None:
        image = instrument.scan()
        assert image.shape == instrument.info.image_shape
        assert np.isfinite(image).all()

    def test_spectrum_at_every_corner(self, instrument: Instrument) -> None:
        instrument.scan()
        rows, cols = instrument.info.grid_shape
        for r, c in [(0, 0), (rows - 1, cols - 1), (0, cols - 1), (rows - 1, 0)]:
            spectrum = instrument.acquire(r, c)
            assert spectrum.shape == (instrument.info.spectrum_length,)
            assert spectrum.dtype.str == instrument.info.spectrum_dtype
            assert instrument.position == (r, c)

    @pytest.mark.parametrize("point", [(-1, 0), (0, -1), (10_000, 0), (0, 10_000)])
    def test_out_of_bounds_is_refused_clearly(self, instrument: Instrument,
                                              point: tuple[int, int]) -> None:
        instrument.scan()
        before = instrument.position
        with pytest.raises(OutOfBoundsError, match="outside the field of view") as info:
            instrument.acquire(*point)
        assert (info.value.row, info.value.col) == point
        assert isinstance(info.value, IndexError)
        assert instrument.position == before
        with pytest.raises(OutOfBoundsError):
            instrument.move_to(*point)

    def test_stop_is_safe_any_time(self, instrument: Instrument) -> None:
        instrument.stop()
        instrument.stop()


class TestReplayBeps(InstrumentContract):
    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        if not (SHARED_DATA / "BEPS_PTO_50x50.h5").is_file():
            pytest.skip("real data folder absent")
        inst = make_instrument("replay:beps", dwell_s=0.0)
        yield inst
        inst.close()


class TestReplaySts(InstrumentContract):
    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        if not (SHARED_DATA / "STS_grid_lockin.3ds").is_file():
            pytest.skip("real data folder absent")
        inst = make_instrument("replay:sts", dwell_s=0.0)
        yield inst
        inst.close()


class TestSimulatedLoops(InstrumentContract):
    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        inst = make_instrument("sim:loops?size=32&seed=3", dwell_s=0.0)
        yield inst
        inst.close()


class TestSimulatedPeaks(InstrumentContract):
    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        inst = make_instrument("sim:particles?size=24", dwell_s=0.0, noise=0.1)
        yield inst
        inst.close()


# -- driver-specific -------------------------------------------------------------------------


def test_spec_parsing() -> None:
    assert parse_spec("sim:loops?size=64&noise=0.5&fast=true") == (
        "sim", "loops", {"size": 64, "noise": 0.5, "fast": True})
    assert parse_spec(r"replay:C:\data\run.npz") == ("replay", r"C:\data\run.npz", {})
    with pytest.raises(ConfigError, match="KIND:TARGET"):
        parse_spec("beps")


def test_unknown_driver_and_parameter_are_clear() -> None:
    with pytest.raises(UnknownDriverError, match="known: ophyd, replay, sim, twin"):
        make_instrument("vendor:x")
    with pytest.raises(ConfigError, match="takes no parameter"):
        make_instrument("sim:loops?size=16&colour=red")
    with pytest.raises(ConfigError, match="unknown sample"):
        make_instrument("sim:nothing?size=16")


def test_replay_refuses_spectra_before_the_scan() -> None:
    inst = make_instrument("sim:loops?size=16")
    with pytest.raises(InstrumentError, match="scan"):
        inst.acquire(0, 0)


def test_simulated_is_deterministic_and_noise_is_seeded() -> None:
    a = make_instrument("sim:loops?size=16&seed=5", noise=0.2)
    b = make_instrument("sim:loops?size=16&seed=5", noise=0.2)
    c = make_instrument("sim:loops?size=16&seed=6")
    for inst in (a, b, c):
        inst.scan()
    np.testing.assert_array_equal(a.scan(), b.scan())
    np.testing.assert_array_equal(a.acquire(3, 4), b.acquire(3, 4))
    assert not np.array_equal(a.scan(), c.scan())
    assert a.info.kind == "simulated"


def test_noise_changes_the_replayed_spectrum() -> None:
    exact = make_instrument("sim:loops?size=16")
    noisy = make_instrument("sim:loops?size=16", noise=0.5)
    exact.scan(), noisy.scan()
    assert not np.allclose(exact.acquire(2, 2), noisy.acquire(2, 2))


def test_stop_interrupts_a_dwell() -> None:
    inst = make_instrument("sim:loops?size=16", dwell_s=30.0)
    inst.scan()
    outcome: list[BaseException] = []

    def acquire() -> None:
        try:
            inst.acquire(1, 1)
        except AcquisitionStopped as exc:
            outcome.append(exc)

    worker = threading.Thread(target=acquire)
    worker.start()
    wait_for(lambda: inst.position == (1, 1), what="probe moved")
    inst.stop()
    worker.join(5)
    assert outcome and isinstance(outcome[0], AcquisitionStopped)


def test_export_truth_round_trips(tmp_path: Path) -> None:
    inst = make_instrument("sim:peaks?size=12&seed=2")
    assert isinstance(inst, ReplayMicroscope) and isinstance(inst, ReportsAxis)
    path = inst.export_truth(tmp_path / "truth.npz")
    with np.load(path, allow_pickle=False) as truth:
        np.testing.assert_array_equal(truth["spectra"], inst.dataset.spectra)
        np.testing.assert_array_equal(truth["axis"], inst.spectral_axis)
    again = make_instrument(f"replay:{path}")
    again.scan()
    np.testing.assert_array_equal(again.acquire(5, 6), inst.dataset.spectra[5, 6])
    assert again.info.axis_units == "eV"


@needs_data
def test_beps_replay_default_dwell_and_attribution() -> None:
    inst = make_instrument("replay:beps")
    assert inst.info.dwell_s == 0.5
    assert "pycroscopy" in inst.info.attribution
    assert inst.info.grid_shape == (50, 50) and inst.info.spectrum_length == 64


def test_missing_replay_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="not found"):
        make_instrument(f"replay:{tmp_path / 'nope.npz'}")
