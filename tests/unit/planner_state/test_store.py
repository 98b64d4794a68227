"""The state store against a real Redis server: schema, idempotency, atomicity, leases."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from planner_cluster.state import PlanRecord, StateStore


def _campaign(store: StateStore, cid: str = "c1") -> None:
    assert store.create_campaign(cid, edge_id="edge-1", owner="alice",
                                 config={"scalarizer": {"name": "loop_area"}},
                                 spectral_axis=np.linspace(-1, 1, 8))


def test_campaign_create_once(store: StateStore) -> None:
    _campaign(store)
    assert not store.create_campaign("c1", edge_id="edge-2", owner="bob", config={},
                                     spectral_axis=None)
    rec = store.require_campaign("c1")
    assert (rec.edge_id, rec.owner, rec.status, rec.n_measured) == ("edge-1", "alice",
                                                                      "created", 0)
    np.testing.assert_array_equal(store.spectral_axis("c1"), np.linspace(-1, 1, 8))
    assert store.campaign_ids() == ["c1"]


def test_measurement_is_stored_once_per_sender_session_seq(store: StateStore) -> None:
    _campaign(store)
    spectrum = np.arange(8, dtype=np.float32)
    first = store.add_measurement("c1", sender="e", session="s", seq=0, row=1, col=2,
                                  spectrum=spectrum)
    again = store.add_measurement("c1", sender="e", session="s", seq=0, row=1, col=2,
                                  spectrum=spectrum)
    other_session = store.add_measurement("c1", sender="e", session="s2", seq=0, row=3,
                                          col=4, spectrum=spectrum)
    assert first == (True, 1) and again == (False, 1) and other_session == (True, 2)
    stored = store.read_measurements("c1")
    assert [(m.row, m.col, m.key) for m in stored] == [(1, 2, "e:s:0"), (3, 4, "e:s2:0")]
    np.testing.assert_array_equal(stored[0].spectrum, spectrum)
    assert store.measured_points("c1") == {(1, 2), (3, 4)}
    assert store.require_campaign("c1").n_measured == 2
    kinds = [e.kind for e in store.recent_events("c1")]
    assert kinds.count("measurement") == 2


def test_concurrent_duplicates_store_exactly_once(store: StateStore) -> None:
    _campaign(store)
    results: list[bool] = []

    def write() -> None:
        for seq in range(50):
            ok, _ = store.add_measurement("c1", sender="e", session="s", seq=seq, row=seq,
                                          col=0, spectrum=np.ones(4))
            results.append(ok)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 50
    assert store.count_measurements("c1") == 50


def test_read_measurements_after_an_id(store: StateStore) -> None:
    _campaign(store)
    for seq in range(3):
        store.add_measurement("c1", sender="e", session="s", seq=seq, row=seq, col=0,
                              spectrum=np.ones(4))
    first = store.read_measurements("c1", count=1)
    rest = store.read_measurements("c1", after=first[0].stream_id)
    assert [m.row for m in rest] == [1, 2]
    assert store.read_measurements("c1", after=rest[-1].stream_id, block_ms=10) == []


def test_large_arrays_go_to_the_blob_archive(store: StateStore) -> None:
    _campaign(store)
    store.inline_limit = 1024
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    store.put_scan("c1", image, ["height"])
    got, channels = store.get_scan("c1") or (None, None)
    np.testing.assert_array_equal(got, image)
    assert channels == ["height"]
    assert store.r.hget(store.key("campaign", "c1", "scan"), "image_ref") is not None
    big = np.arange(1000, dtype=np.float64)
    store.add_measurement("c1", sender="e", session="s", seq=0, row=0, col=0, spectrum=big)
    np.testing.assert_array_equal(store.read_measurements("c1")[0].spectrum, big)


def test_plan_round_trip_and_event(store: StateStore) -> None:
    _campaign(store)
    plan = PlanRecord(3, np.array([[1, 2], [3, 4]], np.int32), np.array([0.5, 0.1], np.float32),
                      "ei", 1.0, {"fit_s": 0.2})
    store.put_plan("c1", plan)
    got = store.get_plan("c1")
    assert got is not None and got.model_version == 3 and got.stats == {"fit_s": 0.2}
    np.testing.assert_array_equal(got.points, plan.points)
    assert store.require_campaign("c1").model_version == 3
    assert store.recent_events("c1")[-1].kind == "plan"


def test_config_update_merges(store: StateStore) -> None:
    _campaign(store)
    config = store.update_config("c1", {"acquisition": {"name": "ucb"}})
    assert config == {"scalarizer": {"name": "loop_area"}, "acquisition": {"name": "ucb"}}
    assert store.require_campaign("c1").config == config


def test_controls_and_vetoes(store: StateStore) -> None:
    _campaign(store)
    sid = store.push_control("c1", {"action": "veto", "args": {"points": [[1, 1]]}},
                             origin="dashboard")
    controls = store.read_controls("c1")
    assert controls[0][0] == sid and controls[0][1]["origin"] == "dashboard"
    assert store.read_controls("c1", after=sid) == []
    store.add_vetoes("c1", [(1, 1), (2, 2)])
    assert store.vetoed_points("c1") == {(1, 1), (2, 2)}


def test_lease_has_one_owner(store: StateStore) -> None:
    assert store.acquire_lease("c1", "a", ttl_s=5)
    assert not store.acquire_lease("c1", "b", ttl_s=5)
    assert store.acquire_lease("c1", "a", ttl_s=5)  # renew
    store.release_lease("c1", "b")  # not the owner: no effect
    assert store.lease_owner("c1") == "a"
    store.release_lease("c1", "a")
    assert store.acquire_lease("c1", "b", ttl_s=5)


def test_edge_presence_expires(store: StateStore) -> None:
    store.touch_edge("edge-1", campaign_id="c1", state="measuring", ttl_s=60)
    assert store.edge("edge-1")["state"] == "measuring"  # type: ignore[index]
    assert store.r.pttl(store.key("edge", "edge-1")) > 0


def test_prefixes_isolate_stores(store: StateStore, redis_server: object) -> None:
    _campaign(store)
    other = StateStore.connect(redis_server.url, "other")  # type: ignore[attr-defined]
    try:
        assert other.campaign_ids() == []
    finally:
        other.close()


def test_unknown_campaign_is_a_clear_error(store: StateStore) -> None:
    from planner_cluster.state import StateError

    with pytest.raises(StateError, match="unknown campaign 'nope'"):
        store.require_campaign("nope")
