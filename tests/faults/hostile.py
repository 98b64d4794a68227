"""A hostile peer over a real socket: sends any frames it likes, then proves the gateway is
still there with a signed heartbeat, and hands back everything that came in between."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq

import protocol as p
from protocol import transport


class GatewayGone(AssertionError):
    """The gateway did not answer a valid heartbeat in time."""


@dataclass
class Replies:
    """What came back for one hostile input, before the heartbeat's answer."""

    messages: list[p.Message] = field(default_factory=list)
    undecodable: int = 0

    @property
    def errors(self) -> list[str]:
        return [m.body.code for m in self.messages if isinstance(m.body, p.Error)]


class HostilePeer:
    """A DEALER with routing identity ``edge_id`` and a session that signs with ``key``
    (``None``: unsigned). Decodes replies with ``reader_key`` (the real key: the test can read
    what the gateway says even to a forger)."""

    def __init__(self, endpoint: str, edge_id: str, key: bytes | None,
                 reader_key: bytes | None = None) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.endpoint = endpoint
        self.edge_id = edge_id
        self.sock = transport.make_dealer(self.ctx, endpoint, edge_id)
        self.signer = p.Signer(key)
        self.session = p.Session(edge_id, self.signer)
        self.reader = p.Session(edge_id, p.Signer(reader_key if reader_key else key))
        self.sent = 0

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()

    def reconnect(self) -> None:
        """A fresh socket (libzmq drops a connection that sent an oversized frame)."""
        self.sock.close(linger=0)
        self.sock = transport.make_dealer(self.ctx, self.endpoint, self.edge_id)

    def send_frames(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames, copy=False)
        self.sent += 1

    def send(self, body: p.Body, **kw: Any) -> p.Message:
        self.sent += 1
        return transport.send(self.sock, self.session, body, **kw)

    def signed_frames(self, header: dict[str, Any], content: dict[str, Any] | bytes,
                      buffers: list[bytes]) -> list[bytes]:
        h = msgpack.packb(header)
        c = content if isinstance(content, bytes) else msgpack.packb(content)
        payload = [h, c, *buffers]
        return [p.DELIMITER, self.signer.sign(payload), *payload]

    def header(self, msg_type: str, **overrides: Any) -> dict[str, Any]:
        h: dict[str, Any] = {
            "version": 1, "msg_type": msg_type, "msg_id": p.new_id(), "sender": self.edge_id,
            "session": self.session.session_id, "seq": self.session.next_seq(),
            "time": time.time(), "parent_id": ""}
        h.update(overrides)
        return h

    def _heartbeat_frames(self) -> tuple[str, list[bytes]]:
        """A valid heartbeat signed with the real key (so it is answered even after a forger
        sent something)."""
        msg = self.reader.message(p.Heartbeat("probe"))
        return msg.header.msg_id, [bytes(f) for f in self.reader.encode(msg)]

    def drain(self, timeout_s: float = 15.0) -> Replies:
        """Send a heartbeat, collect everything until its answer."""
        hb_id, frames = self._heartbeat_frames()
        self.sock.send_multipart(frames)
        out = Replies()
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise GatewayGone(f"no answer to a valid heartbeat within {timeout_s} s")
            raw = self.sock.recv_multipart()
            try:
                _, msg = self.reader.decode(raw)
            except p.ProtocolError:
                out.undecodable += 1
                continue
            if msg.header.parent_id == hb_id:
                return out
            out.messages.append(msg)
