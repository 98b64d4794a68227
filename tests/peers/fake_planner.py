"""A real ROUTER peer playing the planner's side of the protocol, able to misbehave.

It runs in a thread of the test process, speaks docs/protocol.md like the gateway (hello ->
welcome, campaign_start -> ack + plan, scan -> ack + seed plan, measurement -> idempotent store
under (sender, session, seq) -> ack stored/duplicate + newest plan), and on request:
drops acks, answers with error codes, goes silent, disconnects (closes its socket and binds a
new one), sends malformed plans and plans outside the field of view, sends controls.

Everything it stores or counts is read through lock-protected accessors; tests wait on them.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np
import zmq

import protocol as p
from protocol import transport

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stored:
    sender: str
    session: str
    seq: int
    campaign_id: str
    row: int
    col: int
    source: str
    spectrum: np.ndarray[Any, Any]


@dataclass
class Faults:
    """Misbehaviour switches (set through :meth:`FakePlanner.faults`)."""

    drop_acks: int = 0  # drop this many measurement acks (the measurement is still stored)
    measurement_errors: list[str] = field(default_factory=list)  # error codes for the next
    silent: bool = False  # receive everything, answer nothing
    disconnect_after: int | None = None  # close + rebind after storing this many
    down_s: float = 0.5  # how long a disconnect lasts
    plan_outside: bool = False  # next plans include points outside the grid
    malformed_plan_after: int | None = None  # send a malformed plan after storing this many
    batch: int = 4


class FakePlanner:
    """A planner stand-in on ``tcp://127.0.0.1:PORT`` (``endpoint``)."""

    def __init__(self, *, key: bytes | None = None, heartbeat_s: float = 0.5,
                 seed: int = 0) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.session = p.Session("fake-planner", p.Signer(key))
        self.heartbeat_s = heartbeat_s
        self.seed = seed
        self.ctx: zmq.Context[Any] = zmq.Context()
        self._faults = Faults()
        self._lock = threading.Lock()
        self._calls: queue.Queue[Callable[[], None]] = queue.Queue()
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-planner", daemon=True)
        self.stored: list[Stored] = []
        self.keys: set[tuple[str, str, int]] = set()
        self.duplicates = 0
        self.received: list[p.Message] = []
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.disconnects = 0
        self.plans_sent = 0
        self.malformed_sent = 0
        self._welcomed: set[bytes] = set()
        self.sock: zmq.Socket[Any] | None = None
        self._rebind_at: float | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakePlanner:
        self.sock = transport.make_router(self.ctx, self.endpoint)
        self._running.set()
        self._thread.start()
        return self

    def close(self) -> None:
        self._running.clear()
        self._thread.join(timeout=5)
        if self.sock is not None:
            self.sock.close(linger=0)
        self.ctx.term()

    def __enter__(self) -> FakePlanner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- test-side accessors -----------------------------------------------------------------

    def faults(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._faults, k, v)

    def points(self, campaign: str | None = None) -> list[tuple[int, int]]:
        with self._lock:
            return [(s.row, s.col) for s in self.stored
                    if campaign is None or s.campaign_id == campaign]

    def count(self, campaign: str | None = None) -> int:
        return len(self.points(campaign))

    def messages(self, msg_type: str) -> list[p.Message]:
        with self._lock:
            return [m for m in self.received if m.msg_type == msg_type]

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the peer's thread (sockets are not thread-safe)."""
        self._calls.put(fn)

    def send_control(self, campaign: str, action: str, args: dict[str, Any] | None = None,
                     edge: str = "edge-test") -> None:
        def send() -> None:
            camp = self.campaigns.get(campaign)
            if camp is not None and action == "veto":
                self._veto(camp, args or {})  # the planner plans around its own vetoes
            self._send(edge.encode(), p.Control(campaign, action, args or {}, "dashboard",
                                                p.new_id()))

        self.call(send)

    # -- loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while self._running.is_set():
            while not self._calls.empty():
                self._calls.get_nowait()()
            if self._rebind_at is not None and time.monotonic() >= self._rebind_at:
                self.sock = transport.make_router(self.ctx, self.endpoint)
                self._rebind_at = None
            sock = self.sock
            if sock is None:
                time.sleep(0.01)  # the peer is down
                continue
            if not sock.poll(20, zmq.POLLIN):
                continue
            frames = sock.recv_multipart(copy=False)
            try:
                identities, msg = self.session.decode(frames)
            except p.ProtocolError as exc:
                ident = [bytes(frames[0].buffer)]
                self._send(ident[0], p.Error(exc.code.value, exc.message, {}))
                continue
            with self._lock:
                self.received.append(msg)
                silent = self._faults.silent
            if not silent:
                self._handle(identities[0], msg)

    def _send(self, ident: bytes, body: p.Body, parent: p.Header | None = None) -> None:
        if self.sock is None:
            return
        try:
            transport.send(self.sock, self.session, body, identities=[ident], parent=parent)
        except p.TransportError:
            log.info("fake planner: edge %r unreachable", ident)

    def _handle(self, ident: bytes, msg: p.Message) -> None:
        body, h = msg.body, msg.header
        if isinstance(body, p.Hello):
            self._welcomed.add(ident)
            self._send(ident, p.Welcome("fake-planner", 1, self.heartbeat_s), h)
            return
        if ident not in self._welcomed:
            self._send(ident, p.Error("not_welcomed", "say hello first"), h)
            return
        if isinstance(body, p.CampaignStart):
            self._campaign_start(ident, h, body)
        elif isinstance(body, p.Scan):
            camp = self.campaigns.get(body.campaign_id)
            if camp is None:
                self._send(ident, p.Error("unknown_campaign", "no such campaign"), h)
                return
            camp["grid"] = body.image.shape[:2]
            self._send(ident, p.Ack(h.seq), h)
            self._plan(ident, body.campaign_id)
        elif isinstance(body, p.Measurement):
            self._measurement(ident, h, body)
        elif isinstance(body, p.Heartbeat):
            self._send(ident, p.Heartbeat("running", body.campaign_id), h)
        elif isinstance(body, p.Control):
            camp = self.campaigns.get(body.campaign_id)
            if camp is not None and body.action == "veto":
                self._veto(camp, body.args)
            self._send(ident, p.Ack(h.seq, "accepted", "noted"), h)

    @staticmethod
    def _veto(camp: dict[str, Any], args: dict[str, Any]) -> None:
        for r, c in args.get("points", []):
            camp["vetoed"].add((r, c))
        if "region" in args:
            r0, c0, r1, c1 = args["region"]
            camp["vetoed"].update((r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))

    def _campaign_start(self, ident: bytes, h: p.Header, body: p.CampaignStart) -> None:
        camp = self.campaigns.get(body.campaign_id)
        if camp is not None and camp["owner"] != h.sender:
            self._send(ident, p.Error("forbidden", "campaign belongs to another edge"), h)
            return
        if camp is not None and not body.resume:
            self._send(ident, p.Error("conflict", "campaign exists; resume it"), h)
            return
        detail = "resumed" if camp is not None else "created"
        if camp is None:
            camp = {"owner": h.sender, "grid": None, "config": body.config, "vetoed": set()}
            self.campaigns[body.campaign_id] = camp
        self._send(ident, p.Ack(h.seq, "stored", detail), h)
        if camp["grid"] is not None:
            self._plan(ident, body.campaign_id)

    def forget(self, campaigns: bool = False) -> None:
        """Lose every connection (like a restarted gateway) and, optionally, the campaigns
        (like a planner that lost its state). Stored measurements stay."""
        self.call(lambda: self._forget(campaigns))

    def _forget(self, campaigns: bool) -> None:
        self._welcomed.clear()
        if campaigns:
            self.campaigns.clear()

    def _measurement(self, ident: bytes, h: p.Header, body: p.Measurement) -> None:
        if body.campaign_id not in self.campaigns:
            self._send(ident, p.Error("unknown_campaign", "no such campaign"), h)
            return
        with self._lock:
            f = self._faults
            code = f.measurement_errors.pop(0) if f.measurement_errors else None
        if code is not None:
            self._send(ident, p.Error(code, f"fake planner says {code}", {}), h)
            return
        key = (h.sender, h.session, h.seq)
        with self._lock:
            duplicate = key in self.keys
            if duplicate:
                self.duplicates += 1
            else:
                self.keys.add(key)
                self.stored.append(Stored(h.sender, h.session, h.seq, body.campaign_id,
                                          body.row, body.col, body.source,
                                          np.array(body.spectrum)))
            n = len(self.stored)
            drop = f.drop_acks > 0
            if drop:
                f.drop_acks -= 1
            disconnect = f.disconnect_after is not None and n >= f.disconnect_after
            if disconnect:
                f.disconnect_after = None
            malformed = f.malformed_plan_after is not None and n >= f.malformed_plan_after
            if malformed:
                f.malformed_plan_after = None
        if not drop:
            self._send(ident, p.Ack(h.seq, "duplicate" if duplicate else "stored"), h)
        if malformed:
            self._send_malformed_plan(ident, body.campaign_id)
        self._plan(ident, body.campaign_id)
        if disconnect:
            self._disconnect()

    def _disconnect(self) -> None:
        assert self.sock is not None
        self.sock.close(linger=0)
        self.sock = None
        self.disconnects += 1
        self._welcomed.clear()
        self._rebind_at = time.monotonic() + self._faults.down_s

    def _plan(self, ident: bytes, campaign_id: str) -> None:
        camp = self.campaigns[campaign_id]
        if camp["grid"] is None:
            return
        rows, cols = camp["grid"]
        order = np.random.default_rng(self.seed).permutation(rows * cols)
        done = set(self.points(campaign_id)) | camp["vetoed"]
        with self._lock:
            batch, outside = self._faults.batch, self._faults.plan_outside
        pts = [(int(i) // cols, int(i) % cols) for i in order]
        pts = [pt for pt in pts if pt not in done][:batch]
        if outside:
            pts = [(rows + 5, 0), (0, cols), *pts]
        points = np.array(pts, dtype=np.int64).reshape(-1, 2)
        version = len(self.points(campaign_id))
        self._send(ident, p.Plan(campaign_id, version, points,
                                 np.linspace(1.0, 0.0, len(points)), "ei", version))
        self.plans_sent += 1

    def _send_malformed_plan(self, ident: bytes, campaign_id: str) -> None:
        """A plan whose ``points`` is 1-D (valid msgpack, correctly signed, wrong shape)."""
        header = {"version": 1, "msg_type": "plan", "msg_id": p.new_id(),
                  "sender": "fake-planner", "session": self.session.session_id,
                  "seq": self.session.next_seq(), "time": time.time(), "parent_id": ""}
        content = {"campaign_id": campaign_id, "model_version": 999,
                   "points": {"dtype": "<i8", "shape": [2], "buffer": 0},
                   "scores": {"dtype": "<f8", "shape": [2], "buffer": 1}}
        payload = [msgpack.packb(header), msgpack.packb(content),
                   np.array([999, 999], dtype="<i8").tobytes(),
                   np.zeros(2, dtype="<f8").tobytes()]
        frames = [ident, p.DELIMITER, self.session.signer.sign(payload), *payload]
        assert self.sock is not None
        self.sock.send_multipart(frames)
        self.malformed_sent += 1
