"""Following a running campaign through the state store: progress, plans, loop metrics.

:class:`CampaignWatch` is polled by the demo's display loop. Each poll reads the campaign
record, the new measurements and the new events; on a ``plan`` event it captures the plan and
the predictions the actor just wrote (keyed by model version), which is what the archive keeps
as the decisions the live system took. Loop latency is the time from the planner storing the
newest measurement a model was trained on to the plan from that model; microscope idle time is
the time between measurements not spent acquiring (planner clock, from the scan on).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..state import Event, PlanRecord, StateStore, StoredMeasurement

__all__ = ["CampaignWatch", "LoopMetrics", "idle_time", "loop_latencies"]

log = logging.getLogger(__name__)


@dataclass
class LoopMetrics:
    """What the progress display shows."""

    status: str = "waiting"
    measured: int = 0
    model_version: int = 0
    best: float | None = None
    latency_s: float | None = None
    idle_s: float = 0.0
    active_s: float = 0.0
    plans: int = 0

    @property
    def idle_fraction(self) -> float:
        return self.idle_s / self.active_s if self.active_s > 0 else 0.0


def idle_time(scan_time: float | None, received: npt.NDArray[np.float64],
              dwell: npt.NDArray[np.float64]) -> tuple[float, float]:
    """(idle seconds, elapsed seconds) from the scan to the last measurement: each gap between
    consecutive measurements minus the dwell of the later one counts as idle."""
    if received.size == 0:
        return 0.0, 0.0
    start = scan_time if scan_time is not None and scan_time <= received[0] else received[0]
    previous = np.concatenate([[start], received[:-1]])
    gaps = np.clip(received - previous - dwell, 0.0, None)
    return float(gaps.sum()), float(received[-1] - start)


def loop_latencies(schedule: list[tuple[int, int, float]],
                   received: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per model version: plan time minus the arrival of its newest training measurement.

    ``schedule`` holds ``(model_version, n_train, plan_time)``; seed plans are skipped."""
    out = [t - received[n - 1] for v, n, t in schedule if v > 0 and 0 < n <= received.size]
    return np.asarray(out, dtype=np.float64)


@dataclass
class CampaignWatch:
    """Polls one campaign; keeps what it saw."""

    store: StateStore
    campaign_id: str
    measurements: list[StoredMeasurement] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    plans: dict[int, PlanRecord] = field(default_factory=dict)
    predictions: dict[int, tuple[npt.NDArray[Any], npt.NDArray[Any]]] = field(
        default_factory=dict)
    metrics: LoopMetrics = field(default_factory=LoopMetrics)
    _event_cursor: str = "0-0"
    _measurement_cursor: str = "0-0"

    @property
    def scan_time(self) -> float | None:
        return next((e.time for e in self.events if e.kind == "scan"), None)

    def schedule(self) -> list[tuple[int, int, float]]:
        """``(model_version, n_train, time)`` of every plan the actor wrote, in order."""
        return [(int(e.data.get("model_version", 0)), int(e.data.get("n_train", 0)), e.time)
                for e in self.events if e.kind == "plan"]

    def poll(self) -> LoopMetrics:
        record = self.store.get_campaign(self.campaign_id)
        if record is None:
            return self.metrics
        new = self.store.read_measurements(self.campaign_id, self._measurement_cursor)
        if new:
            self._measurement_cursor = new[-1].stream_id
            self.measurements.extend(new)
        events = self.store.read_events(self._event_cursor, campaign_id=self.campaign_id,
                                        count=10_000)
        if events:
            self._event_cursor = events[-1].event_id
            self.events.extend(events)
        if any(e.kind == "plan" for e in events):
            self._capture()
        m = self.metrics
        m.status, m.measured, m.model_version = record.status, record.n_measured, \
            record.model_version
        plans = [e for e in self.events if e.kind == "plan"]
        m.plans = len(plans)
        bests = [e.data["best"] for e in plans if "best" in e.data]
        m.best = float(bests[-1]) if bests else None
        received = np.array([x.received for x in self.measurements], dtype=np.float64)
        dwell = np.array([x.dwell_s for x in self.measurements], dtype=np.float64)
        lat = loop_latencies(self.schedule(), received)
        m.latency_s = float(lat[-1]) if lat.size else None
        m.idle_s, m.active_s = idle_time(self.scan_time, received, dwell)
        return m

    def _capture(self) -> None:
        plan = self.store.get_plan(self.campaign_id)
        if plan is not None and plan.model_version not in self.plans:
            self.plans[plan.model_version] = plan
        pred = self.store.get_predictions(self.campaign_id)
        if pred is not None and pred[0] not in self.predictions:
            self.predictions[pred[0]] = (pred[1], pred[2])

    def planned_everything(self) -> bool:
        """Whether the newest plan's model saw every measurement."""
        schedule = self.schedule()
        return bool(schedule) and schedule[-1][1] >= len(self.measurements) > 0

    def wait_settled(self, actor_alive: Any, timeout_s: float = 30.0) -> None:
        """After the edge is done: wait until the actor planned on every measurement or is
        gone (``actor_alive()`` False), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if self.planned_everything() or not actor_alive():
                return
            time.sleep(0.05)
        log.warning("campaign %s: the actor did not plan on the last measurements within %g s",
                    self.campaign_id, timeout_s)
