"""One campaign on the replay microscope through every fault a facility sees, in turn:
the gateway killed with SIGKILL (N times), the campaign actor killed, Redis killed and
restarted from its AOF, the edge's link cut, the edge agent killed with SIGKILL and
restarted. Then: the campaign finished, and every measurement is stored exactly once,
byte-identical to the replay's ground truth.

Shared by ``tests/faults/test_campaign_faults.py`` (short) and ``benchmarks/faults.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from planner_cluster.redis_server import RedisServer, free_port
from planner_cluster.state import StateStore

from .proxy import LinkProxy
from .stack import (
    REPO,
    PlannerProcess,
    edge_process,
    replay_truth,
    rss_kib,
    stop_process,
    tally,
)

PASSWORD = "fault-suite-redis-password-0123456789"


class GauntletError(AssertionError):
    """The campaign did not come through a fault (with what was seen)."""


@dataclass
class Gauntlet:
    """Settings; :func:`run_gauntlet` fills :attr:`figures`."""

    tmp: Path
    ray_address: str
    gateway_kills: int = 2
    cut_s: float = 30.0
    #: the point budget is out of reach (the grid is 2,500 points): the campaign is stopped by
    #: the operator once every fault has been injected, however fast this machine plans
    budget: int = 2500
    dwell_s: float = 0.1
    step_timeout_s: float = 120.0
    figures: dict[str, Any] = field(default_factory=dict)


def _until(predicate: Callable[[], Any], timeout: float, what: str,
           state: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise GauntletError(f"timed out after {timeout:.0f} s waiting for {what}"
                                + (f"; {state()}" if state else ""))
        time.sleep(0.05)


def _unacked(spool: Path) -> int:
    conn = sqlite3.connect(str(spool / "spool.sqlite3"))
    try:
        return int(conn.execute("SELECT count(*) FROM measurements").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _measured(spool: Path, campaign: str) -> int:
    """Points the edge measured for ``campaign``, across its runs (its spool's record)."""
    conn = sqlite3.connect(str(spool / "spool.sqlite3"))
    try:
        return int(conn.execute("SELECT count(*) FROM measured WHERE campaign_id = ?",
                                (campaign,)).fetchone()[0])
    finally:
        conn.close()


def _ctl_stop(spool: Path, timeout_s: float) -> None:
    """``autopilot edge ctl stop``: the operator's clean finish. A command that reaches an
    agent still starting up is expired by it (see docs/reliability.md); send it again."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run([sys.executable, "-m", "edge_agent", "ctl", "--spool",
                               str(spool), "stop"], cwd=REPO, capture_output=True, text=True,
                              timeout=60)
        if done.returncode == 0:
            return
        if "expired" not in done.stdout or time.monotonic() > deadline:
            raise GauntletError(f"ctl stop failed: {done.stdout} {done.stderr}")


def run_gauntlet(g: Gauntlet) -> dict[str, Any]:
    """Run the campaign through every fault; returns the figures (raises on any failure)."""
    import ray

    prefix, cid, edge_id = f"fg{uuid.uuid4().hex[:6]}", "c1", "edge-f"
    password_file = g.tmp / "redis.password"
    password_file.write_text(PASSWORD)
    server = RedisServer(appendonly=True, appendfsync="always", password=PASSWORD,
                         data_dir=g.tmp / "redis").start()
    url = f"redis://127.0.0.1:{server.port}/0"  # the password travels in a file, not the URL
    store = StateStore.connect(url, prefix, password=PASSWORD)
    planner = PlannerProcess(redis_url=url, prefix=prefix, tmp=g.tmp, port=free_port(),
                             ray=g.ray_address, password_file=password_file)
    link = LinkProxy(planner.port).start()
    edge = None
    spool = g.tmp / f"spool-{edge_id}"
    fig = g.figures
    fig.update(gateway_kills=0, actor_kills=0, redis_restarts=0, link_cuts=0, edge_kills=0,
               peak_rss_kib={}, steps=[])
    t0 = time.monotonic()

    def count() -> int:
        try:
            return store.count_measurements(cid)
        except redis.RedisError:
            return -1

    def version() -> int:
        try:
            record = store.get_campaign(cid)
        except redis.RedisError:
            return -1
        return record.model_version if record else -1

    def progress(extra: int, what: str) -> int:
        target = max(count(), 0) + extra
        _until(lambda: count() >= target, g.step_timeout_s, f"{target} measurements {what}")
        return target

    def sample() -> None:
        peaks = fig["peak_rss_kib"]
        for name, pid in (("planner", planner.proc.pid if planner.proc else 0),
                          ("redis", server.process.pid if server.process else 0),
                          ("edge", edge.pid if edge is not None else 0)):
            peaks[name] = max(peaks.get(name, 0), rss_kib(pid) if pid else 0)

    def step(name: str, **data: Any) -> None:
        sample()
        fig["steps"].append({"fault": name, "at_s": round(time.monotonic() - t0, 1),
                             "stored": count(), "model_version": version(), **data})

    try:
        planner.start()
        edge = edge_process(planner=link.endpoint, tmp=g.tmp, campaign=cid, edge_id=edge_id,
                            max_points=g.budget, dwell_s=g.dwell_s)
        progress(3, "before the first fault")
        step("start")

        for _ in range(g.gateway_kills):
            before = count()
            planner.kill9()
            fig["gateway_kills"] += 1
            planner.start()
            progress(2, "after a gateway SIGKILL")
            step("gateway SIGKILL", stored_before=before)

        actor = ray.get_actor(f"campaign:{prefix}:{cid}", namespace="autopilot")
        before_v = _until(lambda: version() >= 1 and version(), g.step_timeout_s,
                          "a first model")
        ray.kill(actor, no_restart=False)
        fig["actor_kills"] += 1
        _until(lambda: version() > before_v, g.step_timeout_s, "a plan from the restarted actor")
        progress(2, "after the actor kill")
        step("actor killed", version_before=before_v)

        before = count()
        server.kill()
        fig["redis_restarts"] += 1
        server.start()
        after = count()
        if after < before:
            raise GauntletError(f"Redis came back from its AOF with {after} < {before}")
        progress(2, "after the Redis restart")
        step("Redis SIGKILL + AOF restart", stored_before=before, stored_after_restart=after)

        if g.cut_s > 0:
            link.cut()
            fig["link_cuts"] += 1
            cut_at, frozen = time.monotonic(), count()
            buffered = 0
            while time.monotonic() - cut_at < g.cut_s:  # the outage lasts cut_s
                buffered = max(buffered, _unacked(spool))
                if count() > frozen + 1:  # one message may be inside the gateway at the cut
                    raise GauntletError("measurements arrived through a cut link")
                sample()
                time.sleep(0.5)
            link.restore()
            progress(2, "after the link came back")
            step("link cut", seconds=g.cut_s, refused_connections=link.refused,
                 buffered_in_spool=buffered)

        before = count()
        os.kill(edge.pid, signal.SIGKILL)
        edge.wait(30)
        fig["edge_kills"] += 1
        left = _unacked(spool)
        log = g.tmp / f"{edge_id}.log"
        offset = log.stat().st_size
        edge = edge_process(planner=link.endpoint, tmp=g.tmp, campaign=cid, edge_id=edge_id,
                            max_points=g.budget, dwell_s=g.dwell_s)
        _until(lambda: f"campaign {cid} resumed" in log.read_text(errors="replace")[offset:],
               g.step_timeout_s, "the restarted edge to resume its campaign")
        progress(2, "after the edge restart")
        step("edge SIGKILL + restart", stored_before=before, unacked_in_spool=left)
        _ctl_stop(spool, g.step_timeout_s)
        code = edge.wait(g.step_timeout_s * 3)
        if code != 0:
            raise GauntletError(f"edge exited {code}:\n"
                                + (g.tmp / f"{edge_id}.log").read_text()[-3000:])
        sample()
        measured = _measured(spool, cid)
        final = _until(lambda: (plan := store.get_plan(cid)) is not None
                       and plan.stats.get("n_observed") == measured and plan, g.step_timeout_s,
                       f"the final model on every measurement ({measured})",
                       lambda: f"last plan: {store.get_plan(cid)}, status "
                               f"{store.require_campaign(cid).status}, stored "
                               f"{len(store.read_measurements(cid))}")
        t = tally(store, cid, replay_truth())
        fig.update(
            measured_by_edge=measured, stored=t.stored, lost=measured - t.distinct_points,
            duplicates=t.duplicates, wrong_spectra=t.wrong_checksums,
            checksum_match=t.digest == t.truth_digest, spool_left=_unacked(spool),
            status=store.require_campaign(cid).status, final_model_version=final.model_version,
            planner_crashes=sum("Traceback" in (g.tmp / f"planner-{i}.log").read_text()
                                for i in range(1, planner.starts + 1)),
            wall_s=round(time.monotonic() - t0, 1))
        step("end")
        return fig
    finally:
        stop_process(edge)
        planner.stop()
        link.close()
        try:
            ray.kill(ray.get_actor(f"campaign:{prefix}:{cid}", namespace="autopilot"),
                     no_restart=True)
        except ValueError:
            pass  # reaped already
        store.close()
        server.cleanup()
