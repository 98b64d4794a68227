"""Two gateways on one Redis prefix, in this process over real sockets: a message replayed to
the other gateway is refused, a dashboard control is applied and forwarded exactly once (by
the gateway holding the edge), and a failed-over edge is held by its new gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zmq

import protocol as p
from planner_cluster.gateway import Gateway
from planner_cluster.state import StateStore
from protocol import transport

from .gateway_harness import EdgeClient, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def two(store: StateStore) -> Iterator[list[tuple[Gateway, str]]]:
    with running_gateway(store, heartbeat_s=0.5, gateway_id="gw-a") as a, \
            running_gateway(store, heartbeat_s=0.5, gateway_id="gw-b") as b:
        yield [a, b]


def start(edge: EdgeClient, cid: str) -> None:
    edge.request(p.Hello(edge.edge_id, {"name": "test"}), p.Welcome)
    edge.request(p.CampaignStart(cid, {"owner": "alice"}, spectral_axis=np.linspace(0, 1, 8)),
                 p.Ack)
    edge.request(p.Scan(cid, np.zeros((10, 12), np.float32), ["height"]), p.Ack)


def wait_for(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_message_replayed_to_another_gateway_is_refused(two: list[tuple[Gateway, str]],
                                                          store: StateStore) -> None:
    (_, a), (_, b) = two
    edge = EdgeClient(a, "edge-r")
    start(edge, "cr")
    msg = edge.session.message(p.Control("cr", "pause", {}, control_id="ctl-1"))
    frames = edge.session.encode(msg)
    edge.sock.send_multipart(frames)
    assert edge.recv_type(p.Ack).body == p.Ack(msg.header.seq, "accepted")
    edge.close()
    thief_ctx: zmq.Context[Any] = zmq.Context()
    thief = transport.make_dealer(thief_ctx, b, "edge-r")
    try:
        thief.send_multipart(frames)  # the captured bytes, to the other gateway
        _, reply = transport.recv(thief, p.Session("edge-r", p.Signer(
            b"integration-test-signing-key-01234")), 10)
        assert isinstance(reply.body, p.Error) and reply.body.code == "replayed"
    finally:
        thief.close(linger=0)
        thief_ctx.term()
    assert store.require_campaign("cr").status == "paused"


def test_a_dashboard_control_is_applied_and_forwarded_once(two: list[tuple[Gateway, str]],
                                                          store: StateStore) -> None:
    (gw_a, a), (gw_b, _) = two
    edge = EdgeClient(a, "edge-c")
    try:
        start(edge, "cc")
        wait_for(lambda: store.r.get(store.key("edge", "edge-c", "gateway")) == b"gw-a")
        store.push_control("cc", {"action": "pause", "args": {}, "user": "bob",
                                  "control_id": "dash-1"}, origin="monitor")
        control = edge.recv_type(p.Control, timeout_s=30)
        assert control.body.control_id == "dash-1"  # type: ignore[attr-defined]
        wait_for(lambda: store.require_campaign("cc").status == "paused")
        time.sleep(gw_b.settings.control_grace_s + 1)  # past the other gateway's wait
        with pytest.raises(p.TransportError):
            edge.recv_type(p.Control, timeout_s=1.0)
        results = [e for e in store.recent_events("cc", 200) if e.kind == "control_result"]
        assert not [e for e in results if e.data.get("status") == "refused"], results
        statuses = [e for e in store.recent_events("cc", 200) if e.kind == "status"
                    and e.data.get("event") == "pause"]
        assert len(statuses) == 1
    finally:
        edge.close()


def test_an_edge_that_fails_over_is_held_by_its_new_gateway(two: list[tuple[Gateway, str]],
                                                            store: StateStore) -> None:
    (_, a), (_, b) = two
    first = EdgeClient(a, "edge-f")
    start(first, "cf")
    first.close()
    again = EdgeClient(b, "edge-f")
    try:
        again.request(p.Hello("edge-f", {"name": "test"}), p.Welcome)
        assert store.r.get(store.key("edge", "edge-f", "gateway")) == b"gw-b"
        sent = again.send(p.Measurement("cf", 1, 1, np.ones(8, np.float32)))
        ack = again.recv_type(p.Ack)
        assert ack.body == p.Ack(sent.header.seq, "stored")
        again.send(p.Bye("done", "cf"))
        wait_for(lambda: store.r.get(store.key("edge", "edge-f", "gateway")) is None)
    finally:
        again.close()
