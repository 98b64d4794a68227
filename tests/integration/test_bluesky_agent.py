"""The bluesky stack against a real planner (real Redis, local Ray): an edge process driving
ophyd's simulated devices (``ophyd:sim``), and a bluesky RunEngine that asks the planner for
points through :class:`~edge_agent.bluesky_agent.PlannerAgent` and measures them with
simulated motors and a detector replaying BEPS."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner_cluster.state import StateStore
from tests.conftest import REPO

from .planner_harness import edge_command, running_planner, start_edge

pytest.importorskip("bluesky")
pytest.importorskip("ophyd")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def beps_truth(tmp: Path) -> np.ndarray[Any, Any]:
    out = tmp / "truth.npz"
    subprocess.run([sys.executable, "-m", "edge_agent", "export-truth", "replay:beps", str(out)],
                   cwd=REPO, check=True, capture_output=True, timeout=120)
    with np.load(out) as truth:
        return np.asarray(truth["spectra"])


def test_a_campaign_runs_on_ophyd_simulated_devices(redis_server: Any, local_ray: None,
                                                    tmp_path: Path, shared_data: Path) -> None:
    prefix = f"oph{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        proc = start_edge(edge_command(service, tmp_path, "ophyd-1",
                                       instrument="ophyd:sim?dataset=beps&step=0.1",
                                       max_points=16), tmp_path / "edge.log")
        code = proc.wait(240)
        assert code == 0, (tmp_path / "edge.log").read_text()[-3000:]
    assert store.require_campaign("ophyd-1").status == "finished"
    stored = store.read_measurements("ophyd-1")
    assert len({(m.row, m.col) for m in stored}) == len(stored) == 16
    spectra = beps_truth(tmp_path)
    for m in stored:  # the detector read the replay at the motors' position
        np.testing.assert_array_equal(m.spectrum, spectra[m.row, m.col])
    store.close()


def test_a_run_engine_asks_the_planner_for_points_and_measures_them(
        redis_server: Any, local_ray: None, tmp_path: Path, shared_data: Path) -> None:
    from bluesky import RunEngine

    from edge_agent.bluesky_agent import PlannerAgent, planner_plan
    from edge_agent.config import EdgeConfig
    from edge_agent.instruments.ophyd_driver import GridAxes
    from edge_agent.instruments.ophyd_sim import replay_devices
    from edge_agent.instruments.replay import load_target

    dataset = load_target("beps")
    axes = GridAxes(origin=(-2.5, -2.5), step=(0.1, 0.1))  # a stage in micrometres
    devices = replay_devices(dataset, axes=axes)
    prefix = f"bsk{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    events: list[dict[str, Any]] = []
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        config = EdgeConfig(campaign="bluesky-1", planner=service.config.bind,
                            edge_id="bluesky-edge", spool=tmp_path / "spool",
                            signing_key_file=tmp_path / "signing.key", max_points=14, batch=4,
                            heartbeat_s=0.5)
        devices.camera.trigger().wait(10)
        image = devices.camera.read()["image"]["value"]
        agent = PlannerAgent(config, image=image, grid_shape=dataset.grid_shape,
                             spectrum_length=dataset.spectra.shape[2], axes=axes,
                             spectral_axis=dataset.axis, name="bluesky:beps").start()
        engine = RunEngine({})
        engine.subscribe(lambda name, doc: events.append(doc) if name == "event" else None)
        try:
            engine(planner_plan(agent, devices.row_motor, devices.col_motor,
                                [devices.detector]))
            result = agent.finish(120)
        finally:
            if agent.result is None:
                agent.stop(30)
    assert (result.state, result.exit_code, result.measured) == ("finished", 0, 14), result
    assert len(events) == 14
    assert store.require_campaign("bluesky-1").status == "finished"
    stored = store.read_measurements("bluesky-1")
    # Every point the RunEngine measured is one the planner planned and received, in order.
    measured_by_engine = [axes.index(e["data"]["sample_y"], e["data"]["sample_x"])
                          for e in events]
    assert sorted(measured_by_engine) == sorted((m.row, m.col) for m in stored)
    assert len(set(measured_by_engine)) == 14
    assert {m.source for m in stored} >= {"seed"}
    for event, (row, col) in zip(events, measured_by_engine, strict=True):
        np.testing.assert_array_equal(event["data"]["spectrum"], dataset.spectrum(row, col))
    by_point = {(m.row, m.col): m.spectrum for m in stored}
    for row, col in measured_by_engine:
        np.testing.assert_array_equal(by_point[(row, col)], dataset.spectrum(row, col))
    store.close()
