"""Active slots (max_active_campaigns) on a real Redis: claims racing from many threads and
processes never pass the limit, and a campaign's slot comes back however the campaign ends."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from planner_cluster.idle import reap_idle_campaigns
from planner_cluster.state import StateStore
from planner_cluster.state.capacity import ActiveSlots

LIMIT = 3


def _campaigns(store: StateStore, ids: list[str], budget: int = 0) -> None:
    for cid in ids:
        store.create_campaign(cid, edge_id=f"e-{cid}", owner="o",
                              config={"budget": {"points": budget}}, spectral_axis=None)


def _scan(store: StateStore, cid: str) -> bool:
    """What a gateway does with a scan: claim, then start the campaign if granted."""
    if not ActiveSlots(store).claim(cid, LIMIT, time.time()).granted:
        return False
    store.transition(cid, "scan")
    return True


def test_threads_racing_claims_never_pass_the_limit(store: StateStore, redis_server: Any) -> None:
    ids = [f"c{i}" for i in range(24)]
    _campaigns(store, ids)
    barrier = threading.Barrier(len(ids))
    granted: list[str] = []

    def race(cid: str) -> None:
        own = StateStore.connect(redis_server.url, store.prefix)  # a connection per "gateway"
        try:
            barrier.wait(30)
            if _scan(own, cid):
                granted.append(cid)
        finally:
            own.close()

    threads = [threading.Thread(target=race, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(granted) == LIMIT
    assert sorted(ActiveSlots(store).holders()) == sorted(granted)
    assert sum(c.status == "running" for c in store.list_campaigns()) == LIMIT


def _claim_in_process(url: str, prefix: str, ids: list[str], start_at: float) -> list[str]:
    store = StateStore.connect(url, prefix)
    time.sleep(max(0.0, start_at - time.time()))  # every process claims at the same moment
    try:
        return [cid for cid in ids if _scan(store, cid)]
    finally:
        store.close()


def test_gateway_processes_racing_claims_never_pass_the_limit(store: StateStore,
                                                            redis_server: Any) -> None:
    ids = [f"p{i}" for i in range(40)]
    _campaigns(store, ids)
    chunks = [ids[i::4] for i in range(4)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=ctx) as pool:
        # processes take seconds to start on a loaded machine: claims begin together later
        start_at = time.time() + 8.0
        results = list(pool.map(_claim_in_process, [redis_server.url] * 4, [store.prefix] * 4,
                                chunks, [start_at] * 4, timeout=120))
    granted = [cid for r in results for cid in r]
    assert len(granted) == LIMIT
    assert sorted(ActiveSlots(store).holders()) == sorted(granted)


def test_a_slot_comes_back_however_its_campaign_ends(store: StateStore) -> None:
    """Budget reached inside the measurement script, stop then finish, abort by the idle
    reaper, fail: none calls the capacity module, and each frees the slot."""
    slots = ActiveSlots(store)
    _campaigns(store, ["budget"], budget=1)
    _campaigns(store, ["stopped", "idle", "failed", "next", "spare"])
    for cid in ("budget", "stopped", "idle"):
        assert _scan(store, cid)
    assert not _scan(store, "next")

    store.add_measurement("budget", sender="e-budget", session="s", seq=1, row=0, col=0,
                          spectrum=np.ones(4, np.float32))
    assert store.require_campaign("budget").status == "finished"
    assert _scan(store, "failed")  # the budget's slot

    store.transition("stopped", "stop")  # stopping: its worker still runs, the slot held
    assert not _scan(store, "next")
    store.transition("stopped", "finish")
    assert _scan(store, "next")

    store.transition("failed", "fail", reason="test")
    assert _scan(store, "spare")
    assert sorted(slots.holders()) == ["idle", "next", "spare"]

    for cid in ("next", "spare"):  # driven by a connected edge: not idle
        store.touch_edge(f"e-{cid}", campaign_id=cid, state="campaign")
    assert reap_idle_campaigns(store, idle_s=60.0, now=time.time() + 120.0) == ["idle"]
    assert sorted(slots.holders()) == ["next", "spare"]


def test_slots_survive_a_restarted_gateway_and_adopt_campaigns_scanned_before(
        store: StateStore, redis_server: Any) -> None:
    _campaigns(store, ["old1", "old2", "new", "later"])
    store.transition("old1", "scan")  # scanned before slots existed (an upgraded facility)
    store.transition("old2", "scan")
    assert ActiveSlots(store).claim("new", LIMIT, time.time()).granted
    store.transition("new", "scan")

    restarted = StateStore.connect(redis_server.url, store.prefix)  # a fresh process's view
    try:
        claim = ActiveSlots(restarted).claim("later", LIMIT, time.time())
        assert (claim.granted, claim.active) == (False, LIMIT)
        assert ActiveSlots(restarted).claim("new", LIMIT, time.time()).granted  # held already
    finally:
        restarted.close()


def test_a_released_claim_frees_the_slot_at_once(store: StateStore) -> None:
    """A scan that could not be stored gives its slot back (its campaign is still created)."""
    slots = ActiveSlots(store)
    _campaigns(store, ["a", "b", "c", "d"])
    for cid in ("a", "b", "c"):
        assert slots.claim(cid, LIMIT, time.time()).granted
    assert not slots.claim("d", LIMIT, time.time()).granted
    slots.release("c")
    assert slots.claim("d", LIMIT, time.time()).granted
