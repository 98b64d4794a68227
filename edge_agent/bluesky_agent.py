"""The planner as a bluesky adaptive agent: a RunEngine asks it where to measure and tells it
what it measured.

::

    agent = PlannerAgent(config, image=camera_image, grid_shape=(50, 50), spectrum_length=64,
                         axes=GridAxes(step=(0.1, 0.1)))
    agent.start()
    RE(planner_plan(agent, sample_y, sample_x, [detector]))   # until the campaign ends
    result = agent.finish()

:class:`PlannerAgent` speaks the recommender interface of bluesky-adaptive (``tell(x, y)``,
``tell_many(xs, ys)``, ``ask(1)`` raising :class:`NoRecommendation` when there is nothing more
to measure) on one side, and runs an ordinary :class:`~edge_agent.agent.EdgeAgent` on the
other, so everything the edge does for a campaign (the durable spool, resends, reconnects,
operator controls, budgets) holds for a RunEngine-driven one too. The edge's instrument is a
:class:`ToldInstrument`: its ``acquire(row, col)`` publishes the point for ``ask`` and waits
for ``tell`` to hand over the spectrum. Points are motor positions, ``(row axis, column
axis)``, through :class:`~edge_agent.instruments.ophyd_driver.GridAxes`. bluesky is imported
only by :func:`planner_plan` (``pip install 'microscope-autopilot[bluesky]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.agent import EdgeAgent
from edge_agent.config import EdgeConfig
from edge_agent.errors import AcquisitionStopped, EdgeAgentError
from edge_agent.instruments.base import InstrumentInfo, ReportingBase
from edge_agent.instruments.ophyd_driver import GridAxes
from edge_agent.run_result import RunResult


class NoRecommendation(EdgeAgentError):
    """The campaign is over: the planner has no more points (bluesky-adaptive's name)."""


class TellError(EdgeAgentError, ValueError):
    """``tell`` named a point the agent did not ask for, or told nothing was asked."""


class AskTimeout(EdgeAgentError, TimeoutError):
    """No point to measure within the wait (the planner has not planned one yet)."""


class ToldInstrument(ReportingBase):
    """An instrument whose spectra come from ``tell``: the edge asks, the RunEngine measures.

    Args:
        info: what it reports (grid, image shape, spectrum length...).
        image: the structural image, returned by :meth:`scan`.
        spectral_axis: the spectrum's axis values, if known.
    """

    def __init__(self, info: InstrumentInfo, image: npt.NDArray[Any],
                 spectral_axis: npt.NDArray[Any] | None = None) -> None:
        self._info = info
        self._image = np.asarray(image, dtype=np.float32)
        self._axis = (np.arange(info.spectrum_length, dtype=np.float64) if spectral_axis is None
                      else np.asarray(spectral_axis, dtype=np.float64))
        self._changed = threading.Condition()
        self._wanted: tuple[int, int] | None = None
        self._spectrum: npt.NDArray[np.float32] | None = None
        self._stopped = False

    def scan(self) -> npt.NDArray[np.float32]:
        return self._image.copy()

    def move_to(self, row: int, col: int) -> None:
        self._info.check_bounds(row, col)
        self._position = (row, col)

    def acquire(self, row: int, col: int) -> npt.NDArray[np.float32]:
        """Publish ``(row, col)`` for :meth:`wanted` and wait until it is told."""
        self.move_to(row, col)
        with self._changed:
            self._wanted, self._spectrum, self._stopped = (row, col), None, False
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._spectrum is not None or self._stopped)
            spectrum, self._spectrum, self._wanted = self._spectrum, None, None
            if spectrum is None:
                raise AcquisitionStopped(f"acquisition at ({row}, {col}) stopped",
                                         row=row, col=col)
            return spectrum

    def wanted(self, timeout: float) -> tuple[int, int] | None:
        """The point the edge waits for, after up to ``timeout`` s (``None``: none yet)."""
        with self._changed:
            self._changed.wait_for(lambda: self._wanted is not None, timeout)
            return self._wanted

    def told(self, row: int, col: int, spectrum: npt.NDArray[Any]) -> None:
        with self._changed:
            if self._wanted != (row, col):
                raise TellError(f"told ({row}, {col}) but the agent asked for "
                                f"{self._wanted or 'nothing'}", row=row, col=col)
            values = np.asarray(spectrum, dtype=np.float32).reshape(-1)
            if values.size != self._info.spectrum_length:
                raise TellError(f"told {values.size} values at ({row}, {col}); a spectrum has "
                                f"{self._info.spectrum_length}", row=row, col=col)
            # Asked no more from now on: an ask right after this tell waits for the next point.
            self._spectrum, self._wanted = values, None
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def close(self) -> None:
        self.stop()


