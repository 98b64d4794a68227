"""The edge agent against a real ROUTER peer over loopback: whole campaigns and faults.

Every test asserts the delivery contract: nothing lost (every measured point stored), nothing
stored twice (the peer dedups by (sender, session, seq) and counts the duplicates it saw).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent import Spool
from tests.conftest import wait_for
from tests.peers.edge_harness import edge_config, start_agent
from tests.peers.fake_planner import FakePlanner

KEY = b"k" * 32


@pytest.fixture
def planner() -> Iterator[FakePlanner]:
    peer = FakePlanner().start()
    yield peer
    peer.close()


def assert_exactly_once(planner: FakePlanner, n: int, campaign: str = "c1") -> None:
    points = planner.points(campaign)
    assert len(points) == n, f"stored {len(points)}, expected {n}"
    assert len(set(points)) == n, "a point was stored twice"
    keys = [(s.sender, s.session, s.seq) for s in planner.stored]
    assert len(keys) == len(set(keys))


def spool_left(path: Path) -> int:
    with Spool(path) as spool:
        return spool.count


def test_campaign_runs_to_budget(planner: FakePlanner, tmp_path: Path) -> None:
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=20))
    result = run.join()
    assert (result.state, result.exit_code, result.pending) == ("finished", 0, 0), result
    assert_exactly_once(planner, 20)
    assert {s.source for s in planner.stored} == {"seed", "plan"}
    hello = planner.messages("hello")[0].body
    assert hello.instrument["grid_shape"] == [50, 50]  # type: ignore[attr-defined]
    start = planner.messages("campaign_start")[0].body
    assert start.spectral_axis.shape == (64,)  # type: ignore[attr-defined]
    assert start.config["budget"] == {"points": 20}  # type: ignore[attr-defined]
    assert planner.messages("bye") and spool_left(tmp_path / "spool") == 0


def test_signed_link(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    with FakePlanner(key=KEY) as planner:
        cfg = edge_config(planner.endpoint, tmp_path / "spool", max_points=5,
                          signing_key_file=key_file)
        assert start_agent(cfg).join().exit_code == 0
        assert_exactly_once(planner, 5)


def test_key_mismatch_stops_with_a_message(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"x" * 32)
    with FakePlanner(key=KEY) as planner:
        cfg = edge_config(planner.endpoint, tmp_path / "spool", max_points=5,
                          signing_key_file=key_file)
        result = start_agent(cfg).join()
    assert result.state == "failed" and "signing keys" in result.error


def test_dropped_acks_are_resent_and_deduplicated(planner: FakePlanner, tmp_path: Path) -> None:
    planner.faults(drop_acks=5)
    result = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=15,
                                     resend_after_s=0.3)).join()
    assert result.exit_code == 0
    assert_exactly_once(planner, 15)
    assert planner.duplicates >= 5  # the resends arrived and were recognised


def test_planner_disconnects_mid_stream(planner: FakePlanner, tmp_path: Path) -> None:
    planner.faults(disconnect_after=6, down_s=1.0, batch=10)
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=25))
    result = run.join()
    assert result.exit_code == 0, result
    assert planner.disconnects == 1 and len(planner.messages("hello")) >= 2
    assert_exactly_once(planner, 25)


def test_silent_planner_means_buffering_then_reconnecting(planner: FakePlanner,
                                                          tmp_path: Path) -> None:
    planner.faults(batch=12)
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=30))
    wait_for(lambda: planner.count() >= 3, what="first measurements")
    planner.faults(silent=True)
    hellos = len(planner.messages("hello"))
    # the agent keeps measuring its plan into the spool and says hello again (3 x heartbeat)
    wait_for(lambda: len(planner.messages("hello")) > hellos, timeout=10, what="reconnect")
    wait_for(lambda: run.agent.outbox.pending > 0, what="buffered measurements")
    planner.faults(silent=False)
    result = run.join()
    assert result.exit_code == 0, result
    assert_exactly_once(planner, 30)


def test_error_codes_are_handled_per_code(planner: FakePlanner, tmp_path: Path) -> None:
    planner.faults(measurement_errors=["unavailable", "stale", "internal", "bad_field"])
    result = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=10,
                                     resend_after_s=0.3)).join()
    # unavailable/internal: resent later; stale: resent now; bad_field: kept aside, not resent
    assert result.rejected == 1 and result.state == "finished", result
    assert_exactly_once(planner, 9)
    with Spool(tmp_path / "spool") as spool:
        assert spool.rejected_count() == 1 and spool.count == 0


def test_conflict_and_forbidden_stop_with_a_message(planner: FakePlanner,
                                                    tmp_path: Path) -> None:
    assert start_agent(edge_config(planner.endpoint, tmp_path / "a", max_points=2)).join() \
        .exit_code == 0
    again = start_agent(edge_config(planner.endpoint, tmp_path / "b", max_points=2)).join()
    assert again.state == "failed" and "conflict" in again.error
    other = start_agent(edge_config(planner.endpoint, tmp_path / "c", max_points=2,
                                    edge_id="edge-other", resume=True)).join()
    assert other.state == "failed" and "forbidden" in other.error
    assert_exactly_once(planner, 2)


def test_malformed_plan_is_refused_and_never_executed(planner: FakePlanner,
                                                      tmp_path: Path) -> None:
    planner.faults(malformed_plan_after=3)
    result = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=8)).join()
    assert result.exit_code == 0 and planner.malformed_sent == 1
    errors = [m.body for m in planner.messages("error")]
    assert any(e.code == "bad_field" and "points" in e.message for e in errors)  # type: ignore[attr-defined]
    assert (999, 999) not in planner.points() and planner.count() == 8


def test_plan_points_outside_the_field_of_view_are_refused(planner: FakePlanner,
                                                           tmp_path: Path) -> None:
    planner.faults(plan_outside=True)
    result = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=6)).join()
    assert result.exit_code == 0
    assert all(0 <= r < 50 and 0 <= c < 50 for r, c in planner.points())
    refusals = [m.body for m in planner.messages("error")
                if m.body.code == "out_of_bounds"]  # type: ignore[attr-defined]
    assert refusals and [55, 0] in refusals[0].detail["points"]  # type: ignore[attr-defined]
    assert "outside the 50 x 50 grid" in refusals[0].message  # type: ignore[attr-defined]


def test_spool_full_stops_measuring_and_loses_nothing(planner: FakePlanner,
                                                      tmp_path: Path) -> None:
    planner.faults(batch=10)
    spool = tmp_path / "spool"
    run = start_agent(edge_config(planner.endpoint, spool, max_points=20, spool_max_count=3,
                                  drain_timeout_s=1.0))
    wait_for(lambda: planner.count() >= 1, what="first measurement")
    planner.faults(silent=True)
    result = run.join()
    assert result.exit_code == 4 and "spool full" in result.error, result
    assert result.pending == 3 and spool_left(spool) == 3
    stored_before = planner.count()
    planner.faults(silent=False)
    resumed = start_agent(edge_config(planner.endpoint, spool, max_points=stored_before + 3))
    assert resumed.join().exit_code == 0
    assert_exactly_once(planner, stored_before + 3)
    assert spool_left(spool) == 0


def test_planner_started_after_the_edge(tmp_path: Path) -> None:
    planner = FakePlanner()
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=5))
    wait_for(lambda: hasattr(run.agent, "conv") and run.agent.conv.link.opened >= 2,
             what="reconnect attempts")
    planner.start()
    try:
        assert run.join().exit_code == 0
        assert_exactly_once(planner, 5)
    finally:
        planner.close()


@pytest.mark.parametrize("campaigns", [False, True], ids=["gateway-restart", "state-lost"])
def test_planner_forgets_the_edge(planner: FakePlanner, tmp_path: Path, campaigns: bool) -> None:
    """not_welcomed -> hello again; unknown_campaign -> campaign_start and the scan again."""
    planner.faults(batch=6)
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=20,
                                  dwell_s=0.01))
    wait_for(lambda: planner.count() >= 4, what="measuring")
    planner.forget(campaigns=campaigns)
    result = run.join()
    assert result.exit_code == 0, result
    assert len(planner.messages("hello")) >= (1 if campaigns else 2)
    assert len(planner.messages("scan")) == (2 if campaigns else 1)
    assert_exactly_once(planner, 20)
