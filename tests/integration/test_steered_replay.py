"""Provenance that survives steering: a real campaign (real Redis, local Ray, the planner
service, an edge process replaying the BEPS data) is paused, vetoed, given more exploration
and a new scalarizer through the monitor's control path, resumed and run to its end; its
archive, exported from Redis, must replay to exit 0."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from planner_cluster.archive import read_archive
from planner_cluster.archive.from_store import export_campaign
from planner_cluster.demo_cli import replay_main
from planner_cluster.monitor.controls import ControlRequest, send
from planner_cluster.state import StateStore
from tests.conftest import wait_for

from .planner_harness import edge_command, running_planner, start_edge

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POINTS = 36


def _steer(store: StateStore, action: str, **args: Any) -> str:
    sent = send(store, store.require_campaign("c1"), ControlRequest(action=action, args=args),
                "olga")
    return str(sent["control_id"])


def _applied(store: StateStore, control_id: str) -> bool:
    return any(e.kind == "replanned" and e.data.get("control_id") == control_id
               for e in store.read_events("0-0", campaign_id="c1", count=100_000))


def test_a_steered_campaign_replays(redis_server: Any, local_ray: None, tmp_path: Path,
                                    shared_data: Path) -> None:
    prefix = f"steer{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        proc = start_edge(edge_command(service, tmp_path, "c1", max_points=POINTS, batch=2,
                                       extra=("--dwell", "0.3")), tmp_path / "edge.log")
        wait_for(lambda: (c := store.get_campaign("c1")) is not None and c.model_version >= 1,
                 timeout=120, what="the first model")
        _steer(store, "pause")
        wait_for(lambda: store.require_campaign("c1").status == "paused", timeout=60,
                 what="the edge to pause")
        steered = [_steer(store, "veto", region=[20, 20, 29, 29]),
                   _steer(store, "set_exploration", weight=2.0),
                   _steer(store, "set_scalarizer", name="coercive_width")]
        for control_id in steered:
            wait_for(lambda cid=control_id: _applied(store, cid), timeout=120,
                     what=f"the planner to apply control {control_id}")
        _steer(store, "resume")
        code = proc.wait(300)
        assert code == 0, (tmp_path / "edge.log").read_text()[-3000:]
        wait_for(lambda: (plan := store.get_plan("c1")) is not None
                 and plan.stats.get("n_observed") == store.count_measurements("c1"),
                 timeout=120, what="the final model on every measurement")
    archive = tmp_path / "c1.nxs"
    export_campaign(store, "c1", archive)
    store.close()
    a = read_archive(archive)
    by_action = {c.requested: c for c in a.controls}
    assert set(by_action) == {"pause", "veto", "set_exploration", "set_scalarizer", "resume"}
    for action in ("veto", "set_exploration", "set_scalarizer"):
        assert by_action[action].applied and by_action[action].model_version >= 1, action
    assert a.settings["scalarizer"] == "loop_area"  # the start, not the end
    assert a.final_config["scalarizer"]["name"] == "coercive_width"
    assert not {(r, c) for r, c in a.coords[-4:].tolist()} & {
        (r, c) for r in range(20, 30) for c in range(20, 30)}
    assert replay_main([str(archive)]) == 0
