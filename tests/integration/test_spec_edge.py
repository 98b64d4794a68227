"""An edge written only from docs/protocol.md (tests/peers/spec_edge.py: no project code) runs
a campaign against the real gateway and handles the codes of spec 1.1 as section 8 says."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from planner_cluster.state import PlanRecord, StateStore
from tests.conftest import wait_for
from tests.peers.spec_edge import SpecEdge

from .gateway_harness import KEY, running_gateway

pytestmark = pytest.mark.integration

IMAGE = np.zeros((12, 12), np.float32)


def write_seed_plan(store: StateStore, cid: str) -> threading.Thread:
    """What the campaign's worker does (this test runs the gateway alone)."""
    def plan() -> None:
        wait_for(lambda: store.get_campaign(cid) and store.get_scan(cid), 30, what="the scan")
        points = np.array([[r, (5 * r) % 12] for r in range(12)], np.int32)
        store.put_plan(cid, PlanRecord(0, points, np.linspace(1, 0, 12, dtype=np.float32),
                                       "seed", 0.0))
    thread = threading.Thread(target=plan, daemon=True)
    thread.start()
    return thread


def test_a_spec_only_edge_runs_a_campaign_to_the_planners_budget(store: StateStore) -> None:
    with running_gateway(store, heartbeat_s=0.5) as (_gw, endpoint):
        edge = SpecEdge(endpoint, "vendor-edge", KEY.decode())
        try:
            write_seed_plan(store, "v1")
            how, acked, codes = edge.run("v1", {"budget": {"points": 5}}, IMAGE, 16,
                                         max_points=12)
        finally:
            edge.close()
    assert (how, acked) == ("finished", 5)
    assert codes in ([], ["campaign_ended"])  # a measurement in flight when it finished
    record = store.require_campaign("v1")
    assert (record.status, record.n_measured) == ("finished", 5)


def test_a_spec_only_edge_is_told_exactly_which_setting_is_wrong(store: StateStore) -> None:
    with running_gateway(store, heartbeat_s=0.5) as (_gw, endpoint):
        edge = SpecEdge(endpoint, "vendor-edge", KEY.decode())
        try:
            how, acked, codes = edge.run("v2", {"acquisition": {"name": "ucb", "beta": 2.0}},
                                         IMAGE, 16, max_points=3)
        finally:
            edge.close()
    assert how == "refused: bad_field config.acquisition.beta" and acked == 0
    assert store.get_campaign("v2") is None


def test_a_spec_only_edge_waits_for_capacity_instead_of_waiting_forever(
        store: StateStore) -> None:
    with running_gateway(store, heartbeat_s=0.5, max_active_campaigns=1,
                         retry_after_s=0.5) as (_gw, endpoint):
        store.create_campaign("busy", edge_id="other", owner="o", config={},
                              spectral_axis=None)
        store.transition("busy", "scan")
        edge = SpecEdge(endpoint, "vendor-edge", KEY.decode())
        try:
            write_seed_plan(store, "v3")
            threading.Timer(2.0, store.transition, ("busy", "finish")).start()
            how, acked, codes = edge.run("v3", {"budget": {"points": 3}}, IMAGE, 16,
                                         max_points=3)
        finally:
            edge.close()
    assert how == "finished" and acked == 3
    assert codes[0] == "no_capacity"
