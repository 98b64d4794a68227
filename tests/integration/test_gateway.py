"""The gateway over real sockets with a real Redis: conversation, refusals, exactly-once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import protocol as p
from planner_cluster.state import PlanRecord, StateStore

from .gateway_harness import EdgeClient, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(store: StateStore) -> Iterator[tuple[object, str]]:
    with running_gateway(store, heartbeat_s=0.5) as gw:
        yield gw


@pytest.fixture
def edge(gateway: tuple[object, str]) -> Iterator[EdgeClient]:
    client = EdgeClient(gateway[1])
    yield client
    client.close()


def start(edge: EdgeClient, cid: str = "c1") -> None:
    assert isinstance(edge.request(p.Hello(edge.edge_id, {"name": "test"}), p.Welcome).body,
                      p.Welcome)
    ack = edge.request(p.CampaignStart(cid, {"owner": "alice"},
                                       spectral_axis=np.linspace(0, 1, 8)), p.Ack)
    assert isinstance(ack.body, p.Ack) and ack.body.detail == "created"
    ack = edge.request(p.Scan(cid, np.zeros((10, 12), np.float32), ["height"]), p.Ack)
    assert isinstance(ack.body, p.Ack)


def test_conversation_stores_measurements_once(edge: EdgeClient, store: StateStore) -> None:
    start(edge)
    body = p.Measurement("c1", 2, 3, np.arange(8, dtype=np.float32))
    first = edge.send(body)
    ack = edge.recv_type(p.Ack)
    assert ack.body == p.Ack(first.header.seq, "stored")
    edge.send(body, seq=first.header.seq)  # a resend: same session and seq
    assert edge.recv_type(p.Ack).body == p.Ack(first.header.seq, "duplicate")
    assert store.count_measurements("c1") == 1
    assert store.require_campaign("c1").status == "running"


def test_measurement_reply_carries_the_plan_minus_measured(edge: EdgeClient,
                                                           store: StateStore) -> None:
    start(edge)
    store.put_plan("c1", PlanRecord(1, np.array([[2, 3], [4, 5], [6, 7]], np.int32),
                                    np.array([3.0, 2.0, 1.0], np.float32), "ei", 0.0))
    store.add_vetoes("c1", [(6, 7)])
    edge.send(p.Measurement("c1", 2, 3, np.ones(8, np.float32)))
    plan = edge.recv_type(p.Plan)
    while plan.header.parent_id == "":  # skip the plan pushed when it was written
        plan = edge.recv_type(p.Plan)
    assert plan.body.points.tolist() == [[4, 5]]  # type: ignore[attr-defined]
    assert plan.body.measured == 1  # type: ignore[attr-defined]


def test_a_resend_gets_its_ack_only(edge: EdgeClient, store: StateStore) -> None:
    start(edge)
    store.put_plan("c1", PlanRecord(1, np.array([[4, 5]], np.int32), np.ones(1, np.float32),
                                    "ei", 0.0))
    edge.recv_type(p.Plan)  # the push
    body = p.Measurement("c1", 2, 3, np.ones(8, np.float32))
    first = edge.send(body)
    assert edge.recv_type(p.Ack).body == p.Ack(first.header.seq, "stored")
    assert edge.recv_type(p.Plan).header.parent_id == first.header.msg_id
    again = edge.send(body, seq=first.header.seq)
    assert edge.recv_type(p.Ack).body == p.Ack(first.header.seq, "duplicate")
    with pytest.raises(p.TransportError):  # no plan for a resend (resend storms stay cheap)
        while True:
            assert edge.recv(timeout_s=1.0).header.parent_id != again.header.msg_id


def test_new_plans_are_pushed_unasked(edge: EdgeClient, store: StateStore) -> None:
    start(edge)
    store.put_plan("c1", PlanRecord(2, np.array([[1, 1]], np.int32), np.ones(1, np.float32),
                                    "ucb", 0.0))
    plan = edge.recv_type(p.Plan)
    assert plan.body.model_version == 2  # type: ignore[attr-defined]


def test_refusals_are_precise_and_the_gateway_survives(edge: EdgeClient,
                                                       store: StateStore) -> None:
    no_hello = edge.request(p.Heartbeat("x"), p.Heartbeat)
    assert no_hello.body.code == "not_welcomed"  # type: ignore[attr-defined]
    start(edge)
    unknown = edge.request(p.Measurement("nope", 0, 0, np.ones(2)), p.Ack)
    assert unknown.body.code == "unknown_campaign"  # type: ignore[attr-defined]
    outside = edge.request(p.Measurement("c1", 10, 0, np.ones(2)), p.Ack)
    assert outside.body.code == "out_of_bounds"  # type: ignore[attr-defined]
    conflict = edge.request(p.CampaignStart("c1", {}), p.Ack)
    assert conflict.body.code == "conflict"  # type: ignore[attr-defined]
    edge.sock.send_multipart([b"junk", b"frames"])
    err = edge.recv_type(p.Error)
    assert err.body.code == "malformed_frames"  # type: ignore[attr-defined]
    wrong = edge.request(p.Welcome("x", 1, 1.0), p.Ack)
    assert wrong.body.code == "unknown_msg_type"  # type: ignore[attr-defined]
    assert edge.request(p.Heartbeat("alive"), p.Heartbeat).body == p.Heartbeat("ok")


def test_a_spectrum_of_another_length_is_refused(edge: EdgeClient, store: StateStore) -> None:
    start(edge)  # spectral axis of 8 values
    for values in (7, 9, 1, 64):
        reply = edge.request(p.Measurement("c1", 1, 1, np.ones(values, np.float32)), p.Ack)
        assert reply.body.code == "bad_shape", values  # type: ignore[attr-defined]
        assert f"spectrum has {values} values; campaign c1 has 8" in reply.body.message  # type: ignore[attr-defined]
    assert store.count_measurements("c1") == 0
    assert edge.request(p.Measurement("c1", 1, 1, np.ones(8, np.float32)), p.Ack).body.status \
        == "stored"  # type: ignore[attr-defined]


def test_without_an_axis_the_first_spectrum_sets_the_length(edge: EdgeClient,
                                                            store: StateStore) -> None:
    assert isinstance(edge.request(p.Hello(edge.edge_id, {"name": "test"}), p.Welcome).body,
                      p.Welcome)
    assert edge.request(p.CampaignStart("c2", {}), p.Ack).body.detail == "created"  # type: ignore[attr-defined]
    edge.request(p.Scan("c2", np.zeros((4, 4), np.float32), ["height"]), p.Ack)
    assert edge.request(p.Measurement("c2", 0, 0, np.ones(5)), p.Ack).body.status == "stored"  # type: ignore[attr-defined]
    other = edge.request(p.Measurement("c2", 0, 1, np.ones(6)), p.Ack)
    assert other.body.code == "bad_shape"  # type: ignore[attr-defined]
    assert store.count_measurements("c2") == 1


def test_one_edge_runs_a_bounded_number_of_campaigns(store: StateStore) -> None:
    with running_gateway(store, max_live_campaigns_per_edge=2) as (_, endpoint):
        edge, other = EdgeClient(endpoint), EdgeClient(endpoint, edge_id="edge-2")
        try:
            for client in (edge, other):
                client.request(p.Hello(client.edge_id, {"name": "test"}), p.Welcome)
            for cid in ("a", "b"):
                assert edge.request(p.CampaignStart(cid, {}), p.Ack).body.detail == "created"  # type: ignore[attr-defined]
            third = edge.request(p.CampaignStart("c", {}), p.Ack)
            assert third.body.code == "conflict"  # type: ignore[attr-defined]
            assert "already runs 2 campaigns" in third.body.message  # type: ignore[attr-defined]
            assert store.get_campaign("c") is None
            resumed = edge.request(p.CampaignStart("a", {}, resume=True), p.Ack)
            assert resumed.body.detail == "resumed"  # type: ignore[attr-defined]
            assert other.request(p.CampaignStart("d", {}), p.Ack).body.detail == "created"  # type: ignore[attr-defined]
            store.transition("a", "finish")  # a finished campaign frees its place
            assert edge.request(p.CampaignStart("c", {}), p.Ack).body.detail == "created"  # type: ignore[attr-defined]
        finally:
            edge.close()
            other.close()


def test_one_edge_cannot_touch_another_edges_campaign(gateway: tuple[object, str],
                                                      edge: EdgeClient,
                                                      store: StateStore) -> None:
    start(edge)
    intruder = EdgeClient(gateway[1], "edge-2")
    try:
        intruder.request(p.Hello("edge-2", {}), p.Welcome)
        for body in (p.Measurement("c1", 0, 0, np.ones(2)), p.Scan("c1", np.ones((2, 2))),
                     p.Control("c1", "stop"), p.CampaignStart("c1", {}, resume=True)):
            reply = intruder.request(body, p.Ack)
            assert reply.body.code == "forbidden", body  # type: ignore[attr-defined]
        assert store.count_measurements("c1") == 0
    finally:
        intruder.close()


def test_forged_signature_is_refused(gateway: tuple[object, str], store: StateStore) -> None:
    forger = EdgeClient(gateway[1], "edge-9", key=b"not-the-key-not-the-key-not-the-key")
    try:
        forger.send(p.Hello("edge-9", {}))
        # the refusal is signed with the real key, which the forger cannot check either
        with pytest.raises(p.AuthenticationError):
            forger.recv()
        assert store.edge("edge-9") is None
        assert gateway[0].stats["errors"] == 1  # type: ignore[attr-defined]
    finally:
        forger.close()


def test_sender_must_match_connection_identity(gateway: tuple[object, str]) -> None:
    liar = EdgeClient(gateway[1], "edge-3")
    liar.session.sender = "edge-1"
    try:
        reply = liar.request(p.Hello("edge-1", {}), p.Welcome)
        assert reply.body.code == "forbidden"  # type: ignore[attr-defined]
    finally:
        liar.close()


def test_dashboard_control_reaches_the_edge_and_its_ack_is_recorded(
        edge: EdgeClient, store: StateStore) -> None:
    start(edge)
    store.push_control("c1", {"action": "pause", "user": "alice", "control_id": "k1"},
                       origin="dashboard")
    control = edge.recv_type(p.Control)
    assert control.body.action == "pause" and control.body.user == "alice"  # type: ignore
    edge.send(p.Ack(control.header.seq, "accepted"), parent=control.header)
    from tests.conftest import wait_for

    wait_for(lambda: any(e.kind == "control_result" and e.data["status"] == "accepted"
                         for e in store.recent_events("c1")), what="control result event")
    assert store.require_campaign("c1").status == "paused"
