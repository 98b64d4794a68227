"""Issue 5's integration cases: concurrent campaigns, a planner restarted mid-campaign, a
killed actor, and a scalarizer changed at run time. Real Redis, local Ray, real edges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner_cluster.redis_server import free_port
from planner_cluster.state import StateStore
from tests.conftest import wait_for

from .planner_harness import edge_command, running_planner, start_edge

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def prefix() -> str:
    return f"pf{uuid.uuid4().hex[:6]}"


@pytest.fixture
def state(redis_server: Any, prefix: str) -> Iterator[StateStore]:
    s = StateStore.connect(redis_server.url, prefix)
    yield s
    s.close()


def assert_exactly_once(state: StateStore, cid: str, expected: int) -> None:
    stored = state.read_measurements(cid)
    points = [(m.row, m.col) for m in stored]
    assert len(points) == expected, f"{len(points)} stored, expected {expected}"
    assert len(set(points)) == expected, "a point was stored twice"
    assert state.require_campaign(cid).status == "finished"


def test_two_edges_two_campaigns_at_once(redis_server: Any, local_ray: None, tmp_path: Path,
                                         shared_data: Path, prefix: str,
                                         state: StateStore) -> None:
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        procs = [start_edge(edge_command(service, tmp_path, f"c{i}", edge_id=f"edge-{i}",
                                         max_points=16), tmp_path / f"edge{i}.log")
                 for i in (1, 2)]
        for i, proc in enumerate(procs, 1):
            assert proc.wait(240) == 0, (tmp_path / f"edge{i}.log").read_text()[-2000:]
        for cid in ("c1", "c2"):  # while the planner (and its campaign actors) still run
            assert_exactly_once(state, cid, 16)
            wait_for(lambda c=cid: (plan := state.get_plan(c)) is not None
                     and plan.stats.get("n_observed") == 16, timeout=120,
                     what=f"{cid}'s final model")


def test_planner_restart_mid_campaign_loses_and_duplicates_nothing(
        redis_server: Any, local_ray: None, tmp_path: Path, shared_data: Path, prefix: str,
        state: StateStore) -> None:
    port = free_port()
    cmd = edge_command_for_port(port, tmp_path, max_points=40, dwell=0.05)
    (tmp_path / "signing.key").parent.mkdir(exist_ok=True)
    with running_planner(redis_server.url, prefix, tmp_path, port=port):
        proc = start_edge(cmd, tmp_path / "edge.log")
        wait_for(lambda: state.get_campaign("c1") and state.count_measurements("c1") >= 10,
                 timeout=120, what="10 measurements before the restart")
    # planner down: the edge keeps measuring into its spool and retries
    with running_planner(redis_server.url, prefix, tmp_path, port=port):
        assert proc.wait(240) == 0, (tmp_path / "edge.log").read_text()[-3000:]
    assert_exactly_once(state, "c1", 40)


def edge_command_for_port(port: int, tmp: Path, *, max_points: int, dwell: float) -> list[str]:
    class _Svc:
        class config:
            bind = f"tcp://127.0.0.1:{port}"

    cmd = edge_command(_Svc(), tmp, "c1", max_points=max_points)  # type: ignore[arg-type]
    cmd[cmd.index("--dwell") + 1] = str(dwell)
    return cmd


def test_killed_actor_restarts_and_resumes_from_redis(
        redis_server: Any, local_ray: None, tmp_path: Path, shared_data: Path, prefix: str,
        state: StateStore) -> None:
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        cmd = edge_command(service, tmp_path, "c1", max_points=40)
        cmd[cmd.index("--dwell") + 1] = "0.05"
        proc = start_edge(cmd, tmp_path / "edge.log")
        wait_for(lambda: state.get_campaign("c1") and state.require_campaign(
            "c1").model_version >= 1, timeout=120, what="a first model")
        version_before = state.require_campaign("c1").model_version
        service.supervisor.kill("c1", restart=True)
        assert proc.wait(240) == 0, (tmp_path / "edge.log").read_text()[-3000:]
        status = service.supervisor.status("c1")
    assert_exactly_once(state, "c1", 40)
    assert state.require_campaign("c1").model_version > version_before
    assert status["n_observed"] >= 1  # the restarted worker rebuilt its data from Redis


def test_scalarizer_change_rescores_and_replans(
        redis_server: Any, local_ray: None, tmp_path: Path, shared_data: Path, prefix: str,
        state: StateStore) -> None:
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        cmd = edge_command(service, tmp_path, "c1", max_points=40)
        cmd[cmd.index("--dwell") + 1] = "0.05"
        proc = start_edge(cmd, tmp_path / "edge.log")
        wait_for(lambda: state.get_campaign("c1") and state.require_campaign(
            "c1").model_version >= 2, timeout=120, what="a trained model")
        before = state.get_plan("c1")
        state.push_control("c1", {"action": "set_scalarizer", "user": "alice",
                                  "args": {"name": "coercive_bias_positive"},
                                  "control_id": "k1"}, origin="dashboard")
        wait_for(lambda: any(e.kind == "replanned" and e.data["reason"] == "set_scalarizer"
                             for e in state.recent_events("c1", 500)),
                 timeout=60, what="a replan after the scalarizer change")
        # the re-scored data gets a model of its own (a cold fit: wait for it, do not race
        # the planner's shutdown)
        wait_for(lambda: (plan := state.get_plan("c1")) is not None
                 and plan.model_version > before.model_version, timeout=120,
                 what="a model on the re-scored data")
        assert proc.wait(240) == 0
    config = state.require_campaign("c1").config
    assert config["scalarizer"]["name"] == "coercive_bias_positive"
    after = state.get_plan("c1")
    assert before is not None and after is not None
    assert after.model_version > before.model_version
    assert after.points.tolist() != before.points.tolist()
