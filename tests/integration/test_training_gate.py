"""The training gate on a real local Ray: fits take turns, the most stale plan goes first, and
a killed holder's slot comes back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from planner_cluster.actors.supervisor import NAMESPACE, Supervisor
from planner_cluster.actors.training_gate import TrainingGate, gate_name, gate_on_node
from planner_cluster.state import StateStore
from tests.conftest import wait_for
from tests.integration.planner_harness import kill_campaign_actors

pytestmark = pytest.mark.integration

GRID = (16, 16)
MODEL = {"hidden": [16], "iterations": 20, "warm_iterations": 10, "cold_starts": 1,
         "cold_restart_every": 0}  # small: fits of a fraction of a second, even on a busy machine
AXIS = np.concatenate([np.linspace(-1, 1, 8), np.linspace(1, -1, 8)])


def loop(rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A hysteresis-like loop of random area."""
    amp = rng.uniform(0.5, 2.0)
    return np.asarray(np.tanh(3 * AXIS) * amp + 0.2 * amp * np.sign(np.gradient(AXIS)),
                      dtype=np.float32)


@pytest.fixture
def node_id(local_ray: None) -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


@pytest.fixture
def prefix(node_id: str) -> Iterator[str]:
    """A prefix of the test's own; its gate and campaign actors are killed after."""
    name = f"g{uuid.uuid4().hex[:8]}"
    yield name
    kill_campaign_actors(name)  # its gate too


def snapshot(prefix: str, node_id: str) -> dict[str, Any]:
    import ray

    gate = ray.get_actor(gate_name(prefix, node_id, "cpu"), namespace=NAMESPACE)
    return dict(ray.get(gate.snapshot.remote(), timeout=30))


def test_the_most_stale_waiter_gets_the_slot_even_if_it_asked_last(
        prefix: str, node_id: str) -> None:
    import ray

    gate = gate_on_node(prefix, node_id, "cpu", slots=1)
    assert ray.get(gate.acquire.remote("busy", "b", time.time()), timeout=30)
    fresh = gate.acquire.remote("fresh", "f", time.time())
    wait_for(lambda: "fresh" in snapshot(prefix, node_id)["waiting"], timeout=30,
             what="the fresh campaign queued")
    stale = gate.acquire.remote("stale", "s", time.time() - 10)  # its data waited 10 s
    wait_for(lambda: "stale" in snapshot(prefix, node_id)["waiting"], timeout=30,
             what="the stale campaign queued")
    ray.get(gate.release.remote("busy", "b"), timeout=30)
    assert ray.get(stale, timeout=30) is True
    state = snapshot(prefix, node_id)
    assert state["holders"] == ["stale"] and list(state["waiting"]) == ["fresh"]
    ray.get(gate.release.remote("stale", "s"), timeout=30)
    assert ray.get(fresh, timeout=30) is True


@pytest.fixture
def holder_class(local_ray: None) -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class SlotHolder:
        """Takes the slot with the worker's own client and keeps it (renewing) until its
        process is killed."""

        def hold(self, campaign: str, prefix: str, lease_s: float) -> bool:
            gate = TrainingGate(campaign, prefix, slots=1, lease_s=lease_s)
            gate.ask(time.time())
            while not gate.wait(1.0):
                pass
            entered = threading.Event()

            def train_forever() -> None:
                with gate.held():
                    entered.set()
                    threading.Event().wait()

            threading.Thread(target=train_forever, daemon=True).start()
            return entered.wait(30)

    return SlotHolder


def test_a_killed_holders_slot_comes_back(prefix: str, node_id: str,
                                          holder_class: Any) -> None:
    import ray

    holder = holder_class.remote()
    assert ray.get(holder.hold.remote("doomed", prefix, 2.0), timeout=60)
    assert snapshot(prefix, node_id)["holders"] == ["doomed"]
    gate = gate_on_node(prefix, node_id, "cpu", slots=1)
    waiting = gate.acquire.remote("next", "n", time.time())
    wait_for(lambda: "next" in snapshot(prefix, node_id)["waiting"], timeout=30,
             what="the next campaign queued behind the holder")
    ray.kill(holder, no_restart=True)
    assert ray.get(waiting, timeout=60) is True  # after the dead hold's lease ran out
    turns = snapshot(prefix, node_id)["turns"]
    assert [t["campaign"] for t in turns] == ["doomed", "next"]
    assert turns[0]["released"] is not None


def test_three_campaigns_on_one_slot_never_fit_at_once_and_the_stale_go_first(
        prefix: str, node_id: str, redis_server: Any) -> None:
    store = StateStore.connect(redis_server.url, prefix)
    campaigns = ["c1", "c2", "c3"]
    rng = np.random.default_rng(0)
    for cid in campaigns:
        store.create_campaign(cid, edge_id=f"edge-{cid}", owner="alice", spectral_axis=AXIS,
                              config={"patch": 3, "seeds": 3, "model": MODEL})
        store.put_scan(cid, rng.random(GRID).astype(np.float32), ["height"])
        store.update_stats(cid, {"grid": list(GRID)})
        store.transition(cid, "scan")
    supervisor = Supervisor(redis_server.url, prefix, training_slots=1)
    for cid in campaigns:
        supervisor.ensure(cid)
    try:
        wait_for(lambda: all(store.get_plan(cid) for cid in campaigns), timeout=60,
                 what="every worker's seed plan")
        # new data for every campaign faster than one slot can fit them all: they queue
        for seq in range(GRID[0] * GRID[1]):
            if min(_versions(store, campaigns)) >= 4:
                break
            for cid in campaigns:
                store.add_measurement(cid, sender="edge", session="s", seq=seq,
                                      row=seq // GRID[1], col=seq % GRID[1], spectrum=loop(rng))
            time.sleep(0.1)
        assert min(_versions(store, campaigns)) >= 4, _versions(store, campaigns)
    finally:
        supervisor.shutdown()
    turns = snapshot(prefix, node_id)["turns"]
    held = sorted((t["granted_at"], t["released"] or time.time()) for t in turns)
    assert all(a[1] <= b[0] for a, b in zip(held, held[1:], strict=False)), held
    # each slot went to the campaign whose unplanned data was oldest; and there was a queue
    assert all(t["next_waiting_since"] is None or t["waiting_since"] <= t["next_waiting_since"]
               for t in turns)
    assert sum(t["next_waiting_since"] is not None for t in turns) >= 3
    fits = _fit_intervals(store, campaigns)
    assert len(fits) >= 9
    assert all(a[1] <= b[0] + 0.05 for a, b in zip(fits, fits[1:], strict=False)), fits
    store.close()


def _versions(store: StateStore, campaigns: list[str]) -> list[int]:
    return [(plan.model_version if (plan := store.get_plan(cid)) else 0) for cid in campaigns]


def _fit_intervals(store: StateStore, campaigns: list[str]) -> list[tuple[float, float]]:
    """When each model was trained, from the plan events: a plan is written right after its
    ranking, which follows its fit (a few ms of Redis writes blur the edges)."""
    out = []
    for cid in campaigns:
        for event in store.read_events("0-0", campaign_id=cid):
            fit_s = float(event.data.get("fit_s", 0.0)) if event.kind == "plan" else 0.0
            if fit_s > 0:
                end = event.time - float(event.data.get("rank_s", 0.0))
                out.append((end - fit_s, end))
    return sorted(out)
