"""The edge agent: scan, then measure where the planner says, stream every spectrum through the
durable spool, obey the operator, survive anything the link does.

Start one programmatically::

    from edge_agent import EdgeAgent, EdgeConfig
    agent = EdgeAgent(EdgeConfig(campaign="c1", planner="tcp://gw:5555",
                                 instrument="replay:beps", dwell_s=0.5, spool=Path("spool")))
    result = agent.run()          # blocks; agent.submit("stop") from another thread ends it

The loop is single-threaded apart from the instrument, which acquires in a worker thread so
that the link stays answered (heartbeats, acks, controls) during a long dwell
(:mod:`edge_agent.instrument_worker`). The protocol side of the loop is in
:mod:`edge_agent.conversation`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
import zmq

import protocol as p
from edge_agent.budgets import Budgets
from edge_agent.commands import Commands, LocalRequests, Verdict
from edge_agent.config import EdgeConfig
from edge_agent.control import AgentLock, ControlChannel
from edge_agent.conversation import Conversation
from edge_agent.conversation_context import ConversationContext
from edge_agent.delivery import Outbox
from edge_agent.errors import (
    AcquisitionStopped,
    EdgeAgentError,
    InstrumentError,
    SpoolFullError,
)
from edge_agent.instrument_worker import InstrumentWorker
from edge_agent.instruments.base import Instrument, ReportsAxis
from edge_agent.instruments.registry import make_instrument
from edge_agent.link import CurveFiles, Link
from edge_agent.progress import Progress
from edge_agent.run_result import RunResult
from edge_agent.selection import Choice, PointPicker
from edge_agent.spool import Spool
from edge_agent.state import RunState, State

log = logging.getLogger(__name__)


class EdgeAgent:
    """One campaign on one instrument, from hello to bye.

    Args:
        config: the validated configuration.
        instrument: a driver; by default made from ``config.instrument``.
        ctx: a ZeroMQ context to use (default: a private one, terminated at the end).
        on_progress: called about four times a second with a :class:`Progress`.
    """

    def __init__(self, config: EdgeConfig, *, instrument: Instrument | None = None,
                 ctx: zmq.Context[Any] | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.config = config
        self._lock_taken_at: float | None = None
        self.instrument = instrument or make_instrument(
            config.instrument, dwell_s=config.dwell_s, noise=config.noise or None,
            seed=config.seed, data_dir=str(config.data_dir) if config.data_dir else None)
        self.info = self.instrument.info
        self.signer = (p.Signer.from_file(config.signing_key_file, config.signing_scheme)
                       if config.signing_key_file else p.Signer(None))
        self.curve = (CurveFiles(config.curve_secret_file, config.curve_server_public_file).load()
                      if config.curve_secret_file and config.curve_server_public_file else None)
        self._own_ctx = ctx is None
        self.ctx: zmq.Context[Any] = ctx if ctx is not None else zmq.Context()
        self.on_progress = on_progress
        self.state = RunState()
        self.state.on_change(self._state_changed)
        self._requests = LocalRequests()
        self.error = ""
        self.error_code = ""  # the planner's error code when it refused the run
        self.measured_this_run = 0
        self._stop_at: float | None = None

    # -- public ------------------------------------------------------------------------------

    def submit(self, action: str, args: dict[str, Any] | None = None) -> Future[Verdict]:
        """Ask the running agent to apply a control action (thread-safe); the future resolves
        to a :class:`~edge_agent.commands.Verdict`."""
        return self._requests.submit(action, args)

    def submit_from_signal(self, action: str) -> None:
        """Ask for ``action`` (``stop``, ``abort``, ``interrupt``) from a signal handler (it
        takes no lock: :meth:`LocalRequests.from_signal`); the loop applies it on its next
        turn."""
        self._requests.from_signal(action)

    def run(self) -> RunResult:
        """Run the campaign until finished, aborted or failed. Never raises for conditions it
        can report (they end in the result); a bug propagates."""
        lock = AgentLock(self.config.spool)
        self.config.spool.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        self._lock_taken_at = lock.acquired_at
        self.worker = InstrumentWorker(self.instrument, self.ctx)
        try:
            with Spool(self.config.spool, max_count=self.config.spool_max_count,
                       max_bytes=self.config.spool_max_bytes) as spool:
                return self._run(spool)
        finally:
            lock.release()
            self.worker.close()
            self.instrument.close()
            if self._own_ctx:
                self.ctx.term()

    # -- setup and loop ---------------------------------------------------------------------

    def _run(self, spool: Spool) -> RunResult:
        cid = self.config.campaign
        self.spool = spool
        self.channel = ControlChannel(spool.conn, since=self._lock_taken_at)
        self.picker = PointPicker(self.info.grid_shape)
        self.picker.measured = spool.measured_points(cid)
        for region in self.channel.vetoes(cid):
            self.picker.veto(region)
        self.outbox = Outbox(spool, window=self.config.window,
                             resend_after_s=self.config.resend_after_s)
        session = p.Session(self.config.edge_id, self.signer, session_id=spool.session_id)
        link = Link(self.ctx, self.config.planner, session, curve=self.curve,
                    heartbeat_s=self.config.heartbeat_s)
        self.commands = Commands(cid, self.state, self.picker, self.channel, self.instrument)
        axis = self.instrument.spectral_axis if isinstance(self.instrument, ReportsAxis) else None
        self.conv = Conversation(ConversationContext(
            config=self.config, info=self.info, spectral_axis=axis, spool=spool,
            outbox=self.outbox, picker=self.picker, state=self.state,
            apply_control=lambda action, args, user: self.commands.apply(
                action, args, origin="planner", user=user),
            vetoes=lambda: self.channel.vetoes(cid), fail=self._fail), link)
        self.conv.wake = self.worker.wake
        if self.outbox.pending:
            log.info("spool holds %d unacknowledged measurement(s): they are resent first",
                     self.outbox.pending)
        self.budgets = Budgets(self.config, self.info.dose_per_point, time.monotonic())
        self.state.fire("start", f"campaign {cid}")
        # The structural scan comes first, on every start (the instrument needs it to place
        # the probe); it is sent only if the planner has not acknowledged one already.
        self.worker.scan()
        last_poll = last_report = 0.0
        try:
            while not self.state.terminal:
                now = time.monotonic()
                self.conv.step(now)
                if now - last_poll >= 0.05:
                    self._poll_commands()
                    last_poll = now
                self.conv.receive(0.02)  # an acquisition ending cuts the wait short
                self._measure_step(time.monotonic())
                self.conv.send_due(time.monotonic())
                self._finish_step(time.monotonic())
                if now - last_report >= 0.25:
                    self._report()
                    last_report = now
        except EdgeAgentError as exc:
            self._fail(exc.message)
        finally:
            self._teardown()
        self._report()
        return RunResult(self.state.state.value, self.state.reason, self.measured_this_run,
                         self.outbox.acked, self.outbox.pending, self.outbox.rejected,
                         self.error, self.error_code)

    def _teardown(self) -> None:
        if self.worker.busy:
            if self.state.state in (State.ABORTED, State.INTERRUPTED):
                self.instrument.stop()
            finished = self.worker.wait(max(1.0, 2 * self.info.dwell_s + 1.0))
            if finished is not None:
                try:
                    self._collect(*finished)  # measured data are never thrown away
                except Exception:
                    log.exception("the instrument failed while the agent was ending")
        self.conv.close()

    def _fail(self, reason: str, code: str = "") -> None:
        log.error("stopping: %s (unacknowledged measurements stay in the spool)", reason)
        self.error = self.error or reason
        self.error_code = self.error_code or code
        if not self.state.terminal:
            self.state.fire("fail", reason)

    def _state_changed(self, old: State, transition: str, new: State, reason: str) -> None:
        if new is State.STOPPING:
            self._stop_at = time.monotonic()

    # -- commands ----------------------------------------------------------------------------

    def _poll_commands(self) -> None:
        for action in self._requests.signalled():
            self.commands.apply(action, {}, origin="local", user="signal")
        for req in self.channel.pending():
            verdict = self.commands.apply(req.action, req.args, origin="local", user=req.user)
            self.channel.answer(req.id, verdict.accepted, verdict.detail)
            if verdict.forward:
                self.conv.forward(req.action, req.args, req.user)
        for action, args, fut in self._requests.submitted():
            verdict = self.commands.apply(action, args, origin="local", user="api")
            if verdict.forward:
                self.conv.forward(action, args, "api")
            fut.set_result(verdict)

    # -- measuring -----------------------------------------------------------------------------

    def _measure_step(self, now: float) -> None:
        if self.worker.busy:
            finished = self.worker.finished()
            if finished is not None:
                self._collect(*finished)
            return
        if self.conv.scan.needed and not self.state.terminal:
            self.conv.scan.needed = False  # the planner lost the campaign: scan again
            self.worker.scan()
            return
        if self.state.state is not State.RUNNING:
            return
        spent = self.budgets.spent(len(self.picker.measured), now)
        if spent:
            self.state.fire("stop", spent)
            return
        try:
            self.spool.check_room(self.info.spectrum_bytes)
        except SpoolFullError as exc:
            log.error("%s", exc.message)
            self.error = exc.message
            self.state.fire("stop", "spool full")
            return
        choice = self.picker.next_point()
        if choice is None:
            return
        self.worker.acquire(choice)

    def _collect(self, job: Future[Any], choice: Choice | None) -> None:
        """Store a finished job's result: the scan (``choice`` None), or a spectrum (spooled
        durably first)."""
        try:
            result = job.result()
        except AcquisitionStopped:
            log.info("acquisition at %s interrupted; nothing stored", choice)
            return
        except InstrumentError as exc:
            self._fail(f"instrument: {exc.message}")
            return
        if choice is None:
            self.conv.scan.ready(np.asarray(result))
            return
        item = self.spool.put(self.config.campaign, choice.row, choice.col, result,
                              source=choice.source, plan_version=choice.plan_version,
                              dwell_s=self.info.dwell_s)
        self.picker.mark_measured(choice.row, choice.col)
        self.outbox.added(item.seq)
        self.measured_this_run += 1
        self.budgets.measured_one()

    # -- ending --------------------------------------------------------------------------------

    def _finish_step(self, now: float) -> None:
        if self.state.state is not State.STOPPING or self.worker.busy:
            return
        if self.outbox.pending == 0:  # nothing left to lose: no reason to wait for the link
            if self.conv.ready:
                self.conv.bye(self.state.reason)
            else:
                log.warning("planner unreachable: the campaign ends here without a bye, "
                            "nothing is left in the spool")
            self.state.fire("finish", self.state.reason)
        elif self._stop_at is not None and now - self._stop_at > self.config.drain_timeout_s:
            log.warning("%d measurement(s) still unacknowledged after %.0f s; they stay in the "
                        "spool and are resent by the next run", self.outbox.pending,
                        self.config.drain_timeout_s)
            self.state.fire("finish", f"{self.state.reason}; {self.outbox.pending} left in spool")

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress())

    def progress(self) -> Progress:
        return Progress(self.state.state.value, self.conv.phase.value, len(self.picker.measured),
                        self.outbox.pending, self.outbox.acked, self.picker.plan_version,
                        self.config.max_points)
