"""Keeping the link to the planner up (docs/protocol.md section 7): the link phases, hello,
heartbeats, and reconnecting with backoff.

Link phases (:mod:`edge_agent.link_phase`): ``down`` -> ``connecting`` -> ``hello`` ->
``campaign`` -> ``ready``. Any silence of 3 x heartbeat, unanswered handshake or failed send
goes back to ``down`` with exponential backoff; the socket is closed and recreated. What is
said on the link is the :class:`~edge_agent.conversation.Conversation`'s.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import zmq

import protocol as p
from edge_agent.conversation_context import ConversationContext
from edge_agent.delivery import Sent, SentLog
from edge_agent.errors import LinkError
from edge_agent.link import Backoff, Link
from edge_agent.link_phase import HANDSHAKE, LinkPhase, LinkPhases
from edge_agent.state import State

log = logging.getLogger(__name__)
SOFTWARE = "microscope-autopilot-edge 0.1.0"


class LinkKeeper:
    """The link's phases and timers, and sending (every message sent is remembered, so that an
    ``error`` naming it as parent can be traced back)."""

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
        self._deadline = 0.0  # of the handshake's current phase
        self._last_heard = 0.0
        self._next_heartbeat = 0.0

    @property
    def phase(self) -> LinkPhase:
        return self.phases.phase

    @property
    def ready(self) -> bool:
        return self.phases.phase is LinkPhase.READY

    def step(self, now: float) -> None:
        """Open, say hello, time the handshake out, or send a heartbeat, as the phase needs."""
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
                self._send(self.ctx.heartbeat(), "heartbeat")

    def link_failed(self, reason: str) -> None:
        delay = self.backoff.next_delay()
        log.warning("link to %s down: %s; reconnecting in %.2f s (measurements stay spooled)",
                    self.cfg.planner, reason, delay)
        self.link.close()
        self.phases.fire("lose")
        self._retry_at = time.monotonic() + delay

    def _send(self, body: p.Body, kind: str, *, seq: int | None = None,
              session_id: str | None = None, parent: p.Header | None = None,
              key: str = "") -> bool:
        """Send ``body``; False (and the link goes down) if the link failed."""
        seq = self.ctx.spool.next_seq() if seq is None else seq
        try:
            msg = self.link.send(body, seq=seq, session_id=session_id, parent=parent)
        except LinkError as exc:
            self.link_failed(exc.message)
            return False
        self.sent.add(msg.header.msg_id, Sent(kind, seq, key))
        return True

    def close(self) -> None:
        if self.ctx.state.state is State.ABORTED and self.ready:
            self._send(p.Heartbeat("aborted", self.cfg.campaign, {}), "heartbeat")
        self.link.close()
