"""A real planner service (in a thread) and real edge agent processes, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planner_cluster.config import PlannerConfig
from planner_cluster.redis_server import free_port
from planner_cluster.service import PlannerService

KEY = "end-to-end-signing-key-0123456789abcdef"


@contextmanager
def running_planner(redis_url: str, prefix: str, tmp: Path,
                    port: int | None = None) -> Iterator[PlannerService]:
    key_file = tmp / "signing.key"
    key_file.write_text(KEY)
    config = PlannerConfig(redis_url=redis_url, redis_prefix=prefix,
                           bind=f"tcp://127.0.0.1:{port or free_port()}",
                           signing_key_file=str(key_file), data_dir=str(tmp / "planner"),
                           heartbeat_s=0.5)
    service = PlannerService(config)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    if not service.ready.wait(60):
        raise RuntimeError("planner did not start")
    try:
        yield service
    finally:
        service.stop()
        thread.join(30)
        kill_campaign_actors(prefix)


def kill_campaign_actors(prefix: str) -> None:
    """Kill the campaign actors (and the training gates) this planner started. They are
    detached (a restarted planner finds them), so on the test session's shared local Ray they
    would outlive the test and keep their CPU share: enough of them and a later test's actors
    never get scheduled (a gate reserves no CPU, but each is a process)."""
    import ray

    if not ray.is_initialized():
        return
    from planner_cluster.actors.supervisor import NAMESPACE

    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"] if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and entry.get("namespace") != NAMESPACE:
            continue
        if name.startswith((f"campaign:{prefix}:", f"training-gate:{prefix}:")):
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            except ValueError:  # gone meanwhile
                pass


def edge_command(service: PlannerService, tmp: Path, campaign: str, *, edge_id: str = "edge-1",
                 instrument: str = "replay:beps", max_points: int = 20, batch: int = 4,
                 extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "autopilot_cli", "edge", "run",
            "--planner", service.config.bind, "--instrument", instrument, "--dwell", "0",
            "--campaign", campaign, "--edge-id", edge_id, "--spool", str(tmp / f"spool-{edge_id}"),
            "--signing-key", str(tmp / "signing.key"), "--max-points", str(max_points),
            "--batch", str(batch), "--progress", "off", "--heartbeat", "0.5", *extra]


#: Edge processes started by tests; tests/integration/conftest.py kills leftovers.
STARTED: list[subprocess.Popen[bytes]] = []


def start_edge(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("ab") as out:  # the child keeps its own handle
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    STARTED.append(proc)
    return proc


def kill_leftover_edges(keep: int = 0) -> None:
    """SIGKILL, by PID, every edge a test started and left running (a failed test); the
    first ``keep`` started belong to an enclosing fixture and are left alone."""
    while len(STARTED) > keep:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
