"""The edge agent against a real ROUTER peer over loopback: a whole campaign, then faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers.edge_harness import edge_config, start_agent
from tests.peers.fake_planner import FakePlanner


@pytest.fixture
def planner() -> FakePlanner:
    peer = FakePlanner().start()
    yield peer  # type: ignore[misc]
    peer.close()


def test_campaign_runs_to_budget(planner: FakePlanner, tmp_path: Path) -> None:
    run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=20))
    result = run.join()
    assert result.state == "finished", result
    assert result.exit_code == 0
    assert planner.count("c1") == 20
    assert len(set(planner.points("c1"))) == 20
    assert planner.messages("bye")
