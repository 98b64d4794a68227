"""Several gateways on one Redis prefix: two planner processes (gateway + supervisor each,
one Ray) and eight edge agent processes, each given both gateways' addresses (half in each
order, so each gateway holds some edges). One gateway is killed with SIGKILL mid-campaign;
its edges fail over to the other. Every campaign finishes with every point stored exactly
once, byte-identical to the replay's ground truth."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from planner_cluster.redis_server import RedisServer, free_port
from planner_cluster.state import StateStore

from .gauntlet import PASSWORD
from .stack import PlannerProcess, edge_process, replay_truth, stop_process, tally

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

EDGES = 8
POINTS = 40


def wait_for(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.2)


def test_losing_one_of_two_gateways_loses_nothing(local_ray: None, tmp_path: Path,
                                                  shared_data: Path) -> None:
    import ray

    address = str(ray.get_runtime_context().gcs_address)
    prefix = f"gw{uuid.uuid4().hex[:6]}"
    password_file = tmp_path / "redis.password"
    password_file.write_text(PASSWORD)
    server = RedisServer(appendonly=True, appendfsync="always", password=PASSWORD,
                         data_dir=tmp_path / "redis").start()
    url = f"redis://127.0.0.1:{server.port}/0"
    store = StateStore.connect(url, prefix, password=PASSWORD)
    gateways = [PlannerProcess(redis_url=url, prefix=prefix, tmp=tmp_path / name,
                               port=free_port(), ray=address, password_file=password_file)
                for name in ("a", "b")]
    edges = []
    try:
        for gw in gateways:
            gw.tmp.mkdir()
            gw.start(timeout_s=120)
        a, b = gateways
        for i in range(EDGES):
            order = (a, b) if i % 2 == 0 else (b, a)
            edges.append(edge_process(
                planner=",".join(g.endpoint for g in order), tmp=tmp_path,
                campaign=f"two-{i}", edge_id=f"edge-{i}", max_points=POINTS, dwell_s=0.1))
        held_by_a = [f"edge-{i}" for i in range(0, EDGES, 2)]

        def a_mid_campaign() -> bool:
            counts = [store.count_measurements(f"two-{i}") for i in range(0, EDGES, 2)]
            return min(counts) >= 5

        wait_for(a_mid_campaign, 180, "gateway a's edges measuring")
        assert {store.r.get(store.key("edge", e, "gateway")) for e in held_by_a} != {None}
        a.kill9()
        codes = [q.wait(300) for q in edges]
        assert codes == [0] * EDGES, codes
        truth = replay_truth()
        for i in range(EDGES):
            record = store.require_campaign(f"two-{i}")
            assert record.status == "finished", (i, record.status)
            t = tally(store, f"two-{i}", truth)
            assert (t.stored, t.distinct_points, t.duplicates, t.wrong_checksums) == (
                POINTS, POINTS, 0, 0), (i, t)
        # gateway b took over a's edges (their bye released b's hold; a's would remain)
        assert [store.r.get(store.key("edge", e, "gateway")) for e in held_by_a] == [
            None] * len(held_by_a)
        failed_over = sum("connecting to " + b.endpoint in (tmp_path / f"{e}.log").read_text()
                          for e in held_by_a)
        assert failed_over == len(held_by_a)
    finally:
        for q in edges:
            stop_process(q)
        for gw in gateways:
            gw.stop()
        store.close()
        server.stop()
