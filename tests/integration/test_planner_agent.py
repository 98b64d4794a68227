"""``PlannerAgent``'s ask/tell contract against a real ROUTER peer over loopback (the fake
planner): points come from the planner's plans, spectra go through the edge's spool, wrong
tells are refused, and the end of the campaign is ``NoRecommendation``. The RunEngine test
with the real planner is in ``test_bluesky_agent.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_agent.bluesky_agent import NoRecommendation, PlannerAgent, TellError
from edge_agent.instruments.ophyd_driver import GridAxes
from edge_agent.instruments.procedural import procedural
from tests.peers.edge_harness import edge_config
from tests.peers.fake_planner import FakePlanner

SAMPLE = procedural(size=12, seed=3, kind="peaks")
AXES = GridAxes(origin=(10.0, -5.0), step=(0.5, 0.25))


@pytest.fixture
def planner() -> Iterator[FakePlanner]:
    peer = FakePlanner().start()
    yield peer
    peer.close()


def agent_on(planner: FakePlanner, spool: Path, max_points: int) -> PlannerAgent:
    return PlannerAgent(edge_config(planner.endpoint, spool, max_points=max_points),
                        image=SAMPLE.image, grid_shape=SAMPLE.grid_shape,
                        spectrum_length=SAMPLE.spectra.shape[2], axes=AXES,
                        spectral_axis=SAMPLE.axis, ask_timeout_s=30.0).start()


def test_asked_points_are_planned_and_told_spectra_are_delivered(planner: FakePlanner,
                                                                 tmp_path: Path) -> None:
    agent = agent_on(planner, tmp_path / "spool", max_points=6)
    told: list[tuple[int, int]] = []
    try:
        while True:
            try:
                position = agent.ask(1)
            except NoRecommendation:
                break
            assert agent.ask(1) == position  # asked again before telling: the same point
            row, col = AXES.index(*position)
            with pytest.raises(TellError, match="asked for"):
                agent.tell(AXES.position(row, (col + 1) % 12), SAMPLE.spectrum(row, col))
            with pytest.raises(TellError, match="a spectrum has 128"):
                agent.tell(position, np.zeros(3))
            agent.tell(position, SAMPLE.spectrum(row, col))
            told.append((row, col))
        result = agent.finish(60)
    finally:
        if agent.result is None:
            agent.stop(30)
    assert (result.state, result.exit_code, result.measured) == ("finished", 0, 6), result
    assert planner.points("c1") == told and len(set(told)) == 6
    for stored in planner.stored:
        np.testing.assert_array_equal(stored.spectrum, SAMPLE.spectrum(stored.row, stored.col))
    start = planner.messages("campaign_start")[0].body
    np.testing.assert_array_equal(start.spectral_axis, SAMPLE.axis)  # type: ignore[attr-defined]
    with pytest.raises(NoRecommendation):
        agent.ask(1)


def test_stop_while_a_point_is_asked_ends_cleanly(planner: FakePlanner, tmp_path: Path) -> None:
    agent = agent_on(planner, tmp_path / "spool", max_points=50)
    try:
        first = agent.ask(1)
        agent.tell(first, SAMPLE.spectrum(*AXES.index(*first)))
        agent.ask(1)  # the next point is asked and never measured
        result = agent.stop(60)
    finally:
        if agent.result is None:
            agent.stop(30)
    assert (result.state, result.exit_code, result.measured) == ("finished", 0, 1), result
    assert len(planner.points("c1")) == 1
    with pytest.raises(NoRecommendation):
        agent.ask(1)
