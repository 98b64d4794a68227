"""The edge agent as a real process: kill -9 mid-campaign and restart (the spool replays),
``autopilot edge ctl`` against a running agent, and the import-weight check."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, wait_for
from tests.peers.fake_planner import FakePlanner

pytestmark = pytest.mark.integration


@pytest.fixture
def planner() -> Iterator[FakePlanner]:
    peer = FakePlanner(heartbeat_s=0.3).start()
    yield peer
    peer.close()


def agent_process(planner: FakePlanner, spool: Path, log: Path, *extra: str
                  ) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "edge_agent", "run", "--planner", planner.endpoint,
            "--campaign", "c1", "--spool", str(spool), "--edge-id", "edge-test",
            "--instrument", "sim:loops?size=40&seed=1", "--heartbeat", "0.3",
            "--progress", "off", "--log-level", "DEBUG", *extra]
    env = {**os.environ, "AUTOPILOT_EDGE_RESEND_AFTER_S": "0.5",
           "AUTOPILOT_EDGE_BACKOFF_MAX_S": "0.5", "AUTOPILOT_EDGE_HELLO_TIMEOUT_S": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)


def spooled(spool: Path) -> list[tuple[str, int, int, int]]:
    """(session, seq, row, col) of every unacked measurement, read by a separate connection."""
    conn = sqlite3.connect(str(spool / "spool.sqlite3"))
    try:
        return [(s, q, r, c) for s, q, r, c in conn.execute(
            "SELECT session, seq, row, col FROM measurements ORDER BY seq")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX kill -9")
def test_kill_9_mid_campaign_then_restart_replays_the_spool(planner: FakePlanner,
                                                            tmp_path: Path) -> None:
    spool, log = tmp_path / "spool", tmp_path / "agent.log"
    planner.faults(batch=12)
    proc = agent_process(planner, spool, log, "--max-points", "40", "--dwell", "0.02")
    try:
        wait_for(lambda: planner.count() >= 5, timeout=20, what="first measurements")
        planner.faults(silent=True)  # acks stop: measurements pile up in the spool
        wait_for(lambda: len(spooled(spool)) >= 4, timeout=20, what="unacked measurements")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = spooled(spool)
    assert len(left) >= 4
    planner.faults(silent=False)
    again = agent_process(planner, spool, log, "--max-points", "40", "--dwell", "0.0")
    assert again.wait(60) == 0, log.read_text()[-3000:]
    assert spooled(spool) == []
    stored = {(s.session, s.seq): (s.row, s.col) for s in planner.stored}
    for session, seq, row, col in left:  # resent with their original session and seq
        assert stored[(session, seq)] == (row, col)
    points = planner.points("c1")
    assert len(points) == len(set(points)) == 40  # nothing lost, nothing stored twice
    assert "resent first" in log.read_text()


def test_ctl_pauses_and_stops_a_running_agent(planner: FakePlanner, tmp_path: Path) -> None:
    spool, log = tmp_path / "spool", tmp_path / "agent.log"
    proc = agent_process(planner, spool, log, "--max-points", "1000", "--dwell", "0.02")

    def ctl(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge_agent", "ctl", "--spool", str(spool),
                               *words], cwd=REPO, capture_output=True, text=True, timeout=30)

    try:
        wait_for(lambda: planner.count() >= 2, timeout=20, what="measuring")
        done = ctl("pause")
        assert (done.returncode, done.stdout.strip()) == (0, "pause: accepted (now paused)")
        refused = ctl("add-point", "99", "0")
        assert refused.returncode == 1 and "outside the field of view" in refused.stdout
        assert ctl("veto-region", "0", "0", "9", "39").returncode == 0
        assert ctl("resume").returncode == 0
        assert ctl("stop").returncode == 0
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    gone = ctl("pause")
    assert gone.returncode == 6 and "no agent is running" in gone.stderr  # nothing to reach


def test_importing_the_edge_pulls_in_no_planner_dependencies() -> None:
    code = (
        "import sys\n"
        "import edge_agent, edge_agent.cli, edge_agent.agent, edge_agent.progress\n"
        "import edge_agent.instruments.replay, edge_agent.instruments.simulated\n"
        "import edge_agent.instruments.datasets, edge_agent.instruments.procedural\n"
        "from edge_agent.instruments import make_instrument\n"
        "make_instrument('sim:loops?size=16').scan()\n"
        "heavy = {'torch', 'ray', 'redis', 'gpytorch', 'planner_cluster', 'h5py', 'rsciio',\n"
        "         'matplotlib', 'rich', 'pydantic', 'fastapi'}\n"  # typer: the edge's CLI
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout
