"""ophyd devices as an instrument: two motors place the probe, a detector reads a spectrum,
a camera takes the structural image.

Specs: ``ophyd:sim?dataset=beps`` plays a replay dataset through ``ophyd.sim`` devices
(:mod:`edge_agent.instruments.ophyd_sim`); ``ophyd:MODULE:FUNCTION`` calls ``FUNCTION()`` from
an importable module, which returns :class:`OphydDevices` for a real beamline or microscope.
ophyd is imported only by those two paths (``pip install 'microscope-autopilot[bluesky]'``);
this module itself needs nothing beyond numpy, so the registry can always load it.

The driver speaks ophyd's small protocols only: ``set(value) -> Status`` and ``stop()`` on the
motors, ``trigger() -> Status`` and ``read()`` on the detector and camera, ``describe()`` for
shapes. Each status is awaited in short slices so that :meth:`OphydMicroscope.stop` (from any
thread) interrupts the wait, as the capability contract asks.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.errors import AcquisitionStopped, ConfigError, InstrumentError
from edge_agent.instruments.base import InstrumentInfo, ReportingBase
from edge_agent.instruments.registry import driver


@dataclass(frozen=True)
class GridAxes:
    """Grid index <-> motor position, per axis: ``position = origin + index * step``.

    ``origin`` and ``step`` are (row axis, column axis), in the motors' units.
    """

    origin: tuple[float, float] = (0.0, 0.0)
    step: tuple[float, float] = (1.0, 1.0)

    def position(self, row: int, col: int) -> tuple[float, float]:
        return (self.origin[0] + row * self.step[0], self.origin[1] + col * self.step[1])

    def index(self, row_position: float, col_position: float) -> tuple[int, int]:
        """The nearest grid point to a motor position."""
        return (round((row_position - self.origin[0]) / self.step[0]),
                round((col_position - self.origin[1]) / self.step[1]))


@dataclass
class OphydDevices:
    """What the driver drives (ophyd objects are untyped, hence ``Any``).

    Attributes:
        row_motor, col_motor: positioners for the grid's rows and columns.
        detector: triggered and read for one spectrum; ``detector_field`` names its reading
            (default: the field named like the device, else the first one described).
        camera: triggered and read for the structural image (``camera_field`` likewise).
        grid_shape: (rows, cols) of the spectroscopy grid.
        axes: grid index <-> motor position.
        spectral_axis: the spectrum's axis values, if known.
        name, kind, attribution, axis_name, axis_units, signal_units: reported in ``info``.
    """

    row_motor: Any
    col_motor: Any
    detector: Any
    camera: Any
    grid_shape: tuple[int, int]
    axes: GridAxes = field(default_factory=GridAxes)
    spectral_axis: npt.NDArray[np.float64] | None = None
    detector_field: str | None = None
    camera_field: str | None = None
    name: str = "ophyd"
    kind: str = "ophyd"
    attribution: str = ""
    axis_name: str = ""
    axis_units: str = ""
    signal_units: str = ""


def _field(device: Any, chosen: str | None) -> tuple[str, list[int]]:
    """(reading key, shape) of the device field that carries the data."""
    described = device.describe()
    key = chosen or (device.name if device.name in described else next(iter(described)))
    if key not in described:
        raise ConfigError(f"{device.name} has no field {key!r}; it has {sorted(described)}",
                          field="instrument")
    return key, [int(n) for n in described[key].get("shape", [])]


class OphydMicroscope(ReportingBase):
    """Implements :class:`~edge_agent.instruments.base.Instrument` over :class:`OphydDevices`.

    Args:
        devices: the motors, detector and camera.
        dwell_s: reported dwell per spectrum (the detector's own exposure sets the real one).
        timeout_s: longest wait for one move, trigger or image.
    """

    def __init__(self, devices: OphydDevices, *, dwell_s: float = 0.0,
                 timeout_s: float = 60.0) -> None:
        self.devices = devices
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._spectrum_key, spectrum_shape = _field(devices.detector, devices.detector_field)
        self._image_key, image_shape = _field(devices.camera, devices.camera_field)
        if len(spectrum_shape) != 1:
            raise ConfigError(f"detector field {self._spectrum_key} has shape {spectrum_shape};"
                              " a spectrum is one-dimensional", field="instrument")
        rows, cols = devices.grid_shape
        scale = image_shape[0] // rows if len(image_shape) >= 2 else 0
        if scale < 1 or image_shape[0] != rows * scale or image_shape[1] != cols * scale:
            raise ConfigError(f"camera image {image_shape} is not a whole multiple of the grid "
                              f"{rows} x {cols}", field="instrument")
        self._info = InstrumentInfo(
            name=devices.name, kind=devices.kind, grid_shape=(rows, cols),
            image_shape=tuple(image_shape), patch_scale=scale,
            spectrum_length=spectrum_shape[0], spectrum_dtype=np.dtype(np.float32).str,
            dwell_s=float(dwell_s), axis_name=devices.axis_name, axis_units=devices.axis_units,
            signal_units=devices.signal_units, channels=(self._image_key,),
            attribution=devices.attribution)

    @property
    def spectral_axis(self) -> npt.NDArray[np.float64]:
        axis = self.devices.spectral_axis
        if axis is None:
            return np.arange(self._info.spectrum_length, dtype=np.float64)
        return np.asarray(axis, dtype=np.float64)

    def scan(self) -> npt.NDArray[np.float32]:
        return self._trigger_and_read(self.devices.camera, self._image_key, "the camera")

    def move_to(self, row: int, col: int) -> None:
        self._info.check_bounds(row, col)
        row_position, col_position = self.devices.axes.position(row, col)
        statuses = [self.devices.row_motor.set(row_position),
                    self.devices.col_motor.set(col_position)]
        for status in statuses:
            self._wait(status, f"the move to ({row}, {col})", row=row, col=col)
        self._position = (row, col)

    def acquire(self, row: int, col: int) -> npt.NDArray[np.float32]:
        self.move_to(row, col)
        spectrum = self._trigger_and_read(self.devices.detector, self._spectrum_key,
                                          f"the spectrum at ({row}, {col})", row=row, col=col)
        return spectrum.reshape(-1)

    def stop(self) -> None:
        self._stop.set()
        for device in (self.devices.row_motor, self.devices.col_motor, self.devices.detector):
            halt = getattr(device, "stop", None)
            if callable(halt):
                halt()

    def close(self) -> None:
        self.stop()

    def _trigger_and_read(self, device: Any, key: str, what: str,
                          **where: int) -> npt.NDArray[np.float32]:
        self._wait(device.trigger(), what, **where)
        return np.asarray(device.read()[key]["value"], dtype=np.float32)

    def _wait(self, status: Any, what: str, **where: int) -> None:
        """Wait for an ophyd status; :meth:`stop` ends the wait with AcquisitionStopped."""
        deadline = time.monotonic() + self.timeout_s
        while not status.done:
            if self._stop.wait(0.01):
                self._stop.clear()
                raise AcquisitionStopped(f"{what} was stopped", **where)
            if time.monotonic() > deadline:
                raise InstrumentError(f"{what} did not finish within {self.timeout_s:g} s",
                                      **where)
        if self._stop.is_set():
            self._stop.clear()
            raise AcquisitionStopped(f"{what} was stopped", **where)
        if not status.success:
            raise InstrumentError(f"{what} failed: {status.exception()}", **where)


def _devices_from(target: str) -> OphydDevices:
    module_name, _, function_name = target.partition(":")
    if not function_name:
        raise ConfigError(f"ophyd:{target}: expected ophyd:sim or ophyd:MODULE:FUNCTION",
                          field="instrument")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"ophyd:{target}: cannot import {module_name}: {exc}",
                          field="instrument") from exc
    devices = getattr(module, function_name, None)
    if not callable(devices):
        raise ConfigError(f"ophyd:{target}: {module_name} has no function {function_name}",
                          field="instrument")
    made = devices()
    if not isinstance(made, OphydDevices):
        raise ConfigError(f"ophyd:{target}: {function_name}() returned "
                          f"{type(made).__name__}, not OphydDevices", field="instrument")
    return made


@driver("ophyd", help="ophyd devices: ophyd:sim?dataset=beps or ophyd:MODULE:FUNCTION")
def make_ophyd(target: str, dataset: str = "beps", data_dir: str | None = None,
               step: float = 1.0, dwell_s: float | None = None, dwell: float | None = None,
               noise: float = 0.0, seed: int = 0, timeout: float = 60.0) -> OphydMicroscope:
    """ophyd driver factory. ``dataset``, ``data_dir``, ``step`` (motor units per grid point),
    ``noise`` and ``seed`` apply to ``ophyd:sim``; a device function configures itself."""
    chosen = float(dwell_s if dwell_s is not None else (dwell if dwell is not None else 0.0))
    if target == "sim":
        from edge_agent.instruments.ophyd_sim import replay_devices
        from edge_agent.instruments.replay import load_target

        devices = replay_devices(load_target(dataset, data_dir), axes=GridAxes(
            step=(step, step)), exposure_s=chosen, noise=noise, seed=seed)
    else:
        if noise:
            raise ConfigError("noise applies to ophyd:sim only", field="instrument")
        devices = _devices_from(target)
    return OphydMicroscope(devices, dwell_s=chosen, timeout_s=timeout)
