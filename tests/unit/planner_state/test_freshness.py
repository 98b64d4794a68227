"""Plan freshness (state/freshness.py) on a real Redis: the plan data age is 0 when the plan
used every measurement, else the time since the oldest one it has not used arrived."""

from __future__ import annotations

import time

import numpy as np

from planner_cluster.state import PlanRecord, StateStore
from planner_cluster.state.freshness import CURSOR, data_age, plan_freshness


def test_data_age() -> None:
    assert data_age(100.0, None) == 0.0
    assert data_age(100.0, 97.5) == 2.5
    assert data_age(100.0, 100.5) == 0.0  # clocks a little apart never make it negative


def campaign_with(store: StateStore, n: int) -> list[float]:
    store.create_campaign("c1", edge_id="e", owner="o", config={}, spectral_axis=None)
    for i in range(n):
        store.add_measurement("c1", sender="e", session="s", seq=i, row=i, col=0,
                              spectrum=np.zeros(4, np.float32))
    return [m.received for m in store.read_measurements("c1")]


def plan(store: StateStore, **stats: object) -> None:
    store.put_plan("c1", PlanRecord(1, np.zeros((1, 2), np.int32), np.zeros(1, np.float32),
                                    "ei", time.time(), dict(stats)))


def test_no_plan_no_freshness(store: StateStore) -> None:
    campaign_with(store, 2)
    assert plan_freshness(store, store.require_campaign("c1")) is None


def test_a_plan_that_used_every_measurement_is_fresh(store: StateStore) -> None:
    campaign_with(store, 3)
    cursor = store.read_measurements("c1")[-1].stream_id
    plan(store, n_observed=3, **{CURSOR: cursor})
    fresh = plan_freshness(store, store.require_campaign("c1"), now=time.time() + 60)
    assert fresh is not None
    assert (fresh.lag, fresh.oldest_unplanned, fresh.data_age_s) == (0, None, 0.0)


def test_the_age_counts_from_the_oldest_measurement_the_plan_has_not_used(
        store: StateStore) -> None:
    received = campaign_with(store, 5)
    cursor = store.read_measurements("c1")[1].stream_id  # the plan used the first two
    plan(store, n_observed=2, **{CURSOR: cursor})
    fresh = plan_freshness(store, store.require_campaign("c1"), now=received[2] + 7.0)
    assert fresh is not None
    assert (fresh.n_observed, fresh.lag, fresh.oldest_unplanned) == (2, 3, received[2])
    assert fresh.data_age_s == 7.0


def test_a_seed_plan_has_used_nothing(store: StateStore) -> None:
    received = campaign_with(store, 2)
    plan(store, by="gateway")
    fresh = plan_freshness(store, store.require_campaign("c1"), now=received[0] + 1.0)
    assert fresh is not None and fresh.oldest_unplanned == received[0]
    assert fresh.data_age_s == 1.0


def test_a_plan_without_a_cursor_is_placed_by_its_count(store: StateStore) -> None:
    received = campaign_with(store, 4)
    plan(store, n_observed=3)  # written before plans named their cursor
    fresh = plan_freshness(store, store.require_campaign("c1"), now=received[3] + 2.0)
    assert fresh is not None and fresh.oldest_unplanned == received[3] and fresh.lag == 1
