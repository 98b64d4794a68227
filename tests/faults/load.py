"""Many edge agent processes against one planner process, with memory sampled throughout and
loop latency probed; then every campaign is checked: nothing lost, nothing twice, every
spectrum byte-identical to the replay's ground truth.

Shared by ``tests/faults/test_load.py`` (4 edges, seconds) and ``benchmarks/faults.py load``
(16 edges, 10 minutes or more).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis
import zmq

import protocol as p
from planner_cluster.redis_server import RedisServer, free_port
from planner_cluster.state import StateStore
from protocol import transport

from .gauntlet import PASSWORD, GauntletError
from .stack import (
    KEY,
    REPO,
    PlannerProcess,
    children,
    edge_process,
    replay_truth,
    rss_kib,
    stop_process,
    tally,
)


@dataclass
class Load:
    """Settings. ``ray``: an address to join; ``local`` (the planner starts its own); or
    ``niced`` (a helper process starts a local Ray at nice 10 for the planner to join: the
    campaign actors' training then yields the cores to the gateway, as it would on the
    separate training nodes of a facility)."""

    tmp: Path
    ray: str
    edges: int = 4
    seconds: float = 20.0
    dwell_s: float = 0.1
    batch: int = 8
    sample_s: float = 2.0
    probe_every_s: float = 0.5
    planner_env: dict[str, str] = field(default_factory=dict)
    #: short tests: resend after 1 s (quick recovery); long runs: the agent's defaults (5 s).
    #: A resend timer shorter than the gateway's ack latency under load multiplies the
    #: offered load by the in-flight window (see docs/reliability.md).
    fast_edges: bool = True


class NicedRay:
    """A local Ray owned by a helper process of ours, at a lower CPU priority."""

    SCRIPT = (
        "import os, sys, ray\n"
        "from planner_cluster.actors.supervisor import init_ray\n"
        "from planner_cluster.config import PlannerConfig\n"
        "os.nice(int(sys.argv[1]))\n"
        "init_ray(PlannerConfig(ray='local', ray_num_cpus=int(sys.argv[2]),\n"
        "                       ray_memory_mb=8192, ray_object_store_mb=256))\n"
        "print(ray.get_runtime_context().gcs_address, flush=True)\n"
        "sys.stdin.read()\n"
        "ray.shutdown()\n")

    def __init__(self, cpus: int, nice: int = 10) -> None:
        self.cpus, self.nice = cpus, nice
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(self.nice), str(self.cpus)], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        address = self.proc.stdout.readline().strip()
        if not address:
            self.stop()
            raise GauntletError("the niced Ray did not start")
        return address

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.close()  # the helper shuts its Ray down and exits
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()


class Sampler(threading.Thread):
    """RSS of the planner (its own process, and with every descendant: Ray's when it owns
    Ray), Redis and each edge, every ``every_s``."""

    def __init__(self, pids: dict[str, Any], every_s: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pids, self.every_s = pids, every_s
        self.samples: list[dict[str, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.halt.wait(self.every_s):
            planner = self.pids["planner"]()
            edges = [rss_kib(pid) for pid in self.pids["edges"]()]
            ray = self.pids["ray"]()
            self.samples.append({
                "t_s": round(time.monotonic() - t0, 1),
                "ray_tree_mib": (rss_kib(ray) + sum(rss_kib(c) for c in children(ray))) / 1024
                if ray else 0.0,
                "planner_mib": rss_kib(planner) / 1024,
                "planner_tree_mib": (rss_kib(planner) + sum(
                    rss_kib(c) for c in children(planner))) / 1024,
                "redis_mib": rss_kib(self.pids["redis"]()) / 1024,
                "edge_max_mib": max(edges, default=0) / 1024,
                "edges_total_mib": sum(edges) / 1024})

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_samples": len(self.samples)}
        if not self.samples:
            return out
        keys = [k for k in self.samples[0] if k != "t_s"]
        n = len(self.samples)
        tenth = max(1, n // 10)
        for k in keys:
            values = np.array([s[k] for s in self.samples])
            # boundedness: the second half against its start (actors start during the first)
            half = values[n // 2:n // 2 + tenth]
            out[k] = {"peak": round(float(values.max()), 1),
                      "first_10pct_mean": round(float(values[:tenth].mean()), 1),
                      "mid_10pct_mean": round(float(half.mean()), 1),
                      "last_10pct_mean": round(float(values[-tenth:].mean()), 1)}
        return out


class Probe(threading.Thread):
    """A protocol-level edge with a campaign of its own: sends one real spectrum every
    ``every_s`` and times measurement sent -> ack, and -> the plan reply."""

    def __init__(self, endpoint: str, every_s: float) -> None:
        super().__init__(name="latency-probe", daemon=True)
        self.endpoint, self.every_s = endpoint, every_s
        self.ack_ms: list[float] = []
        self.plan_ms: list[float] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _run(self) -> None:
        from edge_agent.instruments.datasets import load_beps

        data = load_beps()
        ctx: zmq.Context[Any] = zmq.Context()
        sock = transport.make_dealer(ctx, self.endpoint, "probe")
        session = p.Session("probe", p.Signer(KEY.encode()))
        try:
            for body in (p.Hello("probe", {"name": "probe"}),
                         p.CampaignStart("probe", {"seeds": 3}, spectral_axis=data.axis),
                         p.Scan("probe", data.image)):
                sent = transport.send(sock, session, body)
                self._wait(sock, session, sent.header.msg_id, (p.Welcome, p.Ack))
            rows, cols = data.spectra.shape[:2]
            for i in np.random.default_rng(7).permutation(rows * cols):
                if self.halt.wait(self.every_s):
                    return
                r, c = divmod(int(i), cols)
                t0 = time.perf_counter()
                sent = transport.send(sock, session, p.Measurement("probe", r, c,
                                                                   data.spectra[r, c]))
                # the gateway acks, then (once the campaign has a plan) replies with it, in
                # the same step: after the ack, the plan reply follows at once or not at all
                timeout = 60.0
                while True:
                    if not sock.poll(int(timeout * 1000)):
                        if timeout < 60.0:
                            break  # acked; no plan yet
                        raise GauntletError("the probe's measurement was not acked in 60 s")
                    _, msg = session.decode(sock.recv_multipart(copy=False))
                    if msg.header.parent_id != sent.header.msg_id:
                        continue
                    if isinstance(msg.body, p.Ack):
                        self.ack_ms.append((time.perf_counter() - t0) * 1e3)
                        timeout = 1.0
                    elif isinstance(msg.body, p.Plan):
                        self.plan_ms.append((time.perf_counter() - t0) * 1e3)
                        break
                    elif isinstance(msg.body, p.Error):
                        raise GauntletError(f"probe refused: {msg.body}")
        finally:
            sock.close(linger=0)
            ctx.term()

    @staticmethod
    def _wait(sock: Any, session: p.Session, msg_id: str, kinds: tuple[type, ...]) -> None:
        while True:
            _, msg = transport.recv(sock, session, 60)
            if msg.header.parent_id == msg_id:
                if not isinstance(msg.body, kinds):
                    raise GauntletError(f"probe setup refused: {msg.body}")
                return

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float]) -> dict[str, Any]:
            if not values:
                return {"n": 0}
            a = np.array(values)
            return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 2),
                    "p99_ms": round(float(np.percentile(a, 99)), 2),
                    "max_ms": round(float(a.max()), 2)}

        return {"ack": pct(self.ack_ms), "plan_reply": pct(self.plan_ms)}


def _spool_counts(spool: Path, campaign: str) -> tuple[int, int, int]:
    """(points the edge measured, measurements still unacknowledged, measurements the
    planner refused) from its spool."""
    conn = sqlite3.connect(str(spool / "spool.sqlite3"))
    try:
        measured = conn.execute("SELECT count(*) FROM measured WHERE campaign_id = ?",
                                (campaign,)).fetchone()[0]
        unacked = conn.execute("SELECT count(*) FROM measurements").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM rejected").fetchone()[0]
        return int(measured), int(unacked), int(rejected)
    finally:
        conn.close()


def run_load(cfg: Load) -> dict[str, Any]:
    """Run the load; returns the figures. Raises when anything was lost or duplicated."""
    prefix = f"ld{uuid.uuid4().hex[:6]}"
    password_file = cfg.tmp / "redis.password"
    password_file.write_text(PASSWORD)
    server = RedisServer(appendonly=True, appendfsync="always", password=PASSWORD,
                         data_dir=cfg.tmp / "redis").start()
    url = f"redis://127.0.0.1:{server.port}/0"
    store = StateStore.connect(url, prefix, password=PASSWORD)
    niced = NicedRay(cpus=max(2, (cfg.edges + 4) // 4)) if cfg.ray == "niced" else None
    ray_address = niced.start() if niced is not None else cfg.ray
    env = dict(cfg.planner_env)
    if niced is not None:  # present the token from its default path, as the helper does
        env["RAY_AUTH_MODE"] = "token"
    planner = PlannerProcess(redis_url=url, prefix=prefix, tmp=cfg.tmp, port=free_port(),
                             ray=ray_address, password_file=password_file, env=env)
    procs: list[Any] = []
    sampler = Sampler({"planner": lambda: planner.proc.pid if planner.proc else 0,
                       "redis": lambda: server.process.pid if server.process else 0,
                       "ray": lambda: niced.proc.pid if niced and niced.proc else 0,
                       "edges": lambda: [q.pid for q in procs if q.poll() is None]},
                      cfg.sample_s)
    probe: Probe | None = None
    t0 = time.monotonic()
    try:
        planner.start(timeout_s=120)
        sampler.start()
        probe = Probe(planner.endpoint, cfg.probe_every_s)
        probe.start()
        for i in range(cfg.edges):
            procs.append(edge_process(
                planner=planner.endpoint, tmp=cfg.tmp, campaign=f"load-{i}",
                edge_id=f"edge-{i}", max_points=2500, dwell_s=cfg.dwell_s, batch=cfg.batch,
                extra=("--budget-s", str(cfg.seconds)), fast=cfg.fast_edges))
        codes = [q.wait(cfg.seconds + 600) for q in procs]
        wall = time.monotonic() - t0
        # exit 4: stopped with measurements still spooled (the planner fell behind); the next
        # run on that spool delivers them, measuring nothing more (its point budget is spent)
        drains: dict[int, Any] = {}
        for i, code in enumerate(codes):
            if code == 4:
                measured, _, _ = _spool_counts(cfg.tmp / f"spool-edge-{i}", f"load-{i}")
                drains[i] = edge_process(
                    planner=planner.endpoint, tmp=cfg.tmp, campaign=f"load-{i}",
                    edge_id=f"edge-{i}", max_points=measured, dwell_s=cfg.dwell_s,
                    batch=cfg.batch, env={"AUTOPILOT_EDGE_DRAIN_TIMEOUT_S": "600"},
                    fast=cfg.fast_edges)
                procs.append(drains[i])
        for i, again in drains.items():
            codes[i] = again.wait(900)
        drained = list(drains)
        probe.halt.set()
        probe.join(120)
        sampler.halt.set()
        sampler.join(30)
        failed = [i for i, c in enumerate(codes) if c != 0]
        if failed:
            log = (cfg.tmp / f"edge-{failed[0]}.log").read_text()[-3000:]
            raise GauntletError(f"edges {failed} exited {[codes[i] for i in failed]}:\n{log}")
        if probe.error is not None:
            raise probe.error
        truth = replay_truth()
        campaigns: dict[str, Any] = {}
        for i in range(cfg.edges):
            cid = f"load-{i}"
            t = tally(store, cid, truth)
            measured, unacked, rejected = _spool_counts(cfg.tmp / f"spool-edge-{i}", cid)
            campaigns[cid] = {"measured_by_edge": measured, "stored": t.stored,
                              "lost": measured - t.distinct_points,
                              "duplicates": t.duplicates, "wrong_spectra": t.wrong_checksums,
                              "unacked_left": unacked, "rejected": rejected}
        try:
            redis_used = int(store.r.info("memory")["used_memory"]) / 2**20
        except redis.RedisError:
            redis_used = -1.0
        return {
            "edges": cfg.edges, "seconds": cfg.seconds, "dwell_s": cfg.dwell_s,
            "wall_s": round(wall, 1), "edges_needing_a_drain_run": len(drained),
            "measurements": sum(c["stored"] for c in campaigns.values()),
            "lost": sum(c["lost"] for c in campaigns.values()),
            "duplicates": sum(c["duplicates"] for c in campaigns.values()),
            "wrong_spectra": sum(c["wrong_spectra"] for c in campaigns.values()),
            "unacked_left": sum(c["unacked_left"] for c in campaigns.values()),
            "rejected": sum(c["rejected"] for c in campaigns.values()),
            "planner_crashes": int("Traceback" in planner.log.read_text(errors="replace")),
            "latency": probe.summary(), "memory": sampler.summary(),
            "redis_used_memory_mib": round(redis_used, 1), "campaigns": campaigns}
    finally:
        if probe is not None:
            probe.halt.set()
        sampler.halt.set()
        for q in procs:
            stop_process(q)
        planner.stop(timeout_s=60)
        _kill_actors(prefix, [f"load-{i}" for i in range(cfg.edges)] + ["probe"])
        if niced is not None:
            niced.stop()
        store.close()
        server.cleanup()


def _kill_actors(prefix: str, campaigns: list[str]) -> None:
    """Detached campaign actors left in a Ray this process is connected to (a test
    session's); a planner that owned its Ray stopped them with it."""
    import ray

    if not ray.is_initialized():
        return
    for cid in campaigns:
        try:
            ray.kill(ray.get_actor(f"campaign:{prefix}:{cid}", namespace="autopilot"),
                     no_restart=True)
        except ValueError:
            pass  # reaped already
