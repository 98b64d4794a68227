"""What the edge and the planner say to each other (docs/protocol.md sections 8-9): the
campaign's start, acks, plans, controls and errors coming in; the scan, forwarded controls and
measurements going out. The link underneath is kept up by :class:`LinkKeeper`; on a new link
everything unacked is sent again.

The conversation sees the agent only through a :class:`ConversationContext`: the spool, the
outbox, the point picker, the run state, how to apply a planner's control, and a fatal-error
callback.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import protocol as p
from edge_agent.conversation_context import ConversationContext
from edge_agent.delivery import Reaction, reaction
from edge_agent.link import Link
from edge_agent.link_keeper import LinkKeeper
from edge_agent.link_phase import LinkPhase
from edge_agent.resends import ForwardedControls, ScanDelivery, veto_controls

log = logging.getLogger(__name__)


class Conversation(LinkKeeper):
    """Inbound dispatch, error reactions, and sending what is due."""

    def __init__(self, ctx: ConversationContext, link: Link) -> None:
        super().__init__(ctx, link)
        self._campaign_seq = -1
        self.resume = (self.cfg.resume
                       or ctx.spool.get_meta(f"campaign:{self.cfg.campaign}") is not None)
        self.scan = ScanDelivery(ctx.spool, self.cfg.campaign, self.cfg.resend_after_s)
        self.forwards = ForwardedControls()
        self._vetoes_shared = False

    def link_failed(self, reason: str) -> None:
        super().link_failed(reason)
        self.ctx.outbox.requeue_all()  # everything unacked goes again on the next link
        self.forwards.link_lost()
        self.scan.resend_now()

    def _start_campaign(self, now: float) -> None:
        body = p.CampaignStart(self.cfg.campaign, self.cfg.campaign_settings(),
                               resume=self.resume, spectral_axis=self.ctx.spectral_axis)
        self._campaign_seq = self.ctx.spool.next_seq()
        if self._send(body, "campaign_start", seq=self._campaign_seq):
            self.phases.fire("start_campaign")
            self._deadline = now + self.cfg.hello_timeout_s

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
        return seq in (self._campaign_seq, self.scan.seq) or self.forwards.owns(seq)

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
            if body.detail == "created" and self.scan.acked:  # the planner lost it
                log.warning("planner created campaign %s anew: sending the scan again",
                            self.cfg.campaign)
                self.scan.lost(new_seq=True)
            self.phases.fire("acked")
            self.resume = True
            self.ctx.spool.write(lambda: self.ctx.spool.set_meta(
                f"campaign:{self.cfg.campaign}", "started"))
            self.backoff.reset()
            self._last_heard, self._next_heartbeat = now, now
            if not self._vetoes_shared:
                self._share_vetoes()
        elif body.seq == self.scan.seq:
            self.scan.mark_acked()
        else:
            for control in self.forwards.acked(body.seq):
                log.info("planner %s forwarded %s: %s", body.status, control.action,
                         body.detail)

    def _on_plan(self, header: p.Header, plan: p.Plan) -> None:
        refusal = self.ctx.take_plan(plan)
        if refusal is not None:
            self._send(refusal, "error", parent=header)

    def _on_control(self, header: p.Header, control: p.Control) -> None:
        self._send(self.ctx.take_control(header, control), "ack", parent=header)

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
            self.resume = False
            self.scan.lost(new_seq=True)  # the agent rescans between spectra if need be
            self._start_campaign(now)
        elif todo is Reaction.SEND_SCAN:
            self.ctx.outbox.requeue_all()  # measurements wait for the scan's ack
            self.scan.lost(new_seq=False)
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
            if err.code == p.ErrorCode.NO_CAPACITY.value:  # as the spec says: after retry_after_s
                wait = _seconds(err.detail.get("retry_after_s"), self.cfg.resend_after_s)
                log.warning("the planner has no capacity for this campaign yet; the scan is "
                            "sent again in %g s", wait)
                self.scan.retry_after(now, wait)
            elif todo is Reaction.DROP:
                self.ctx.fail(f"planner refused the structural scan: {err.message}")
            elif todo is Reaction.RESEND_NOW:
                self.scan.resend_now()
        elif sent.kind == "campaign_start" and todo is Reaction.DROP:
            self.ctx.fail(f"planner refused campaign_start: {err.message}", err.code)

    # -- outbound ------------------------------------------------------------------------------

    def forward(self, action: str, args: dict[str, Any], user: str) -> None:
        """Tell the planner about a local veto or added point (resent until acked)."""
        control = p.Control(self.cfg.campaign, action, args, user, control_id=p.new_id())
        self.forwards.add(self.ctx.spool.next_seq(), control)

    def _share_vetoes(self) -> None:
        """Tell the planner every veto this spool holds (once per run): a restarted planner,
        or one that never heard a veto made while the link was down, learns them."""
        self._vetoes_shared = True
        for args in veto_controls(self.ctx.vetoes()):
            self.forward("veto", args, "edge")

    def bye(self, reason: str) -> None:
        self._send(p.Bye(reason, campaign_id=self.cfg.campaign), "bye")

    def send_due(self, now: float) -> None:
        """Send the scan, forwarded controls and the measurements that are due."""
        if not self.ready:
            return
        scan, image = self.scan, self.scan.due(now)
        if image is not None:
            if scan.seq < 0:
                scan.seq = self.ctx.spool.next_seq()
            channels = list(self.ctx.info.channels)
            if self._send(p.Scan(self.cfg.campaign, image, channels), "scan", seq=scan.seq):
                scan.sent_at = now
        for key, seq, control in self.forwards.due():
            if self.ready and self._send(control, "control", seq=seq, key=key):
                self.forwards.sent(key)
        if not scan.acked:
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


def _seconds(value: object, default: float) -> float:
    """A wait the planner sent, if it is a usable number of seconds (capped at an hour)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 3600:
        return float(value)
    return default
