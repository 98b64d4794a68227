"""A plan before the model: the gateway hands the edge its seed plan as soon as the scan is
stored, with no worker running, and a worker that starts later continues it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import protocol as p
from planner_cluster.campaign import CampaignSettings
from planner_cluster.planning import PlanningCore
from planner_cluster.planning.seeds import seed_plan
from planner_cluster.state import PlanRecord, StateStore

from .gateway_harness import EdgeClient, running_gateway

pytestmark = pytest.mark.integration

CONFIG = {"owner": "alice", "patch": 3, "seeds": 4, "plan_size": 6}
IMAGE = np.random.default_rng(5).normal(size=(12, 14)).astype(np.float32)


@pytest.fixture
def edge(store: StateStore) -> Iterator[EdgeClient]:
    with running_gateway(store, heartbeat_s=0.5) as (_gw, endpoint):
        client = EdgeClient(endpoint)
        yield client
        client.close()


def test_the_scan_brings_the_seed_plan_without_a_worker(edge: EdgeClient,
                                                        store: StateStore) -> None:
    edge.request(p.Hello(edge.edge_id, {"name": "test"}), p.Welcome)
    edge.request(p.CampaignStart("c1", CONFIG, spectral_axis=np.linspace(0, 1, 8)), p.Ack)
    ack = edge.request(p.Scan("c1", IMAGE, ["height"]), p.Ack)
    assert ack.body == p.Ack(ack.body.seq, "stored")  # type: ignore[attr-defined]
    plan = edge.recv_type(p.Plan, timeout_s=30)
    expected = seed_plan(CampaignSettings.from_config(CONFIG), IMAGE)
    assert plan.body.model_version == 0  # type: ignore[attr-defined]
    assert plan.body.points.tolist() == expected.tolist()  # type: ignore[attr-defined]
    assert store.get_plan("c1").stats["by"] == "gateway"  # type: ignore[union-attr]

    # the first measurement's reply is the same plan less the point measured
    first = [int(v) for v in expected[0]]
    sent = edge.send(p.Measurement("c1", first[0], first[1], np.ones(8, np.float32)))
    reply = edge.recv_type(p.Plan)
    while reply.header.parent_id != sent.header.msg_id:
        reply = edge.recv_type(p.Plan)
    assert reply.body.points.tolist() == expected[1:].tolist()  # type: ignore[attr-defined]

    # the worker's first plan, on what was measured since, continues the seed plan
    core = PlanningCore(CampaignSettings.from_config(CONFIG), IMAGE)
    core.observe([first], [np.ones(8)])
    assert core.plan().points.tolist() == expected[1:].tolist()


def test_the_seed_plan_never_replaces_a_plan(store: StateStore) -> None:
    from planner_cluster.gateway.seeding import write_seed_plan

    store.create_campaign("c2", edge_id="e", owner="o", config=CONFIG, spectral_axis=None)
    store.put_plan("c2", PlanRecord(3, np.array([[1, 1]], np.int32), np.ones(1, np.float32),
                                    "ei", 0.0))
    assert not write_seed_plan(store, "c2", CONFIG, IMAGE)
    assert store.get_plan("c2").model_version == 3  # type: ignore[union-attr]


def test_no_seed_plan_lands_after_the_campaign_ended(store: StateStore) -> None:
    # the gateway computes the seed plan on a background thread: an abort can come first
    from planner_cluster.gateway.seeding import write_seed_plan

    store.create_campaign("c3", edge_id="e", owner="o", config=CONFIG, spectral_axis=None)
    store.transition("c3", "abort")
    assert not write_seed_plan(store, "c3", CONFIG, IMAGE)
    assert store.get_plan("c3") is None
    store.create_campaign("c4", edge_id="e", owner="o", config=CONFIG, spectral_axis=None)
    assert write_seed_plan(store, "c4", CONFIG, IMAGE)
