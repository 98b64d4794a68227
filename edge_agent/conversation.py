"""The protocol side of the agent loop (docs/protocol.md sections 7-9).

Link phases (:mod:`edge_agent.link_phase`): ``down`` -> ``connecting`` -> ``hello`` ->
``campaign`` -> ``ready``. Any silence of 3 x heartbeat, unanswered handshake or failed send
goes back to ``down`` with exponential backoff; the socket is closed and recreated, and
everything unacked is sent again.

The conversation sees the agent only through a :class:`ConversationContext`: the spool, the
outbox, the point picker, the run state, how to apply a planner's control, and a fatal-error
callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import zmq

import protocol as p
from edge_agent.commands import Verdict
from edge_agent.config import EdgeConfig
from edge_agent.delivery import Outbox, Reaction, Sent, SentLog, reaction
from edge_agent.errors import LinkError
from edge_agent.instruments.base import InstrumentInfo
from edge_agent.link import Backoff, Link
from edge_agent.link_phase import HANDSHAKE, LinkPhase, LinkPhases
from edge_agent.selection import PointPicker
from edge_agent.spool import Spool
from edge_agent.state import RunState, State
from protocol.lifecycle import FINAL, CampaignStatus

log = logging.getLogger(__name__)
SOFTWARE = "microscope-autopilot-edge 0.1.0"
#: Campaign statuses (sent in every plan) on which the edge finishes cleanly.
PLAN_DONE = frozenset({*FINAL, CampaignStatus.STOPPING})


class FailFn(Protocol):
    def __call__(self, reason: str, code: str = "") -> None: ...


@dataclass(frozen=True)
class ConversationContext:
    """All of the agent a conversation may use.

    Attributes:
        config: the run's configuration.
        info: what the instrument reports (sent in ``hello``).
        spectral_axis: sent in ``campaign_start`` when the instrument knows it.
        spool: the durable spool (sequence numbers, measurements, campaign marks).
        outbox: which spooled measurements are due, in flight or acknowledged.
        picker: where to measure next (plans go in, counts come out).
        state: the run state (reported in heartbeats; a finished plan stops it).
        apply_control: applies a planner's control ``(action, args, user)``.
        vetoes: every veto region the spool holds for this campaign.
        fail: ends the run on a fatal error ``(reason, planner error code or "")``.
    """

    config: EdgeConfig
    info: InstrumentInfo
    spectral_axis: npt.NDArray[np.float64] | None
    spool: Spool
    outbox: Outbox
    picker: PointPicker
    state: RunState
    apply_control: Callable[[str, dict[str, Any], str], Verdict]
    vetoes: Callable[[], list[tuple[int, int, int, int]]]
    fail: FailFn


class Conversation:
    """Link phases, inbound dispatch, error reactions, and sending what is due."""

    def __init__(self, ctx: ConversationContext, link: Link) -> None:
        self.ctx = ctx
        self.cfg = ctx.config
        self.link = link
        self.wake: zmq.Socket[Any] | None = None  # signalled when an acquisition ends
        self.phases = LinkPhases()
        self.backoff = Backoff(self.cfg.backoff_initial_s, self.cfg.backoff_max_s)
        self.heartbeat_s = self.cfg.heartbeat_s
        self.sent = SentLog()
        self._retry_at = 0.0
        self._deadline = 0.0
        self._last_heard = 0.0
        self._next_heartbeat = 0.0
        self._campaign_seq = -1
        spool, cid = ctx.spool, self.cfg.campaign
        self.resume = self.cfg.resume or spool.get_meta(f"campaign:{cid}") is not None
        self.scan_acked = spool.get_meta(f"scan_acked:{cid}") == "1"
        self.scan_image: np.ndarray[Any, Any] | None = None
        self.scan_needed = False
        self._scan_seq = -1
        self._scan_sent_at: float | None = None
        self._forwards: dict[str, tuple[int, p.Control]] = {}
        self._forwarded_now: set[str] = set()
        self._vetoes_shared = False

    @property
    def phase(self) -> LinkPhase:
        return self.phases.phase

    @property
    def ready(self) -> bool:
        return self.phases.phase is LinkPhase.READY

    # -- link phases ---------------------------------------------------------------------

    def step(self, now: float) -> None:
        if self.phase is LinkPhase.DOWN and now >= self._retry_at:
            self.link.open()
            self.phases.fire("open")
            self._deadline = now + self.cfg.hello_timeout_s
        if self.phase is LinkPhase.CONNECTING and self.link.writable():
            hello = p.Hello(self.cfg.edge_id, self.ctx.info.describe(), software=SOFTWARE,
                            versions=sorted(p.SUPPORTED_VERSIONS))
            if self._send(hello, "hello"):
                self.phases.fire("hello")
        if self.phase in HANDSHAKE and now > self._deadline:
            self.link_failed(f"no answer in phase {self.phase.value} within "
                             f"{self.cfg.hello_timeout_s:g} s")
        elif self.ready:
            if now - self._last_heard > 3 * self.heartbeat_s:
                self.link_failed(f"planner silent for {now - self._last_heard:.1f} s "
                                 f"(3 x heartbeat {self.heartbeat_s:g} s)")
            elif now >= self._next_heartbeat:
                self._next_heartbeat = now + self.heartbeat_s
                c = self.ctx
                stats = {"measured": len(c.picker.measured), "pending": c.outbox.pending,
                         "acked": c.outbox.acked, "plan_version": c.picker.plan_version}
                self._send(p.Heartbeat(c.state.state.value, self.cfg.campaign, stats),
                           "heartbeat")

    def link_failed(self, reason: str) -> None:
        delay = self.backoff.next_delay()
        log.warning("link to %s down: %s; reconnecting in %.2f s (measurements stay spooled)",
                    self.cfg.planner, reason, delay)
        self.link.close()
        self.ctx.outbox.requeue_all()
        self._forwarded_now.clear()
        self._scan_sent_at = None
        self.phases.fire("lose")
        self._retry_at = time.monotonic() + delay

    def _send(self, body: p.Body, kind: str, *, seq: int | None = None,
              session_id: str | None = None, parent: p.Header | None = None,
              key: str = "") -> bool:
        seq = self.ctx.spool.next_seq() if seq is None else seq
        try:
            msg = self.link.send(body, seq=seq, session_id=session_id, parent=parent)
        except LinkError as exc:
            self.link_failed(exc.message)
            return False
        self.sent.add(msg.header.msg_id, Sent(kind, seq, key))
        return True

    def _start_campaign(self, now: float) -> None:
        body = p.CampaignStart(self.cfg.campaign, self.cfg.campaign_settings(),
                               resume=self.resume, spectral_axis=self.ctx.spectral_axis)
        self._campaign_seq = self.ctx.spool.next_seq()
        if self._send(body, "campaign_start", seq=self._campaign_seq):
            self.phases.fire("start_campaign")
            self._deadline = now + self.cfg.hello_timeout_s

    def close(self) -> None:
        if self.ctx.state.state is State.ABORTED and self.ready:
            self._send(p.Heartbeat("aborted", self.cfg.campaign, {}), "heartbeat")
        self.link.close()

    # -- inbound ------------------------------------------------------------------------------

    def receive(self, timeout_s: float) -> None:
        """Handle every waiting message (up to 512), the first after up to ``timeout_s``."""
        acks: list[int] = []
        duplicates = 0
        for i in range(512):
            if not self.link.poll(timeout_s if i == 0 else 0, self.wake if i == 0 else None):
                break
            now = time.monotonic()
            try:
                msg = self.link.receive()
            except p.ProtocolError as exc:
                self._refuse_inbound(exc)
                continue
            self._last_heard = now
            body = msg.body
            if isinstance(body, p.Ack) and not self._is_own(body.seq):
                if body.status == "refused":  # not in spec v1 for measurements: keep it aside
                    self.ctx.outbox.reject(body.seq, "refused", body.detail)
                else:
                    acks.append(body.seq)
                    duplicates += body.status == "duplicate"
                continue
            self._dispatch(msg, now)
        if acks:
            self.ctx.outbox.ack(acks, duplicates)

    def _refuse_inbound(self, exc: p.ProtocolError) -> None:
        log.warning("refused a message from the planner: %s", exc)
        if isinstance(exc, p.AuthenticationError):
            # Never answered: the planner could not authenticate the answer either.
            if self.phase is LinkPhase.HELLO and exc.code in (p.ErrorCode.BAD_SIGNATURE,
                                                      p.ErrorCode.MISSING_SIGNATURE):
                self.ctx.fail(f"the planner's answer failed the signature check ({exc}): "
                                 "the signing keys or schemes differ")
            return
        if self.link.is_open and self.phase is not LinkPhase.CONNECTING:
            detail = {k: v for k, v in exc.detail.items() if isinstance(v, str | int | list)}
            self._send(p.Error(exc.code.value, exc.message, detail), "error")

    def _is_own(self, seq: int) -> bool:
        """Whether ``seq`` is a campaign_start, scan or forwarded control (not a measurement)."""
        return seq in (self._campaign_seq, self._scan_seq) or any(
            s == seq for s, _ in self._forwards.values())

    def _dispatch(self, msg: p.Message, now: float) -> None:
        body = msg.body
        if isinstance(body, p.Welcome):
            if self.phase is LinkPhase.HELLO:
                if body.version not in p.SUPPORTED_VERSIONS:
                    self.ctx.fail(f"planner chose protocol version {body.version}")
                    return
                if body.heartbeat_s > 0:
                    self.heartbeat_s = body.heartbeat_s
                log.info("welcomed by planner %s (heartbeat %.3g s)", body.planner_id,
                         self.heartbeat_s)
                self._start_campaign(now)
        elif isinstance(body, p.Ack):
            self._on_ack(body, now)
        elif isinstance(body, p.Plan):
            self._on_plan(msg.header, body)
        elif isinstance(body, p.Control):
            self._on_control(msg.header, body)
        elif isinstance(body, p.Error):
            self._on_error(msg.header, body, now)
        elif not isinstance(body, p.Heartbeat):
            self._send(p.Error(p.ErrorCode.UNKNOWN_MSG_TYPE.value,
                               f"the edge does not accept {msg.msg_type} messages",
                               {"msg_type": msg.msg_type}), "error", parent=msg.header)

    def _on_ack(self, body: p.Ack, now: float) -> None:
        if body.seq == self._campaign_seq and self.phase is LinkPhase.CAMPAIGN:
            if body.status == "refused":
                self.ctx.fail(f"planner refused campaign {self.cfg.campaign}: {body.detail}")
                return
            log.info("campaign %s %s", self.cfg.campaign, body.detail or body.status)
            if body.detail == "created" and self.scan_acked:  # the planner lost it
                log.warning("planner created campaign %s anew: sending the scan again",
                            self.cfg.campaign)
                self.scan_acked, self._scan_seq, self._scan_sent_at = False, -1, None
                self.scan_needed = self.scan_image is None
            self.phases.fire("acked")
            self.resume = True
            self.ctx.spool.write(lambda: self.ctx.spool.set_meta(
                f"campaign:{self.cfg.campaign}", "started"))
            self.backoff.reset()
            self._last_heard, self._next_heartbeat = now, now
            if not self._vetoes_shared:
                self._share_vetoes()
        elif body.seq == self._scan_seq:
            self.scan_acked, self.scan_image = True, None
            self.ctx.spool.write(lambda: self.ctx.spool.set_meta(
                f"scan_acked:{self.cfg.campaign}", "1"))
        else:
            for key, (seq, control) in list(self._forwards.items()):
                if seq == body.seq:
                    del self._forwards[key]
                    log.info("planner %s forwarded %s: %s", body.status, control.action,
                             body.detail)

    def _on_plan(self, header: p.Header, plan: p.Plan) -> None:
        if plan.campaign_id != self.cfg.campaign:
            self._send(p.Error(p.ErrorCode.BAD_FIELD.value,
                               f"plan is for campaign {plan.campaign_id!r}, this edge runs "
                               f"{self.cfg.campaign!r}", {"field": "campaign_id"}),
                       "error", parent=header)
            return
        verdict = self.ctx.picker.offer_plan(plan.model_version, plan.points)
        if not verdict.used:
            log.debug("plan ignored: %s", verdict.reason)
        if verdict.out_of_bounds:
            shape = self.ctx.info.grid_shape
            log.warning("refused %d point(s) of plan %d outside the %d x %d field of view: %s",
                        len(verdict.out_of_bounds), plan.model_version, *shape,
                        verdict.out_of_bounds[:10])
            self._send(p.Error(p.ErrorCode.OUT_OF_BOUNDS.value,
                               f"{len(verdict.out_of_bounds)} plan point(s) outside the "
                               f"{shape[0]} x {shape[1]} grid were refused",
                               {"points": [list(pt) for pt in verdict.out_of_bounds[:100]],
                                "model_version": plan.model_version, "grid": list(shape)}),
                       "error", parent=header)
        if plan.status in PLAN_DONE and self.ctx.state.can("stop"):
            self.ctx.state.fire("stop", f"planner reports the campaign {plan.status}")

    def _on_control(self, header: p.Header, control: p.Control) -> None:
        if control.campaign_id != self.cfg.campaign:
            verdict_ok, detail = False, f"this edge runs campaign {self.cfg.campaign!r}"
        else:
            verdict = self.ctx.apply_control(control.action, control.args, control.user)
            verdict_ok, detail = verdict.accepted, verdict.detail
        self._send(p.Ack(header.seq, "accepted" if verdict_ok else "refused", detail), "ack",
                   parent=header)

    def _on_error(self, header: p.Header, err: p.Error, now: float) -> None:
        sent = self.sent.get(header.parent_id)
        what = f"{sent.kind} seq {sent.seq}" if sent else "a message"
        todo = reaction(err.code)
        log.warning("planner error for %s: [%s] %s -> %s", what, err.code, err.message,
                    todo.value)
        if todo is Reaction.STOP:
            self.ctx.fail(f"planner refused {what}: [{err.code}] {err.message}", err.code)
        elif todo is Reaction.HELLO_AGAIN:
            self.link_failed("planner does not know this connection; saying hello again")
            self._retry_at = 0.0
        elif sent is None:
            return
        elif todo is Reaction.START_CAMPAIGN:
            if not self.phases.can("start_campaign"):
                return  # the link went down meanwhile: the next hello starts it
            self.ctx.outbox.requeue_all()
            self.resume, self.scan_acked = False, False
            self._scan_seq, self._scan_sent_at = -1, None
            self.scan_needed = self.scan_image is None  # the agent rescans between spectra
            self._start_campaign(now)
        elif todo is Reaction.SEND_SCAN:
            self.ctx.outbox.requeue_all()  # measurements wait for the scan's ack
            self.scan_acked, self._scan_sent_at = False, None
            self.scan_needed = self.scan_image is None
        elif todo is Reaction.CAMPAIGN_ENDED:
            if sent.kind == "measurement":
                self.ctx.outbox.reject(sent.seq, err.code, err.message)
            if self.ctx.state.can("stop"):
                self.ctx.state.fire("stop", f"planner: {err.message}")
        elif sent.kind == "measurement":
            if todo is Reaction.RESEND_NOW:
                self.ctx.outbox.resend_now(sent.seq)
            elif todo is Reaction.DROP:
                self.ctx.outbox.reject(sent.seq, err.code, err.message)
        elif sent.kind == "scan":
            if todo is Reaction.DROP:
                self.ctx.fail(f"planner refused the structural scan: {err.message}")
            elif todo is Reaction.RESEND_NOW:
                self._scan_sent_at = None
        elif sent.kind == "scan" and err.code == p.ErrorCode.NO_CAPACITY.value:
            wait = err.detail.get("retry_after_s", self.cfg.resend_after_s)
            log.warning("the planner has no capacity for this campaign yet; the scan is sent "
                        "again in %s s", wait)
        elif sent.kind == "campaign_start" and todo is Reaction.DROP:
            self.ctx.fail(f"planner refused campaign_start: {err.message}", err.code)

    # -- outbound ------------------------------------------------------------------------------

    def scan_ready(self, image: np.ndarray[Any, Any]) -> None:
        if not self.scan_acked:
            self.scan_image = image

    def forward(self, action: str, args: dict[str, Any], user: str) -> None:
        """Tell the planner about a local veto or added point (resent until acked)."""
        control = p.Control(self.cfg.campaign, action, args, user, control_id=p.new_id())
        self._forwards[control.control_id] = (self.ctx.spool.next_seq(), control)

    def _share_vetoes(self) -> None:
        """Tell the planner every veto this spool holds (once per run): a restarted planner,
        or one that never heard a veto made while the link was down, learns them."""
        self._vetoes_shared = True
        regions = self.ctx.vetoes()
        points = [[r0, c0] for r0, c0, r1, c1 in regions if (r0, c0) == (r1, c1)]
        if points:
            self.forward("veto", {"points": points}, "edge")
        for r0, c0, r1, c1 in regions:
            if (r0, c0) != (r1, c1):
                self.forward("veto", {"region": [r0, c0, r1, c1]}, "edge")

    def bye(self, reason: str) -> None:
        self._send(p.Bye(reason, campaign_id=self.cfg.campaign), "bye")

    def send_due(self, now: float) -> None:
        """Send the scan, forwarded controls and the measurements that are due."""
        if not self.ready:
            return
        if self.scan_image is not None and not self.scan_acked and (
                self._scan_sent_at is None or now - self._scan_sent_at >= self.cfg.resend_after_s):
            if self._scan_seq < 0:
                self._scan_seq = self.ctx.spool.next_seq()
            channels = list(self.ctx.info.channels)
            if self._send(p.Scan(self.cfg.campaign, self.scan_image, channels), "scan",
                          seq=self._scan_seq):
                self._scan_sent_at = now
        for key, (seq, control) in list(self._forwards.items()):
            if key not in self._forwarded_now and self.ready:
                if self._send(control, "control", seq=seq, key=key):
                    self._forwarded_now.add(key)
        if not self.scan_acked:
            return
        outbox, spool = self.ctx.outbox, self.ctx.spool
        for seq in outbox.due(now):
            item = spool.get(seq)
            if item is None:
                continue
            body = p.Measurement(item.campaign_id, item.row, item.col, item.spectrum,
                                 source=item.source, plan_version=item.plan_version,
                                 dwell_s=item.dwell_s)
            if not self._send(body, "measurement", seq=item.seq, session_id=item.session):
                break  # the link is down; everything is requeued
            outbox.sent(seq, now)
