"""ZeroMQ socket helpers: DEALER (edge) and ROUTER (planner) with explicit timeouts,
linger, ZMTP heartbeats, inbound size limits and optional CURVE.

Every socket gets ``MAXMSGSIZE`` from :class:`~protocol.limits.Limits`, so libzmq drops an
oversized frame (and the connection that sent it) before Python allocates anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from .arrays import Buffer
from .errors import TransportError
from .limits import DEFAULT_LIMITS, Limits
from .messages import Body, Header, Message
from .session import Session

log = logging.getLogger(__name__)
wire_log = logging.getLogger("protocol.wire")  # high-volume traffic, off by default


@dataclass(frozen=True)
class SocketOptions:
    """Timing options shared by both socket kinds (seconds)."""

    linger_s: float = 1.0
    send_timeout_s: float = 5.0
    heartbeat_s: float = 2.0
    heartbeat_timeout_s: float = 6.0
    reconnect_s: float = 0.1
    reconnect_max_s: float = 5.0
    high_water_mark: int = 10_000


@dataclass(frozen=True)
class CurveServerKeys:
    """The planner's key pair, and the folder of public keys of edges allowed in."""

    public: bytes
    secret: bytes
    authorized_dir: Path


@dataclass(frozen=True)
class CurveClientKeys:
    """An edge's key pair and the planner's public key."""

    public: bytes
    secret: bytes
    server_public: bytes


def load_keypair(secret_file: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file written by ``autopilot keys curve``."""
    import zmq.auth

    public, secret = zmq.auth.load_certificate(str(secret_file))
    if secret is None:
        raise ValueError(f"{secret_file} holds no secret key")
    return public, secret


def load_public_key(public_file: str | Path) -> bytes:
    import zmq.auth

    public, _ = zmq.auth.load_certificate(str(public_file))
    return public


def _apply(sock: zmq.Socket[Any], opts: SocketOptions, limits: Limits) -> None:
    sock.setsockopt(zmq.LINGER, int(opts.linger_s * 1000))
    sock.setsockopt(zmq.SNDTIMEO, int(opts.send_timeout_s * 1000))
    sock.setsockopt(zmq.MAXMSGSIZE, limits.max_frame_bytes)
    sock.setsockopt(zmq.HEARTBEAT_IVL, int(opts.heartbeat_s * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(opts.heartbeat_timeout_s * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TTL, int(opts.heartbeat_timeout_s * 1000))
    sock.setsockopt(zmq.SNDHWM, opts.high_water_mark)
    sock.setsockopt(zmq.RCVHWM, opts.high_water_mark)


def make_router(
    ctx: zmq.Context[Any],
    bind: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    options: SocketOptions = SocketOptions(),
    curve: CurveServerKeys | None = None,
) -> zmq.Socket[Any]:
    """A bound ROUTER. With ``curve``, the context must run an authenticator
    (:func:`start_curve_authenticator`) so that unknown edge keys are refused."""
    sock: zmq.Socket[Any] = ctx.socket(zmq.ROUTER)
    _apply(sock, options, limits)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a reply to a vanished edge raises, not vanishes
    # No identity handover: a second connection claiming a connected edge's identity is
    # refused by libzmq, so no peer can cut another edge's link; and libzmq 4.3.5 aborts
    # (stream_engine_base.cpp:310) when a CURVE handover races a reconnect. A reconnecting
    # edge gets in once its old connection is gone (closed, or silent past the heartbeat
    # timeout).
    sock.setsockopt(zmq.ROUTER_HANDOVER, 0)
    if curve is not None:
        sock.curve_server = True
        sock.curve_publickey = curve.public
        sock.curve_secretkey = curve.secret
    sock.bind(bind)
    return sock


def make_dealer(
    ctx: zmq.Context[Any],
    connect: str,
    identity: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    options: SocketOptions = SocketOptions(),
    curve: CurveClientKeys | None = None,
) -> zmq.Socket[Any]:
    """A connected DEALER whose routing identity is ``identity`` (the edge id)."""
    sock: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
    _apply(sock, options, limits)
    sock.setsockopt(zmq.IDENTITY, identity.encode())
    sock.setsockopt(zmq.RECONNECT_IVL, int(options.reconnect_s * 1000))
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(options.reconnect_max_s * 1000))
    sock.setsockopt(zmq.IMMEDIATE, 1)  # queue only to completed connections
    if curve is not None:
        sock.curve_publickey = curve.public
        sock.curve_secretkey = curve.secret
        sock.curve_serverkey = curve.server_public
    sock.connect(connect)
    return sock


def start_curve_authenticator(ctx: zmq.Context[Any], authorized_dir: Path) -> Any:
    """Start a ZAP authenticator on ``ctx`` that admits only the public keys in
    ``authorized_dir``. Returns it; call ``.stop()`` when done."""
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(authorized_dir))
    return auth


def send(
    sock: zmq.Socket[Any],
    session: Session,
    body: Body,
    *,
    identities: Sequence[bytes] = (),
    parent: Header | None = None,
    seq: int | None = None,
    session_id: str | None = None,
) -> Message:
    """Build, sign and send ``body``; buffers go out without copying."""
    msg = session.message(body, parent=parent, seq=seq, session=session_id)
    frames: list[Buffer] = session.encode(msg, identities)
    try:
        sock.send_multipart(frames, copy=False)
    except zmq.Again:
        raise TransportError(f"send of {msg.msg_type} timed out (peer gone?)") from None
    except zmq.ZMQError as exc:
        raise TransportError(f"send of {msg.msg_type} failed: {exc}") from None
    wire_log.debug("sent %s seq=%d", msg.msg_type, msg.header.seq)
    return msg


def recv(
    sock: zmq.Socket[Any], session: Session, timeout_s: float
) -> tuple[list[bytes], Message]:
    """Receive and decode one message, or raise :class:`TransportError` after ``timeout_s``.

    A malformed message raises its :class:`ProtocolError`; the socket stays usable.
    """
    if not sock.poll(int(timeout_s * 1000), zmq.POLLIN):
        raise TransportError(f"no message within {timeout_s:.3g} s")
    frames = sock.recv_multipart(copy=False)
    identities, msg = session.decode(frames)
    wire_log.debug("received %s seq=%d", msg.msg_type, msg.header.seq)
    return identities, msg
