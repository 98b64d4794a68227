"""Operator control of a running agent: from the planner (``control``), from the local
channel (``ControlClient``, as ``autopilot edge ctl`` uses), and from the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent import ControlClient
from edge_agent.errors import AgentNotRunningError
from tests.conftest import wait_for
from tests.peers.edge_harness import edge_config, start_agent
from tests.peers.fake_planner import FakePlanner


@pytest.fixture
def planner() -> Iterator[FakePlanner]:
    peer = FakePlanner(heartbeat_s=0.2).start()
    yield peer
    peer.close()


def acks_from_edge(planner: FakePlanner) -> list[Any]:
    return [m.body for m in planner.messages("ack")]


def edge_heartbeats(planner: FakePlanner) -> list[Any]:
    return [m.body for m in planner.messages("heartbeat")]


def test_planner_controls_pause_resume_veto_stop(planner: FakePlanner, tmp_path: Path) -> None:
    planner.faults(batch=6)
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=500,
                                  heartbeat_s=0.2))
    wait_for(lambda: planner.count() >= 2, what="measuring")
    planner.send_control("c1", "pause")
    wait_for(lambda: run.agent.state.state.value == "paused", what="paused")
    n = len(edge_heartbeats(planner))
    wait_for(lambda: len(edge_heartbeats(planner)) >= n + 2, what="two heartbeats while paused")
    paused = [hb for hb in edge_heartbeats(planner)[n:] if hb.state == "paused"]
    assert len(paused) >= 2 and len({hb.stats["measured"] for hb in paused}) == 1
    planner.send_control("c1", "veto", {"region": [0, 0, 49, 24]})
    planner.send_control("c1", "set_acquisition", {"name": "ucb"})
    planner.send_control("c1", "resume")
    wait_for(lambda: len(acks_from_edge(planner)) >= 4, what="four control acks")
    acks = acks_from_edge(planner)
    assert [a.status for a in acks] == ["accepted", "accepted", "refused", "accepted"]
    assert "carried out by the planner" in acks[2].detail
    before = planner.count()
    wait_for(lambda: planner.count() >= before + 5, what="measuring again")
    planner.send_control("c1", "stop")
    result = run.join()
    assert result.state == "finished" and result.exit_code == 0
    after_veto = planner.points()[before + 1:]  # one may have been in flight at the veto
    assert after_veto and all(c >= 25 for _, c in after_veto)
    assert planner.messages("bye")


def test_planner_abort_stops_now(planner: FakePlanner, tmp_path: Path) -> None:
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=500,
                                  dwell_s=0.05))
    wait_for(lambda: planner.count() >= 2, what="measuring")
    planner.send_control("c1", "abort")
    result = run.join()
    assert (result.state, result.exit_code) == ("aborted", 3)
    assert not planner.messages("bye")


def test_control_for_another_campaign_is_refused(planner: FakePlanner, tmp_path: Path) -> None:
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=500,
                                  dwell_s=0.02))
    wait_for(lambda: planner.count() >= 1, what="measuring")
    planner.send_control("other", "stop")
    wait_for(lambda: acks_from_edge(planner), what="ack")
    assert acks_from_edge(planner)[0].status == "refused"
    assert "this edge runs campaign 'c1'" in acks_from_edge(planner)[0].detail
    run.agent.submit("stop")
    assert run.join().exit_code == 0


def test_local_channel_controls_and_forwards(planner: FakePlanner, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with pytest.raises(AgentNotRunningError, match="no agent is running"):
        ControlClient(spool)
    planner.faults(batch=8)
    run = start_agent(edge_config(planner.endpoint, spool, max_points=500, dwell_s=0.01))
    wait_for(lambda: planner.count() >= 2, what="measuring")
    client = ControlClient(spool)
    try:
        def do(action: str, args: dict[str, Any]) -> tuple[str, str]:
            return client.wait(client.submit(action, args, "alice"), 10)

        assert do("pause", {})[0] == "accepted"
        assert do("pause", {}) == ("refused", "cannot pause while paused; pause applies when "
                                              "running")
        assert do("add_point", {"point": [60, 1]})[0] == "refused"
        assert do("veto", {"points": [[7, 7]]})[0] == "accepted"
        assert do("add_point", {"point": [7, 7]}) == ("refused", "point (7, 7) is vetoed")
        assert do("add_point", {"point": [49, 49]})[0] == "accepted"
        assert do("resume", {})[0] == "accepted"
        wait_for(lambda: (49, 49) in planner.points(), what="manual point stored")
        manual = [s for s in planner.stored if (s.row, s.col) == (49, 49)]
        assert manual[0].source == "manual"
        wait_for(lambda: len(planner.messages("control")) >= 2, what="forwarded controls")
        forwarded = [m.body for m in planner.messages("control")]
        assert [c.action for c in forwarded] == ["veto", "add_point"]  # type: ignore[attr-defined]
        assert forwarded[0].user == "alice"  # type: ignore[attr-defined]
        assert do("stop", {})[0] == "accepted"
    finally:
        client.close()
    assert run.join().exit_code == 0
    assert (7, 7) not in planner.points()


def test_vetoes_survive_a_restart(planner: FakePlanner, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    run = start_agent(edge_config(planner.endpoint, spool, max_points=500, dwell_s=0.01))
    wait_for(lambda: planner.count() >= 1, what="measuring")
    verdict = run.agent.submit("veto", {"region": [0, 0, 24, 49]}).result(10)
    assert verdict.accepted and verdict.forward
    run.agent.submit("stop")
    assert run.join().exit_code == 0
    before = planner.count()
    planner.campaigns["c1"]["vetoed"].clear()  # the planner forgot: the edge must not
    again = start_agent(edge_config(planner.endpoint, spool, max_points=before + 10))
    assert again.join().exit_code == 0
    assert all(r >= 25 for r, _ in planner.points()[before:])
