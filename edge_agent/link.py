"""The edge's end of the wire: one DEALER to the planner's ROUTER, closed and recreated on
every reconnect, with exponential backoff between attempts.

Nothing here blocks for long: connecting is polled (``writable``), receiving is polled with
a timeout, and a send that cannot complete within ``send_timeout_s`` raises
:class:`~edge_agent.errors.LinkError` (the caller then reconnects; its data are in the spool).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

import protocol as p
from edge_agent.errors import LinkError
from protocol import transport

log = logging.getLogger(__name__)


class Backoff:
    """Exponential backoff with jitter: ``initial * 2**n`` capped at ``maximum``, times a
    random factor in [0.5, 1] so that many edges do not reconnect in lockstep."""

    def __init__(self, initial_s: float, maximum_s: float, seed: int | None = None) -> None:
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.failures = 0
        self._rng = random.Random(seed)

    def next_delay(self) -> float:
        delay = min(self.maximum_s, self.initial_s * (2 ** self.failures))
        self.failures += 1
        return float(delay * self._rng.uniform(0.5, 1.0))

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class CurveFiles:
    """The edge's CURVE secret-key file and the planner's public-key file."""

    secret_file: Path
    server_public_file: Path

    def load(self) -> transport.CurveClientKeys:
        public, secret = transport.load_keypair(self.secret_file)
        server = transport.load_public_key(self.server_public_file)
        return transport.CurveClientKeys(public, secret, server)


class Link:
    """One DEALER at a time to ``endpoint``, identity ``edge_id``.

    ``endpoint`` may list several gateways, comma-separated (one facility, several gateways
    on one Redis): each reconnect after a lost link goes to the next one, so an edge fails
    over to a live gateway and resends what is unacknowledged there (the store deduplicates).

    Args:
        ctx: the ZeroMQ context (owned by the caller).
        session: numbers nothing here (every send passes its seq explicitly) but signs,
            encodes and decodes.
        curve: CURVE keys, or ``None`` for a plain link.
        send_timeout_s: how long a send may block before the link counts as failed.
    """

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, session: p.Session, *,
                 curve: transport.CurveClientKeys | None = None,
                 send_timeout_s: float = 1.0, heartbeat_s: float = 2.0) -> None:
        self.ctx = ctx
        self.endpoints = [e.strip() for e in endpoint.split(",") if e.strip()] or [endpoint]
        self.endpoint = self.endpoints[0]
        self.session = session
        self.curve = curve
        self.options = transport.SocketOptions(
            linger_s=0.0, send_timeout_s=send_timeout_s, heartbeat_s=heartbeat_s,
            heartbeat_timeout_s=3 * heartbeat_s)
        self.sock: zmq.Socket[Any] | None = None
        self.opened = 0

    @property
    def is_open(self) -> bool:
        return self.sock is not None

    def open(self) -> None:
        """Close any old socket and connect a fresh DEALER (to the next gateway listed)."""
        self.close()
        self.endpoint = self.endpoints[self.opened % len(self.endpoints)]
        self.sock = transport.make_dealer(self.ctx, self.endpoint, self.session.sender,
                                          options=self.options, curve=self.curve)
        self.opened += 1
        log.info("connecting to %s as %s (attempt %d)", self.endpoint, self.session.sender,
                 self.opened)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def writable(self) -> bool:
        """Whether a connection is complete (DEALERs use IMMEDIATE: nothing queues before)."""
        return self.sock is not None and bool(self.sock.poll(0, zmq.POLLOUT))

    def send(self, body: p.Body, *, seq: int, session_id: str | None = None,
             parent: p.Header | None = None) -> p.Message:
        """Sign and send ``body`` with ``seq`` (a resend passes its original seq/session)."""
        if self.sock is None:
            raise LinkError("not connected", endpoint=self.endpoint)
        try:
            return transport.send(self.sock, self.session, body, seq=seq,
                                  session_id=session_id, parent=parent)
        except p.TransportError as exc:
            raise LinkError(f"send to {self.endpoint} failed: {exc.message}",
                            endpoint=self.endpoint, msg_type=body.msg_type) from exc

    def poll(self, timeout_s: float, wake: zmq.Socket[Any] | None = None) -> bool:
        """Wait up to ``timeout_s`` for a message; a message on ``wake`` (an inproc socket
        the instrument thread signals when an acquisition ends) cuts the wait short."""
        poller = zmq.Poller()
        if self.sock is not None:
            poller.register(self.sock, zmq.POLLIN)
        if wake is not None:
            poller.register(wake, zmq.POLLIN)
        events = dict(poller.poll(int(timeout_s * 1000)))
        if wake is not None and wake in events:
            while wake.poll(0, zmq.POLLIN):
                wake.recv(zmq.NOBLOCK)
        return self.sock is not None and self.sock in events

    def receive(self) -> p.Message:
        """Decode one waiting message (call after :meth:`poll`).

        Raises:
            protocol.ProtocolError: the planner sent something malformed (answer it with
                an ``error``); the socket stays usable.
        """
        if self.sock is None:
            raise LinkError("not connected", endpoint=self.endpoint)
        frames = self.sock.recv_multipart(copy=False)
        _, msg = self.session.decode(frames)
        transport.wire_log.debug("received %s seq=%d", msg.msg_type, msg.header.seq)
        return msg
