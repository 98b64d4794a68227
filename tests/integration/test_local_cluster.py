"""``deploy/local-cluster.sh`` for real: Redis (AOF, password), a Ray head node and a Ray worker
node on loopback, the planner joined to that cluster and the monitor; a campaign whose actor
Ray places on the worker node; a second campaign that outlives a planner restart (an upgrade)
on the same actor; a third whose scan is over 4 MiB (kept in Redis, which every node reaches),
planned on by a model on the worker node; then ``down``, which must leave none of those
processes."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import protocol as p
from planner_cluster.state import StateStore

from ..conftest import REPO, wait_for
from .gateway_harness import EdgeClient

# ~100 s on an idle 2-core machine; the limits leave room for a loaded one.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SCRIPT = REPO / "deploy" / "local-cluster.sh"
PORTS_PER_CLUSTER = 30  # BASE_PORT .. BASE_PORT+29, see the script's header
# A 4-channel float32 scan of 4.5 MiB: over the 4 MiB inline limit, so before
# large_arrays_in_redis it went to the gateway's local folder, which other nodes cannot read.
# At 17 structural pixels per grid point it is a 32 x 32 grid: a small model.
LARGE_SCAN = (544, 544, 4)
LARGE_SCALE = 17
AXIS = np.linspace(0.0, 1.0, 32)

# One Python process asks Ray's state API where the campaign actors ran (the test process
# itself may already be connected to the test session's local Ray).
PLACEMENT = """
import json, sys
from ray.util.state import list_actors, list_nodes
address = sys.argv[1]
actors = list_actors(address=address, filters=[("class_name", "=", "CampaignWorker")],
                     detail=True, raise_on_missing_output=False)
nodes = list_nodes(address=address, detail=True, raise_on_missing_output=False)
print(json.dumps({
    "actors": [{"name": a.name, "node_id": a.node_id, "pid": a.pid, "state": a.state,
                "restarts": a.num_restarts} for a in actors],
    "nodes": [{"node_id": n.node_id, "is_head": n.is_head_node, "ip": n.node_ip,
               "resources": n.resources_total} for n in nodes]}))
"""


def ports_free(base: int) -> bool:
    for port in range(base, base + PORTS_PER_CLUSTER):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_base_port() -> int:
    """A block of free ports below the kernel's ephemeral range (32768+)."""
    candidates = list(range(20100, 32000, 100))
    random.shuffle(candidates)
    for base in candidates:
        if ports_free(base):
            return base
    pytest.skip("no block of 30 free ports below 32000")


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def logs(state: Path) -> str:
    parts = []
    for log in sorted((state / "logs").glob("*.log")):
        parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


@pytest.fixture
def cluster(shared_data: Path) -> Iterator[tuple[Path, dict[str, str], dict[str, str]]]:
    if shutil.which("bash") is None or not Path("/proc").is_dir():
        pytest.skip("needs bash and Linux /proc")
    # Short: Ray puts Unix sockets under the state folder (108-byte path limit).
    state = Path(tempfile.mkdtemp(prefix="apc-", dir="/tmp"))
    env = dict(os.environ, AUTOPILOT_CLUSTER_DIR=str(state), BASE_PORT=str(free_base_port()),
               AUTOPILOT_BIN_DIR=str(Path(sys.executable).parent), PREFIX="lc",
               START_TIMEOUT_S="240")
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN"):  # this cluster's own, from its files
        env.pop(name, None)
    try:
        up = subprocess.run(["bash", str(SCRIPT), "up"], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
        assert up.returncode == 0, f"up failed:\n{up.stderr[-3000:]}\n{logs(state)}"
        yield state, env, read_env(state / "cluster.env")
    finally:
        pids = {p.stem: int(p.read_text()) for p in (state / "pids").glob("*.pid")}
        down = subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True,
                              text=True, timeout=400, check=False)
        try:
            assert down.returncode == 0, down.stderr
            assert not [name for name, pid in pids.items() if alive(pid)], down.stderr
            assert not processes_mentioning(str(state)), "processes left after down"
        finally:
            shutil.rmtree(state, ignore_errors=True)


