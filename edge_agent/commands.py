"""Operator commands, wherever they come from (``autopilot edge ctl``, the planner or the
dashboard via ``control``, or :meth:`EdgeAgent.submit`), applied to the run state and the
point picker. Each answer is (accepted, detail); a refusal's detail says why.
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from edge_agent.control import ControlChannel
from edge_agent.errors import ControlError, StateTransitionError
from edge_agent.instruments.base import Stoppable
from edge_agent.selection import PointPicker
from edge_agent.state import RunState

log = logging.getLogger(__name__)

#: Actions the planner executes, not the edge (the edge refuses them with this reason).
PLANNER_ACTIONS = frozenset({"set_acquisition", "set_scalarizer", "set_exploration"})


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    detail: str
    forward: bool = False  # a local veto or added point the planner should hear about


class Commands:
    """Applies control actions for one campaign."""

    def __init__(self, campaign_id: str, state: RunState, picker: PointPicker,
                 channel: ControlChannel, instrument: Stoppable) -> None:
        self.campaign_id = campaign_id
        self.state = state
        self.picker = picker
        self.channel = channel
        self.instrument = instrument

    def apply(self, action: str, args: dict[str, Any], *, origin: str,
              user: str = "") -> Verdict:
        """Apply ``action``; ``origin`` is ``local`` or ``planner`` (only local vetoes and
        added points are forwarded to the planner)."""
        who = f"{origin}{f' ({user})' if user else ''}"
        try:
            verdict = self._apply(action, args, origin, who)
        except (ControlError, StateTransitionError) as exc:
            verdict = Verdict(False, exc.message)
        log.info("%s %s %s: %s%s", who, action, args or "",
                 "accepted" if verdict.accepted else "refused",
                 f" ({verdict.detail})" if verdict.detail else "")
        return verdict

    def _apply(self, action: str, args: dict[str, Any], origin: str, who: str) -> Verdict:
        if action in ("pause", "resume", "stop"):
            self.state.fire(action, f"{action} by {who}")
            return Verdict(True, f"now {self.state.state.value}")
        if action == "abort":
            self.state.fire("abort", f"abort by {who}")
            self.instrument.stop()
            return Verdict(True, "aborted")
        if action == "interrupt":  # a service stop: this machine's, never the planner's call
            if origin != "local":
                raise ControlError("interrupt is a local service stop; use stop or abort")
            self.state.fire("interrupt", f"interrupted by {who}")
            self.instrument.stop()
            return Verdict(True, "interrupted; the campaign stays open to resume")
        if action == "veto":
            regions = self.picker.parse_veto(args)
            for region in regions:
                self.picker.veto(region)
                self.channel.add_veto(self.campaign_id, region)
            return Verdict(True, f"{len(regions)} veto(s) applied", forward=origin == "local")
        if action == "add_point":
            row, col = self.picker.add_point(args)
            return Verdict(True, f"point ({row}, {col}) queued", forward=origin == "local")
        if action in PLANNER_ACTIONS:
            raise ControlError(f"{action} is carried out by the planner, not the edge")
        raise ControlError(f"unknown action {action!r}")


class LocalRequests:
    """Commands asked of a running agent from other threads (:meth:`submit`) and from signal
    handlers (:meth:`from_signal`); the loop's own thread takes them in turn and applies them."""

    def __init__(self) -> None:
        self._submitted: queue.Queue[tuple[str, dict[str, Any], Future[Verdict]]] = queue.Queue()
        self._signalled: deque[str] = deque()

    def submit(self, action: str, args: dict[str, Any] | None = None) -> Future[Verdict]:
        """Thread-safe; the future resolves to the :class:`Verdict`."""
        fut: Future[Verdict] = Future()
        self._submitted.put((action, dict(args or {}), fut))
        return fut

    def from_signal(self, action: str) -> None:
        """A signal handler runs on the loop's own thread, between any two bytecodes, so this
        takes no lock (a deque append is atomic)."""
        self._signalled.append(action)

    def signalled(self) -> Iterator[str]:
        while self._signalled:
            yield self._signalled.popleft()

    def submitted(self) -> Iterator[tuple[str, dict[str, Any], Future[Verdict]]]:
        while True:
            try:
                yield self._submitted.get_nowait()
            except queue.Empty:
                return
