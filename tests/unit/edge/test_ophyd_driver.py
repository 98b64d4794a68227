"""The ophyd driver against ophyd's simulated devices (``ophyd.sim``): the shared driver
contract, then what only this driver does."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ophyd")

from edge_agent.errors import AcquisitionStopped, ConfigError
from edge_agent.instruments import Instrument, make_instrument
from edge_agent.instruments.ophyd_driver import GridAxes, OphydMicroscope
from edge_agent.instruments.ophyd_sim import replay_devices
from edge_agent.instruments.procedural import procedural
from edge_agent.instruments.replay import ReplayMicroscope
from tests.conftest import wait_for

from .test_instruments import InstrumentContract


class TestOphydSimulatedLoops(InstrumentContract):
    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        dataset = procedural(size=24, seed=2, kind="loops")
        inst = OphydMicroscope(replay_devices(dataset))
        yield inst
        inst.close()


class TestOphydSimulatedPeaksScaledStage(InstrumentContract):
    """Motors in micrometres, 0.25 um per grid point, offset origin."""

    @pytest.fixture
    def instrument(self) -> Iterator[Instrument]:
        dataset = procedural(size=16, seed=1, kind="peaks")
        axes = GridAxes(origin=(-2.0, 5.0), step=(0.25, 0.25))
        inst = OphydMicroscope(replay_devices(dataset, axes=axes))
        yield inst
        inst.close()


def test_the_spectrum_is_the_replay_at_the_motor_position() -> None:
    dataset = procedural(size=16, seed=4, kind="loops")
    axes = GridAxes(origin=(1.0, -1.0), step=(0.5, 2.0))
    devices = replay_devices(dataset, axes=axes)
    inst = OphydMicroscope(devices)
    np.testing.assert_array_equal(inst.scan(), dataset.image)
    np.testing.assert_array_equal(inst.acquire(3, 7), dataset.spectrum(3, 7))
    assert (devices.row_motor.position, devices.col_motor.position) == (2.5, 13.0)
    np.testing.assert_array_equal(inst.spectral_axis, dataset.axis)


def test_stop_interrupts_a_detector_exposure() -> None:
    inst = OphydMicroscope(replay_devices(procedural(size=8, seed=0, kind="loops"),
                                          exposure_s=30.0))
    outcome: list[BaseException] = []

    def acquire() -> None:
        try:
            inst.acquire(2, 2)
        except AcquisitionStopped as exc:
            outcome.append(exc)

    worker = threading.Thread(target=acquire)
    worker.start()
    wait_for(lambda: inst.position == (2, 2), what="the motors to arrive")
    inst.stop()
    worker.join(5)
    assert outcome and "stopped" in str(outcome[0])


def test_spec_builds_simulated_devices_from_a_replay_file(tmp_path: Path) -> None:
    sample = make_instrument("sim:peaks?size=10&seed=7")
    assert isinstance(sample, ReplayMicroscope)
    path = sample.export_truth(tmp_path / "peaks.npz")
    inst = make_instrument(f"ophyd:sim?dataset={path}&step=0.5", dwell_s=0.0)
    assert inst.info.kind == "ophyd-sim" and inst.info.grid_shape == (10, 10)
    assert inst.info.axis_units == "eV"
    inst.scan()
    np.testing.assert_array_equal(inst.acquire(9, 4), sample.dataset.spectrum(9, 4))
    noisy = make_instrument(f"ophyd:sim?dataset={path}", noise=0.5, seed=1)
    noisy.scan()
    assert not np.allclose(noisy.acquire(9, 4), sample.dataset.spectrum(9, 4))


def test_spec_with_a_device_function_and_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = procedural(size=12, seed=3, kind="peaks")
    beamline = types.ModuleType("my_beamline")
    beamline.devices = lambda: replay_devices(dataset)  # type: ignore[attr-defined]
    beamline.wrong = lambda: "not devices"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "my_beamline", beamline)
    inst = make_instrument("ophyd:my_beamline:devices")
    assert inst.info.grid_shape == (12, 12) and inst.info.kind == "ophyd-sim"
    inst.scan()
    np.testing.assert_array_equal(inst.acquire(11, 0), dataset.spectrum(11, 0))
    with pytest.raises(ConfigError, match="not OphydDevices"):
        make_instrument("ophyd:my_beamline:wrong")
    with pytest.raises(ConfigError, match="has no function"):
        make_instrument("ophyd:my_beamline:missing")
    with pytest.raises(ConfigError, match="cannot import"):
        make_instrument("ophyd:no_such_module_here:devices")
    with pytest.raises(ConfigError, match="ophyd:sim or ophyd:MODULE:FUNCTION"):
        make_instrument("ophyd:my_beamline")


def test_a_camera_image_that_does_not_fit_the_grid_is_refused() -> None:
    devices = replay_devices(procedural(size=12, seed=3, kind="peaks"))
    devices.grid_shape = (5, 5)
    with pytest.raises(ConfigError, match="whole multiple of the grid"):
        OphydMicroscope(devices)