def test_campaign_runs_on_the_worker_node(
        cluster: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    state, env, info = cluster
    recorded = {p.stem for p in (state / "pids").glob("*.pid")}
    assert {"redis", "ray-head", "ray-worker", "planner"} <= recorded

    password = Path(info["REDIS_PASSWORD_FILE"]).read_text().strip()
    import redis

    with redis.Redis.from_url(info["REDIS_URL"]) as anonymous:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    with redis.Redis.from_url(info["REDIS_URL"], password=password) as admin:
        assert admin.config_get("appendonly") == {"appendonly": "yes"}

    def edge(campaign: str, points: int, dwell: float) -> list[str]:
        return [sys.executable, "-m", "autopilot_cli", "edge", "run", "--planner",
                info["GATEWAY"], "--instrument", "replay:beps", "--dwell", str(dwell),
                "--campaign", campaign, "--edge-id", f"edge-{campaign}",
                "--spool", str(state / f"spool-{campaign}"),
                "--signing-key", info["SIGNING_KEY_FILE"], "--max-points", str(points),
                "--batch", "4", "--progress", "off", "--heartbeat", "0.5"]

    edge_env = dict(os.environ, PYTHONUNBUFFERED="1")
    store = StateStore.connect(info["REDIS_URL"], info["REDIS_PREFIX"], password=password)
    try:
        # 1. A short campaign: its actor must run on the worker node.
        with (state / "edge-lc1.log").open("wb") as out:
            code = subprocess.run(edge("lc1", 24, 0.0), stdout=out, stderr=subprocess.STDOUT,
                                  timeout=300, env=edge_env, check=False).returncode
        assert code == 0, (state / "edge-lc1.log").read_text()[-3000:] + logs(state)
        check_results(store, "lc1", 24)

        # 2. An upgrade mid-campaign: the planner restarts, the detached actor keeps planning,
        # the edge resends what was not acknowledged.
        with (state / "edge-lc2.log").open("wb") as out:
            proc = subprocess.Popen(edge("lc2", 48, 0.25), stdout=out,
                                    stderr=subprocess.STDOUT, env=edge_env)
        try:
            wait_for(lambda: len(store.read_measurements("lc2")) >= 6 or proc.poll() is not None,
                     timeout=300, interval=0.2, what="campaign lc2 under way")
            restart = subprocess.run(["bash", str(SCRIPT), "restart-planner"], env=env,
                                     capture_output=True, text=True, timeout=300, check=False)
            assert restart.returncode == 0, restart.stderr + logs(state)
            assert proc.wait(300) == 0, (state / "edge-lc2.log").read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        check_results(store, "lc2", 48)

        # 3. A scan over 4 MiB: stored in Redis, and a model plan on it from the worker node.
        image = run_large_scan_campaign(info, store, "lc3")
        raw = store.r.hgetall(store.key("campaign", "lc3", "scan"))
        assert b"image_ref" not in raw and len(raw[b"image"]) == image.nbytes > 4 << 20
        stored = store.get_scan("lc3")
        assert stored is not None and np.array_equal(stored[0], image)
    finally:
        store.close()

    query_env = {**env, "RAY_AUTH_MODE": info["RAY_AUTH_MODE"],
                 "RAY_AUTH_TOKEN_PATH": info["RAY_AUTH_TOKEN_PATH"]}
    query = subprocess.run([sys.executable, "-c", PLACEMENT, info["RAY_ADDRESS"]],
                           env=query_env, capture_output=True, text=True, timeout=300,
                           check=False)
    assert query.returncode == 0, query.stderr[-3000:]
    placement: dict[str, Any] = json.loads(query.stdout.strip().splitlines()[-1])
    nodes = {n["node_id"]: n for n in placement["nodes"]}
    assert len(nodes) == 2 and all(n["ip"] == "127.0.0.2" for n in nodes.values())
    worker = [n for n in nodes.values() if not n["is_head"]]
    assert len(worker) == 1 and worker[0]["resources"].get("campaign_worker") == 4
    for campaign in ("lc1", "lc2", "lc3"):
        # One actor per campaign, never restarted or replaced (lc2 across the planner
        # restart), and on the worker node (lc3's model planned on the 4.5 MiB scan there).
        actors = [a for a in placement["actors"] if a["name"] == f"campaign:lc:{campaign}"]
        assert len(actors) == 1 and actors[0]["restarts"] == 0, placement
        assert actors[0]["node_id"] == worker[0]["node_id"], placement


def check_results(store: StateStore, campaign: str, points: int) -> None:
    record = store.require_campaign(campaign)
    assert record.status == "finished", record
    stored = store.read_measurements(campaign)
    where = [(m.row, m.col) for m in stored]
    assert len(where) == points and len(set(where)) == points  # all stored, each once
    # past the seed points: the actor on the worker node trained and planned
    assert record.model_version >= 1 and "plan" in {m.source for m in stored}


def spectrum(row: int, col: int) -> npt.NDArray[np.float32]:
    """A peak whose height varies smoothly over the field of view: something to learn."""
    height = 1.0 + np.sin(row / 5.0) * np.cos(col / 7.0)
    return (height * np.exp(-((AXIS - 0.5) / 0.1) ** 2)).astype(np.float32)


def run_large_scan_campaign(info: dict[str, str], store: StateStore,
                            campaign: str) -> npt.NDArray[np.float32]:
    """Start ``campaign`` with a 4.5 MiB scan over the protocol and measure down its newest
    plans until the campaign's actor writes a model plan (version >= 1); then say bye.
    Returns the scan sent."""
    key = Path(info["SIGNING_KEY_FILE"]).read_bytes().strip()
    edge = EdgeClient(info["GATEWAY"], f"edge-{campaign}", key)
    image = np.random.default_rng(3).random(LARGE_SCAN, dtype=np.float32)
    config = {"patch_scale": LARGE_SCALE, "seeds": 4, "budget": {"points": 200},
              "scalarizer": {"name": "band_integral", "params": {"lo": 0.3, "hi": 0.7}}}
    try:
        assert isinstance(edge.request(p.Hello(edge.edge_id, {"name": "big-scan"}),
                                       p.Welcome).body, p.Welcome)
        started = edge.request(p.CampaignStart(campaign, config, spectral_axis=AXIS), p.Ack)
        assert isinstance(started.body, p.Ack), started.body
        scanned = edge.request(p.Scan(campaign, image, ["a", "b", "c", "d"]), p.Ack)
        assert isinstance(scanned.body, p.Ack), scanned.body
        measured: set[tuple[int, int]] = set()
        deadline = time.monotonic() + 300
        while True:
            plan = store.get_plan(campaign)
            if plan is not None and plan.model_version >= 1:
                break
            assert time.monotonic() < deadline, "no model plan on the large scan in 300 s"
            todo = [] if plan is None else [
                (int(r), int(c)) for r, c in plan.points if (int(r), int(c)) not in measured]
            if plan is None or not todo:  # every planned point measured: the actor trains
                time.sleep(0.2)
                continue
            row, col = todo[0]
            acked = edge.request(p.Measurement(campaign, row, col, spectrum(row, col),
                                               plan_version=plan.model_version), p.Ack)
            assert isinstance(acked.body, p.Ack), acked.body
            measured.add((row, col))
        edge.send(p.Bye("done", campaign_id=campaign))
        wait_for(lambda: store.require_campaign(campaign).status == "finished", 30,
                 what=f"{campaign} finished")
    finally:
        edge.close()
    return image
