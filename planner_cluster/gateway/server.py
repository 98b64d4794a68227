"""The gateway: an asyncio ZeroMQ ROUTER between edges and the planner's state.

For each measurement, in this order: persist it (idempotent by sender/session/seq), ack it,
and reply with the newest plan minus measured and vetoed points. The write itself notifies
the campaign actor (it blocks on the campaign's measurement stream). No model work here.

Each loop turn takes every frame that has arrived (up to ``batch_max``); measurements (and
heartbeats' writes) are checked as they come and committed together before any other message
of the turn is handled (so replies keep the edge's order), in one Redis round trip: one
``fsync`` for the turn.
Several gateways may share one Redis prefix (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import redis
import zmq
import zmq.asyncio

import protocol as p
from protocol import ErrorCode, transport

from ..curve_auth import connection_user
from ..state import StateStore
from .ingest import IngestMixin, Pending
from .pushes import PushesMixin
from .settings import JSON_FIELDS, GatewaySettings, Refusal, require_json

log = logging.getLogger(__name__)

Handler = Callable[[list[bytes], p.Message], None]


class Gateway(PushesMixin, IngestMixin):
    """Serves edges until :meth:`stop`.

    Args:
        store: the state store (this process's Redis connection).
        settings: endpoint, signing, limits, CURVE.
        on_campaign: called with a campaign id when it is created or resumed (the planner
            uses it to make sure the campaign's actor runs); must not block.
    """

    def __init__(self, store: StateStore, settings: GatewaySettings,
                 on_campaign: Callable[[str], None] | None = None) -> None:
        super().__init__(store, settings, on_campaign)
        self._stopping = asyncio.Event()
        self._handlers: dict[type[p.Body], Handler] = {
            p.Hello: self._hello, p.CampaignStart: self._campaign_start, p.Scan: self._scan,
            p.Control: self._control, p.Ack: self._ack, p.Bye: self._bye,
            p.Error: self._remote_error,
        }

    async def serve(self) -> None:
        auth = None
        if self.settings.curve is not None:
            from ..curve_auth import EdgeKeyAuthenticator

            auth = EdgeKeyAuthenticator(self.ctx, Path(self.settings.curve.authorized_dir))
            auth.start()
        sock = cast(zmq.asyncio.Socket, transport.make_router(
            self.ctx, self.settings.bind, limits=self.settings.limits, curve=self.settings.curve))
        self.sock = sock
        # Sends and the draining receives go through a synchronous shadow of the same socket
        # (this thread only): a reply to a vanished edge raises EHOSTUNREACH here instead of
        # in an unawaited Future, and a turn takes what has arrived without awaiting.
        self._tx = zmq.Socket.shadow(sock.underlying)
        log.info("gateway listening on %s (as %s)", self.settings.bind, self.gateway_id)
        follower = asyncio.create_task(self._follow_events())
        try:
            while not self._stopping.is_set():
                if await sock.poll(100):
                    self._turn()
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            self.background.shutdown(wait=True)
            sock.close(linger=0)
            if auth is not None:
                auth.stop()
            self.ctx.term()

    def stop(self) -> None:
        self._stopping.set()

    # -- one loop turn --------------------------------------------------------------------

    def _turn(self) -> None:
        """Handle every frame that has arrived, measurements committed together."""
        assert self._tx is not None
        batch: list[Pending] = []
        for _ in range(self.settings.batch_max):
            try:
                frames = self._tx.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            self.stats["received"] += 1
            identity = bytes(frames[0].buffer) if frames else b""
            with self._answering(identity) as context:
                msg, signature = self._decode(identity, frames, context)
                if isinstance(msg.body, p.Measurement):
                    batch.append(Pending(identity, msg, self._check_measurement(msg),
                                         signature))
                    continue
                if isinstance(msg.body, p.Heartbeat):  # its writes join the turn's commit
                    batch.append(Pending(identity, msg, None, signature))
                    continue
                self._commit_safely(batch)  # replies keep the order the edge sent in
                batch = []
                if signature is not None and not self.ingest.first_seen(signature):
                    raise Refusal(ErrorCode.REPLAYED, "message was already received (replay)")
                self._handlers[type(msg.body)]([identity], msg)
        self._commit_safely(batch)

    def _decode(self, identity: bytes, frames: list[Any],
                decoded: list[p.Message]) -> tuple[p.Message, bytes | None]:
        """Decode and verify (the message is appended to ``decoded``: a refusal answers it),
        check who may send what; returns the message and the signature checked."""
        self.replay_guard.last = None
        identities, msg = self.session.decode(frames, self._signer_for(identity))
        decoded.append(msg)
        sender = identities[0].decode(errors="replace") if identities else ""
        if msg.header.sender != sender:
            raise Refusal(ErrorCode.FORBIDDEN,
                          f"header sender {msg.header.sender!r} does not match the "
                          f"connection's identity {sender!r}")
        if self.settings.curve is not None and connection_user(frames) != sender:
            raise Refusal(ErrorCode.FORBIDDEN, f"this connection's CURVE key is "
                          f"{connection_user(frames) or 'unnamed'}'s, not {sender!r}'s")
        if not isinstance(msg.body, p.Hello) and not self._is_welcomed(sender):
            raise Refusal(ErrorCode.NOT_WELCOMED, "say hello first")
        for name in JSON_FIELDS:  # kept in Redis as JSON
            require_json(getattr(msg.body, name, None), name)
        if (not isinstance(msg.body, p.Measurement | p.Heartbeat)
                and type(msg.body) not in self._handlers):
            raise Refusal(ErrorCode.UNKNOWN_MSG_TYPE,
                          f"the planner does not accept {msg.msg_type!r} from edges")
        return msg, self.replay_guard.last

    @contextmanager
    def _answering(self, identity: bytes) -> Iterator[list[p.Message]]:
        """Turn what goes wrong while handling one message into its ``error`` reply (to the
        message appended to the yielded list once it is decoded)."""
        decoded: list[p.Message] = []
        try:
            yield decoded
        except p.ProtocolError as exc:
            msg = decoded[0] if decoded else None
            detail = dict(exc.detail)
            if msg is None and exc.parent_seq is not None:
                detail["seq"] = exc.parent_seq
            self._error([identity], msg, exc.code, exc.message, detail,
                        parent_id=exc.parent_id)
        except Refusal as exc:
            self._error([identity], decoded[0] if decoded else None, exc.code, exc.message,
                        exc.detail)
        except redis.RedisError as exc:
            log.warning("state store unavailable: %s", exc)
            self._error([identity], decoded[0] if decoded else None, ErrorCode.UNAVAILABLE,
                        "the planner's state store is unavailable; resend later", {})
        except Exception:  # a bug: keep serving, tell the edge, log the traceback
            msg = decoded[0] if decoded else None
            log.exception("gateway bug while handling %s", msg.msg_type if msg else "frames")
            self._error([identity], msg, ErrorCode.INTERNAL, "internal planner error", {})

    def _commit_safely(self, batch: list[Pending]) -> None:
        """:meth:`_commit`, every measurement refused with the same error if it fails."""
        try:
            self._commit(batch)
        except redis.RedisError as exc:
            log.warning("state store unavailable: %s", exc)
            for m in batch:
                self._error([m.identity], m.msg, ErrorCode.UNAVAILABLE,
                            "the planner's state store is unavailable; resend later", {})
        except Exception:
            log.exception("gateway bug while storing %d measurements", len(batch))
            for m in batch:
                self._error([m.identity], m.msg, ErrorCode.INTERNAL, "internal planner error",
                            {})
