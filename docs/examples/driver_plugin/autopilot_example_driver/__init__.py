"""An example edge driver: a made-up microscope with a peak that shifts across the sample.

A real driver talks to the vendor's SDK in the same five places: ``info`` (what the instrument
is), ``scan`` (the structural image), ``move_to`` / ``acquire`` (probe and spectrum), ``stop``
(from any thread: end the dwell now) and ``close``. The edge agent checks nothing else.
``ReportingBase`` serves ``info``, ``spectral_axis`` and ``position`` from the fields the
constructor and ``move_to`` set.

Spec: ``example:SAMPLE?size=24&journal=PATH`` (``SAMPLE`` is free text, reported back).
``journal``, if given, gets one line per command (scan, acquire, stop, close): how a facility
audits what the agent asked of its instrument.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge_agent.errors import AcquisitionStopped
from edge_agent.instruments import InstrumentInfo, ReportingBase

SPECTRUM_LENGTH = 64


class ExampleMicroscope(ReportingBase):
    """Implements :class:`edge_agent.instruments.Instrument` for a synthetic sample."""

    def __init__(self, sample: str, size: int, dwell_s: float, journal: Path | None) -> None:
        self._axis = np.linspace(-1.0, 1.0, SPECTRUM_LENGTH)
        rows, cols = np.mgrid[0:size, 0:size]
        self._centre = 0.5 * np.sin(rows / 4.0) * np.cos(cols / 5.0)  # where the peak sits
        self._info = InstrumentInfo(
            name=f"example:{sample}", kind="example", grid_shape=(size, size),
            image_shape=(size, size), patch_scale=1, spectrum_length=SPECTRUM_LENGTH,
            dwell_s=dwell_s, axis_name="energy", axis_units="a.u.", signal_units="counts",
            channels=("peak position",))
        self._stop = threading.Event()
        self._journal = journal

    def _note(self, line: str) -> None:
        if self._journal is not None:
            with self._journal.open("a", encoding="utf-8") as out:
                out.write(f"{time.time():.3f} {line}\n")

    def scan(self) -> npt.NDArray[np.float32]:
        self._note("scan")
        return self._centre.astype(np.float32)

    def move_to(self, row: int, col: int) -> None:
        self._info.check_bounds(row, col)  # refuses points outside the field of view
        self._position = (row, col)

    def acquire(self, row: int, col: int) -> npt.NDArray[np.float32]:
        self.move_to(row, col)
        self._note(f"acquire {row} {col}")
        if self._stop.wait(self._info.dwell_s):  # the dwell, cut short by stop()
            self._stop.clear()
            raise AcquisitionStopped(f"acquisition at ({row}, {col}) stopped")
        peak = np.exp(-((self._axis - self._centre[row, col]) / 0.1) ** 2)
        return (100.0 * peak).astype(np.float32)

    def stop(self) -> None:
        self._note("stop")
        self._stop.set()

    def close(self) -> None:
        self._note("close")
        self._stop.set()


def make_example(target: str, size: int = 24, dwell_s: float | None = None,
                 journal: str | None = None) -> ExampleMicroscope:
    """example microscope: example:SAMPLE?size=24&journal=PATH (a peak that shifts)."""
    if not 4 <= size <= 512:
        raise ValueError(f"size must be 4..512, got {size}")
    return ExampleMicroscope(target or "sample", int(size), float(dwell_s or 0.0),
                             Path(journal) if journal else None)