class PlannerAgent:
    """An edge agent fed by ``tell`` and read by ``ask``.

    Args:
        config: the edge configuration (planner, campaign, spool, budgets...).
        image: the structural image of the field of view (``H x W`` or ``H x W x C``).
        grid_shape: (rows, cols) of the spectroscopy grid; ``H`` and ``W`` are whole
            multiples of it.
        spectrum_length: values per spectrum.
        axes: grid index <-> motor position.
        spectral_axis, name, axis_name, axis_units, signal_units, dwell_s: reported to the
            planner.
        ask_timeout_s: how long :meth:`ask` waits for the planner's next point.
    """

    def __init__(self, config: EdgeConfig, *, image: npt.NDArray[Any],
                 grid_shape: tuple[int, int], spectrum_length: int,
                 axes: GridAxes | None = None, spectral_axis: npt.NDArray[Any] | None = None,
                 name: str = "bluesky", axis_name: str = "", axis_units: str = "",
                 signal_units: str = "", dwell_s: float = 0.0,
                 ask_timeout_s: float = 120.0) -> None:
        rows, cols = grid_shape
        shape = tuple(int(n) for n in np.shape(image))
        info = InstrumentInfo(
            name=name, kind="bluesky", grid_shape=(rows, cols), image_shape=shape,
            patch_scale=max(shape[0] // rows, 1), spectrum_length=spectrum_length,
            dwell_s=dwell_s, axis_name=axis_name, axis_units=axis_units,
            signal_units=signal_units)
        self.axes = axes or GridAxes()
        self.ask_timeout_s = ask_timeout_s
        self.instrument = ToldInstrument(info, image, spectral_axis)
        self.edge = EdgeAgent(config, instrument=self.instrument)
        self.result: RunResult | None = None
        self._thread = threading.Thread(target=self._run, name="planner-agent", daemon=True)

    @property
    def campaign(self) -> str:
        return self.edge.config.campaign

    def start(self) -> PlannerAgent:
        self._thread.start()
        return self

    def _run(self) -> None:
        self.result = self.edge.run()

    def ask(self, n: int = 1, tell_pending: bool = True) -> tuple[float, float]:
        """The next point to measure, as motor positions (row axis, column axis).

        Asking again before telling returns the same point. ``tell_pending`` is accepted for
        bluesky-adaptive's signature; the edge always tracks the pending point.

        Raises:
            NoRecommendation: the campaign is over (budget reached, stopped, failed).
            AskTimeout: the planner sent no point within ``ask_timeout_s``.
        """
        if n != 1:
            raise NotImplementedError("the edge measures one point at a time: ask(1)")
        deadline = threading.Event()
        timer = threading.Timer(self.ask_timeout_s, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                point = self.instrument.wanted(timeout=0.1)
                if point is not None:
                    return self.axes.position(*point)
                if not self._thread.is_alive():
                    raise NoRecommendation(f"campaign {self.campaign} is over: "
                                           f"{self.result.reason if self.result else ''}")
        finally:
            timer.cancel()
        raise AskTimeout(f"no point from the planner within {self.ask_timeout_s:g} s")

    def tell(self, x: Sequence[float], y: npt.NDArray[Any]) -> dict[str, Any]:
        """Hand over the spectrum ``y`` measured at motor positions ``x`` (row, col axes)."""
        row, col = self.axes.index(float(x[0]), float(x[1]))
        self.instrument.told(row, col, y)
        return {"campaign": self.campaign, "row": row, "col": col}

    def tell_many(self, xs: Sequence[Sequence[float]], ys: Sequence[npt.NDArray[Any]]) -> None:
        for x, y in zip(xs, ys, strict=True):
            self.tell(x, y)

    def finish(self, timeout: float = 120.0) -> RunResult:
        """Wait for the campaign to end on its own (a budget, the planner) and say how."""
        self._thread.join(timeout)
        if self.result is None:
            raise AskTimeout(f"campaign {self.campaign} still running after {timeout:g} s")
        return self.result

    def stop(self, timeout: float = 120.0) -> RunResult:
        """End the campaign now (a clean stop: what was measured is delivered)."""
        if self._thread.is_alive():
            # Stop the run first, then release a pending acquire (else the edge, still
            # running, would ask for the same point again).
            verdict = self.edge.submit("stop")
            while self._thread.is_alive() and not verdict.done():
                self._thread.join(0.05)
            if verdict.done() and verdict.result().accepted:
                self.instrument.stop()
        return self.finish(timeout)


def planner_plan(agent: PlannerAgent, row_motor: Any, col_motor: Any, detectors: Sequence[Any],
                 *, spectrum_key: str | None = None,
                 md: dict[str, Any] | None = None) -> Generator[Any, Any, str]:
    """A bluesky plan, one run: ask the planner, move, trigger and read, tell; until
    :class:`NoRecommendation`. The spectrum is the reading ``spectrum_key`` (default: the first
    detector's name). Returns the run's uid."""
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp

    key = spectrum_key or detectors[0].name
    motors = [row_motor, col_motor]

    def measure() -> Generator[Any, Any, None]:
        while True:
            try:
                row_position, col_position = agent.ask(1)
            except NoRecommendation:
                return
            yield from bps.mov(row_motor, row_position, col_motor, col_position)
            reading = yield from bps.trigger_and_read([*detectors, *motors])
            agent.tell((reading[row_motor.name]["value"], reading[col_motor.name]["value"]),
                       reading[key]["value"])

    uid = yield from bpp.run_wrapper(measure(), md={  # type: ignore[no-untyped-call]
        "plan_name": "planner_plan", "campaign": agent.campaign,
        "motors": [m.name for m in motors], **(md or {})})
    return str(uid)
