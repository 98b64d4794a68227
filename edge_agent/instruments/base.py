"""Instrument capabilities as small ``typing.Protocol``s (bluesky-style), and what they report.

A driver implements the capabilities it has; the agent needs all of :class:`Instrument`.
Coordinates are spectroscopy-grid indices ``(row, col)``; the structural image may be finer
(``patch_scale`` image pixels per grid point along each axis).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edge_agent.errors import OutOfBoundsError


@dataclass(frozen=True)
class InstrumentInfo:
    """What an instrument reports about itself (sent in ``hello.instrument``).

    Attributes:
        name: driver spec it was made from, e.g. ``replay:beps``.
        kind: ``replay``, ``simulated`` or a vendor name.
        grid_shape: (rows, cols) of the spectroscopy grid = the field of view.
        image_shape: shape of the structural scan, ``H x W`` or ``H x W x C``.
        patch_scale: structural pixels per grid point along each axis.
        spectrum_length: values per spectrum.
        spectrum_dtype: numpy dtype string of a spectrum.
        dwell_s: time one spectrum takes.
        dose_per_point: dose one spectrum costs (arbitrary units), ``None`` if not reported.
        axis_name, axis_units, signal_units: what the spectral axis and values are.
        channels: names of the structural scan's channels.
        attribution: provenance of replayed data ("" for real hardware).
    """

    name: str
    kind: str
    grid_shape: tuple[int, int]
    image_shape: tuple[int, ...]
    patch_scale: int
    spectrum_length: int
    spectrum_dtype: str = "<f4"
    dwell_s: float = 0.0
    dose_per_point: float | None = None
    axis_name: str = ""
    axis_units: str = ""
    signal_units: str = ""
    channels: tuple[str, ...] = ()
    attribution: str = ""
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def spectrum_bytes(self) -> int:
        return self.spectrum_length * np.dtype(self.spectrum_dtype).itemsize

    def in_bounds(self, row: int, col: int) -> bool:
        return 0 <= row < self.grid_shape[0] and 0 <= col < self.grid_shape[1]

    def check_bounds(self, row: int, col: int) -> None:
        """Raise :class:`OutOfBoundsError` unless ``(row, col)`` is inside the field of view."""
        if not self.in_bounds(row, col):
            raise OutOfBoundsError(row, col, self.grid_shape)

    def describe(self) -> dict[str, Any]:
        """A msgpack-friendly map for ``hello.instrument`` (lists, no tuples, no None)."""
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        return {k: v for k, v in out.items() if v is not None}


@runtime_checkable
class Describes(Protocol):
    """Reports field of view, grid shape, limits, dwell time."""

    @property
    def info(self) -> InstrumentInfo: ...


@runtime_checkable
class Scans(Protocol):
    """Acquires the structural image of the whole field of view."""

    def scan(self) -> npt.NDArray[np.float32]:
        """``H x W`` or ``H x W x C`` image."""
        ...


@runtime_checkable
class MovesProbe(Protocol):
    """Positions the probe on a grid point (raises :class:`OutOfBoundsError` outside)."""

    def move_to(self, row: int, col: int) -> None: ...

    @property
    def position(self) -> tuple[int, int] | None: ...


@runtime_checkable
class AcquiresSpectrum(Protocol):
    """Measures one spectrum at a grid point (moves there first); blocks for the dwell time."""

    def acquire(self, row: int, col: int) -> npt.NDArray[np.float32]:
        """The raw spectrum, ``spectrum_length`` values.

        Raises:
            OutOfBoundsError: the point is outside the field of view (nothing is done).
            AcquisitionStopped: :meth:`Stoppable.stop` was called during the dwell.
        """
        ...


@runtime_checkable
class Stoppable(Protocol):
    """Stops any motion or acquisition now. Safe to call from another thread, any time."""

    def stop(self) -> None: ...


@runtime_checkable
class ReportsAxis(Protocol):
    """Knows its spectral axis (bias, energy loss, ...), sent in ``campaign_start``."""

    @property
    def spectral_axis(self) -> npt.NDArray[np.float64]: ...


@runtime_checkable
class Closeable(Protocol):
    def close(self) -> None: ...


class ReportingBase:
    """A base for drivers: what they report, served from fields. :attr:`info` is ``_info`` (set
    by the constructor), :attr:`spectral_axis` is ``_axis`` (a driver that computes its axis
    overrides the property), :attr:`position` is ``_position`` (set by ``move_to``; ``None``
    until the first move)."""

    _info: InstrumentInfo
    _axis: npt.NDArray[np.float64]
    _position: tuple[int, int] | None = None

    @property
    def info(self) -> InstrumentInfo:
        return self._info

    @property
    def spectral_axis(self) -> npt.NDArray[np.float64]:
        return self._axis

    @property
    def position(self) -> tuple[int, int] | None:
        return self._position


@runtime_checkable
class Instrument(Describes, Scans, MovesProbe, AcquiresSpectrum, Stoppable, Closeable,
                 Protocol):
    """Everything the agent needs from an instrument."""
