"""``max_active_campaigns`` across two gateways on one Redis prefix, over real sockets: edges
sending their scans at the same moment to both gateways get exactly ``limit`` campaigns
started, the rest ``no_capacity``; a place freed by a campaign that ends takes a resent scan."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import protocol as p
from planner_cluster.gateway import Gateway
from planner_cluster.state import StateStore
from planner_cluster.state.capacity import ActiveSlots

from .gateway_harness import EdgeClient, running_gateway

pytestmark = pytest.mark.integration

LIMIT = 3
EDGES = 10
IMAGE = np.zeros((10, 12), np.float32)


@pytest.fixture
def two(store: StateStore) -> Iterator[list[tuple[Gateway, str]]]:
    settings = {"heartbeat_s": 0.5, "max_active_campaigns": LIMIT, "retry_after_s": 1.0}
    with running_gateway(store, gateway_id="gw-a", **settings) as a, \
            running_gateway(store, gateway_id="gw-b", **settings) as b:
        yield [a, b]


def test_edges_racing_scans_on_two_gateways_never_pass_the_limit(
        two: list[tuple[Gateway, str]], store: StateStore) -> None:
    edges = [EdgeClient(two[i % 2][1], f"edge-{i}") for i in range(EDGES)]
    try:
        for i, edge in enumerate(edges):  # every campaign created, none scanned yet
            edge.request(p.Hello(edge.edge_id, {"name": "test"}), p.Welcome)
            started = edge.request(p.CampaignStart(f"c{i}", {}), p.Ack)
            assert isinstance(started.body, p.Ack), started.body
        barrier = threading.Barrier(EDGES)
        replies: dict[int, p.Message] = {}

        def scan(i: int) -> None:
            barrier.wait(30)
            replies[i] = edges[i].request(p.Scan(f"c{i}", IMAGE), p.Ack)

        threads = [threading.Thread(target=scan, args=(i,)) for i in range(EDGES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        taken = sorted(i for i, m in replies.items() if isinstance(m.body, p.Ack))
        refused = sorted(i for i, m in replies.items()
                         if isinstance(m.body, p.Error) and m.body.code == "no_capacity")
        assert len(taken) == LIMIT and len(refused) == EDGES - LIMIT, replies
        assert {c.campaign_id for c in store.list_campaigns() if c.status == "running"} == {
            f"c{i}" for i in taken}

        store.transition(f"c{taken[0]}", "abort", reason="test")  # however it ends
        again = edges[refused[0]].request(p.Scan(f"c{refused[0]}", IMAGE), p.Ack)
        assert isinstance(again.body, p.Ack), again.body
        still_full = edges[refused[1]].request(p.Scan(f"c{refused[1]}", IMAGE), p.Ack)
        assert isinstance(still_full.body, p.Error) and still_full.body.code == "no_capacity"
        assert sorted(ActiveSlots(store).holders()) == sorted(
            [f"c{i}" for i in taken[1:]] + [f"c{refused[0]}"])
    finally:
        for edge in edges:
            edge.close()
