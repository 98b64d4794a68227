"""Measure campaign sizing on a running ``deploy/local-cluster.sh`` cluster.

Runs N concurrent edge agents (replay:beps, dwell 0) against the cluster's gateway and samples,
every 0.25 s, the resident memory of every ``ray::CampaignWorker`` process (one per campaign)
and of the worker node's whole process tree (only processes under the worker node's
``ray start`` PID: other Ray clusters on the machine are not counted). Prints one JSON line
per N; the figures in
docs/operations.md come from it.

    deploy/local-cluster.sh up
    python deploy/measure_sizing.py --concurrent 1 4 8 --points 48
    deploy/local-cluster.sh down
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines()
             if line and not line.startswith("#"))
    return {k: v for k, _, v in pairs}


def node_processes(pid: int) -> list[psutil.Process]:
    """The node's `ray start --block` process and everything under it."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss(p: psutil.Process) -> int:
    try:
        return int(p.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def pss(p: psutil.Process) -> int:
    """Proportional set size: shared pages divided among the processes sharing them."""
    try:
        return int(p.memory_full_info().pss)
    except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
        return 0


def campaign_actors(procs: list[psutil.Process]) -> dict[int, tuple[int, int]]:
    """PID -> (RSS, PSS) of the CampaignWorker actor processes among ``procs``."""
    out = {}
    for p in procs:
        try:
            cmd = p.cmdline()
        except psutil.NoSuchProcess:
            continue
        if cmd and cmd[0].startswith("ray::CampaignWorker"):
            out[p.pid] = (rss(p), pss(p))
    return out


def run(n: int, points: int, env: dict[str, str], state: Path) -> dict[str, object]:
    worker_pid = int((state / "pids" / "ray-worker.pid").read_text())
    tag = uuid.uuid4().hex[:6]
    peak_actor: dict[int, int] = {}
    peak_pss: dict[int, int] = {}
    peak = {"actors_sum": 0, "worker_node": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            procs = node_processes(worker_pid)
            actors = campaign_actors(procs)
            for pid, (size, proportional) in actors.items():
                peak_actor[pid] = max(peak_actor.get(pid, 0), size)
                peak_pss[pid] = max(peak_pss.get(pid, 0), proportional)
            peak["actors_sum"] = max(peak["actors_sum"], sum(r for r, _ in actors.values()))
            peak["worker_node"] = max(peak["worker_node"], sum(rss(p) for p in procs))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i in range(n):
            cmd = [sys.executable, "-m", "autopilot_cli", "edge", "run", "--planner",
                   env["GATEWAY"], "--instrument", "replay:beps", "--dwell", "0",
                   "--campaign", f"size-{tag}-{i}", "--edge-id", f"edge-{tag}-{i}",
                   "--spool", f"{tmp}/spool-{i}", "--signing-key", env["SIGNING_KEY_FILE"],
                   "--max-points", str(points), "--batch", "4", "--progress", "off"]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        codes = [p.wait(1800) for p in procs]
    wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    mib = 1 << 20
    per_actor = sorted(v // mib for v in peak_actor.values())
    return {"concurrent": n, "points": points, "exit_codes": codes, "wall_s": round(wall, 1),
            "actor_peak_rss_mib": per_actor,
            "actor_peak_pss_mib": sorted(v // mib for v in peak_pss.values()),
            "actors_sum_peak_mib": peak["actors_sum"] // mib,
            "worker_node_peak_rss_mib": peak["worker_node"] // mib,
            "cpus": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", default=os.environ.get("AUTOPILOT_CLUSTER_DIR",
                                                          "/tmp/autopilot-cluster"))
    parser.add_argument("--concurrent", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--points", type=int, default=48)
    args = parser.parse_args()
    state = Path(args.state)
    env = read_env(state / "cluster.env")
    for n in args.concurrent:
        print(json.dumps(run(n, args.points, env, state)), flush=True)


if __name__ == "__main__":
    main()
