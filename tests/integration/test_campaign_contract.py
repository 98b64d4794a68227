"""The campaign contract (protocol spec 1.1) over real sockets against a real gateway and a
real Redis: settings checked at the door, one lifecycle, errors that name what they answer,
explicit capacity, the planner's budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import protocol as p
from edge_agent import EdgeConfig, Spool
from planner_cluster.idle import reap_idle_campaigns
from planner_cluster.state import PlanRecord, StateStore
from tests.conftest import wait_for
from tests.peers.edge_harness import edge_config, start_agent

from .gateway_harness import KEY, EdgeClient, running_gateway

pytestmark = pytest.mark.integration

AXIS = np.linspace(-1.0, 1.0, 8)
IMAGE = np.zeros((10, 12), np.float32)


@pytest.fixture
def edge(store: StateStore) -> Iterator[EdgeClient]:
    with running_gateway(store, heartbeat_s=0.5, max_active_campaigns=2,
                         retry_after_s=3.0) as gw:
        client = EdgeClient(gw[1])
        assert isinstance(client.request(p.Hello(client.edge_id, {"name": "t"}),
                                         p.Welcome).body, p.Welcome)
        yield client
        client.close()


def start(edge: EdgeClient, cid: str, config: dict[str, Any] | None = None,
          scan: bool = True) -> p.Message:
    reply = edge.request(p.CampaignStart(cid, config or {}, spectral_axis=AXIS), p.Ack)
    if scan and isinstance(reply.body, p.Ack):
        assert isinstance(edge.request(p.Scan(cid, IMAGE), p.Ack).body, p.Ack)
    return reply


def measure(edge: EdgeClient, cid: str, row: int, col: int = 0) -> p.Message:
    return edge.request(p.Measurement(cid, row, col, np.ones(8, np.float32)), p.Ack)


@pytest.mark.parametrize(("config", "path"), [
    ({"batch": "x"}, "config.batch"), ({"batch": -3}, "config.batch"),
    ({"acquisition": "nope"}, "config.acquisition.name"), ({"scalarizer": "nope"},
                                                           "config.scalarizer"),
    ({"budget": "lots"}, "config.budget"), ({"patchsize": 3}, "config.patchsize"),
    ({"scalarizer": {"name": "band_integral", "params": {"lo": 5.0, "hi": 9.0}}},
     "config.scalarizer.params"),  # a window outside the spectral axis
])
def test_bad_settings_are_refused_at_the_door_and_nothing_is_stored(
        edge: EdgeClient, store: StateStore, config: dict[str, Any], path: str) -> None:
    reply = start(edge, "bad", config, scan=False)
    assert isinstance(reply.body, p.Error), reply.body
    assert reply.body.code == "bad_field" and reply.body.detail["field"] == path
    assert path.removeprefix("config.") in reply.body.message
    assert store.get_campaign("bad") is None


def test_every_error_names_the_message_it_answers(edge: EdgeClient) -> None:
    start(edge, "c1")
    bad = edge.send(p.Measurement("c1", 99, 0, np.ones(8, np.float32)))
    err = edge.recv_type(p.Error)
    assert err.header.parent_id == bad.header.msg_id and err.body.detail["seq"] == bad.header.seq
    # refused before its body could be read: a forged signature still gets its parent id
    forger = p.Session(edge.edge_id, p.Signer(b"not-the-key-not-the-key"))
    forged = forger.message(p.Heartbeat("ok"))
    edge.sock.send_multipart(forger.encode(forged))
    err = edge.recv_type(p.Error)
    assert err.body.code == "bad_signature"
    assert err.header.parent_id == forged.header.msg_id
    assert err.body.detail["seq"] == forged.header.seq


def test_a_measurement_before_the_scan_asks_for_the_scan(edge: EdgeClient) -> None:
    start(edge, "c1", scan=False)
    reply = measure(edge, "c1", 0)
    assert isinstance(reply.body, p.Error) and reply.body.code == "scan_required"


def test_one_field_of_view_per_campaign(edge: EdgeClient, store: StateStore) -> None:
    start(edge, "c1")
    again = edge.request(p.Scan("c1", IMAGE), p.Ack)  # the same scan resent: a duplicate
    assert isinstance(again.body, p.Ack) and again.body.status == "duplicate"
    other = edge.request(p.Scan("c1", IMAGE + 1), p.Ack)
    assert isinstance(other.body, p.Error) and other.body.code == "conflict"
    assert float(store.get_scan("c1")[0].max()) == 0.0  # never silently replaced


def test_the_planner_enforces_the_budget_and_refuses_more(edge: EdgeClient,
                                                          store: StateStore) -> None:
    start(edge, "c1", {"budget": {"points": 3}})
    for row in range(3):
        assert isinstance(measure(edge, "c1", row).body, p.Ack)
    assert store.require_campaign("c1").status == "finished"
    late = measure(edge, "c1", 5)
    assert isinstance(late.body, p.Error) and late.body.code == "campaign_ended"
    assert late.body.detail["status"] == "finished"
    assert store.count_measurements("c1") == 3


def test_a_finished_campaign_cannot_be_resumed(edge: EdgeClient, store: StateStore) -> None:
    start(edge, "c1")
    store.transition("c1", "finish")
    reply = edge.request(p.Control("c1", "resume"), p.Ack)
    assert isinstance(reply.body, p.Ack) and reply.body.status == "refused"
    assert "finished" in reply.body.detail
    assert store.require_campaign("c1").status == "finished"


def test_bye_names_its_campaign(edge: EdgeClient, store: StateStore) -> None:
    start(edge, "c1")
    start(edge, "c2")
    edge.send(p.Bye("done", campaign_id="c1"))
    edge.request(p.Hello(edge.edge_id, {"name": "t"}), p.Welcome)  # bye is not answered
    assert store.require_campaign("c1").status == "finished"
    assert store.require_campaign("c2").status == "running"


def test_capacity_is_explicit(edge: EdgeClient, store: StateStore) -> None:
    start(edge, "c1")
    start(edge, "c2")
    start(edge, "c3", scan=False)
    assert store.require_campaign("c3").status == "created"  # no worker without a scan
    full = edge.request(p.Scan("c3", IMAGE), p.Ack)
    assert isinstance(full.body, p.Error) and full.body.code == "no_capacity"
    assert full.body.detail["retry_after_s"] == 3.0
    assert store.require_campaign("c3").stats["waiting"] == "capacity"
    kinds = [e.kind for e in store.read_events("0-0", campaign_id="c3")]
    assert "waiting_for_capacity" in kinds
    store.transition("c1", "finish")  # a place frees: the resent scan is taken
    assert isinstance(edge.request(p.Scan("c3", IMAGE), p.Ack).body, p.Ack)
    assert store.require_campaign("c3").status == "running"


def test_idle_campaigns_without_an_edge_are_aborted_with_a_reason(
        edge: EdgeClient, store: StateStore) -> None:
    start(edge, "c1")
    # the gateway writes the seed plan on a background thread; under load it can land after
    # the reaper's status event, which is the one this test reads
    wait_for(lambda: store.get_plan("c1") is not None, 60, what="the gateway's seed plan")
    assert reap_idle_campaigns(store, idle_s=3600.0) == []
    edge.send(p.Bye("gone for lunch", campaign_id="other"))  # refused: not its campaign
    store.touch_edge(edge.edge_id, campaign_id=None, state="gone", ttl_s=60.0)
    assert reap_idle_campaigns(store, idle_s=0.0) == ["c1"]
    record = store.require_campaign("c1")
    assert record.status == "aborted"
    last = store.read_events("0-0", campaign_id="c1")[-1]
    assert last.kind == "status" and "idle" in last.data["reason"]


# -- the edge agent against the real gateway ---------------------------------------------------

def _edge(endpoint: str, tmp_path: Path, **overrides: Any) -> EdgeConfig:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    return edge_config(endpoint, tmp_path / "spool", signing_key_file=str(key), **overrides)


def test_an_edge_with_a_bad_setting_stops_with_the_configuration_error_code(
        store: StateStore, tmp_path: Path) -> None:
    with running_gateway(store, heartbeat_s=0.5) as (_gw, endpoint):
        result = start_agent(_edge(endpoint, tmp_path, acquisition="nope")).join(60)
    assert (result.state, result.exit_code, result.error_code) == ("failed", 2, "bad_field")
    assert "acquisition.name" in result.error
    assert store.get_campaign("c1") is None


def test_an_edge_stops_when_the_planner_ends_the_campaign_and_keeps_the_rest(
        store: StateStore, tmp_path: Path) -> None:
    """The edge has no budget of its own: the planner finishes the campaign at 3, and every
    measurement the edge sent after that is refused and kept in its spool."""
    with running_gateway(store, heartbeat_s=0.5) as (_gw, endpoint):
        cfg = _edge(endpoint, tmp_path, max_points=None,
                    campaign_config={"budget": {"points": 3}, "seeds": 8})
        run = start_agent(cfg)
        # the plan a worker would write (this test runs the gateway alone)
        wait_for(lambda: store.get_campaign("c1"), 60, what="campaign_start")
        points = np.array([[r, 2 * r] for r in range(10)], np.int32)
        store.put_plan("c1", PlanRecord(0, points, np.arange(10, 0, -1, dtype=np.float32),
                                        "seed", 0.0))
        result = run.join(60)
    assert result.state == "finished" and store.require_campaign("c1").status == "finished"
    assert store.count_measurements("c1") == 3
    with Spool(tmp_path / "spool") as spool:
        assert spool.count == result.pending and spool.rejected_count() == result.rejected
    assert result.acked == 3 and result.measured == 3 + result.pending + result.rejected


def test_an_edge_waiting_for_capacity_resends_its_scan_when_the_planner_says(
        store: StateStore, tmp_path: Path) -> None:
    """``no_capacity`` carries ``retry_after_s``: the edge resends its scan after that long,
    not after its own (here very long) resend interval."""
    with running_gateway(store, heartbeat_s=0.5, max_active_campaigns=1,
                         retry_after_s=0.5) as (_gw, endpoint):
        other = EdgeClient(endpoint)
        other.request(p.Hello(other.edge_id, {"name": "t"}), p.Welcome)
        start(other, "c0")  # holds the only place
        run = start_agent(_edge(endpoint, tmp_path, resend_after_s=600.0))
        wait_for(lambda: (c := store.get_campaign("c1")) is not None
                 and c.stats.get("waiting") == "capacity", 60, what="c1 waiting for capacity")
        store.transition("c0", "finish")  # a place frees
        wait_for(lambda: store.require_campaign("c1").status == "running", 60,
                 what="the scan resent after retry_after_s")
        run.agent.submit("abort")
        run.join(60)
        other.close()
