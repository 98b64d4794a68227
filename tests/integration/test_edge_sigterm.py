"""A service stop: SIGTERM to a real edge process mid-acquisition stops the instrument, closes
it, keeps every spooled measurement, leaves the campaign open (no bye) and exits 5; the next
run resumes the campaign and delivers what was spooled. Also: a stop with nothing spooled ends
at once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

import protocol as p
from tests.conftest import REPO, wait_for
from tests.integration.test_edge_process import spooled
from tests.peers.edge_harness import edge_config, start_agent
from tests.peers.fake_planner import FakePlanner, free_port
from tests.unit.edge.plugin_folder import env_with, plugin_folder

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def edge(planner: FakePlanner, tmp: Path, journal: Path, *extra: str) -> subprocess.Popen[bytes]:
    folder = plugin_folder(tmp / "site", {"example": "autopilot_example_driver:make_example"})
    args = [sys.executable, "-m", "edge_agent", "run", "--planner", planner.endpoint,
            "--campaign", "c1", "--spool", str(tmp / "spool"), "--edge-id", "edge-sigterm",
            "--instrument", f"example:film?size=16&journal={journal}", "--heartbeat", "0.3",
            "--progress", "off", "--log-level", "DEBUG", *extra]
    env = {**env_with(folder), "AUTOPILOT_EDGE_RESEND_AFTER_S": "0.5",
           "AUTOPILOT_EDGE_BACKOFF_MAX_S": "0.5", "AUTOPILOT_EDGE_HELLO_TIMEOUT_S": "1"}
    with (tmp / "edge.log").open("ab") as out:
        return subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)


def commands(journal: Path) -> list[list[str]]:
    """The instrument's journal: one command per line, after its timestamp."""
    if not journal.exists():
        return []
    return [line.split()[1:] for line in journal.read_text().splitlines()]


def under_way(journal: Path, spool: Path) -> bool:
    """Whether the instrument's last command is an acquisition whose point is not stored."""
    done = commands(journal)
    if not done or done[-1][0] != "acquire":
        return False
    point = (int(done[-1][1]), int(done[-1][2]))
    return point not in {(r, c) for _, _, r, c in spooled(spool)}


def test_sigterm_mid_acquisition_stops_the_instrument_and_keeps_the_spool(
        tmp_path: Path) -> None:
    journal, log = tmp_path / "journal.txt", tmp_path / "edge.log"
    with FakePlanner(heartbeat_s=0.3) as planner:
        planner.faults(batch=4)
        # A long dwell: the SIGTERM lands inside an acquisition, not between two.
        proc = edge(planner, tmp_path, journal, "--max-points", "200", "--dwell", "2")
        try:
            wait_for(lambda: planner.count() >= 1, timeout=60, what="a first measurement")
            planner.faults(silent=True)  # acks stop: measurements stay in the spool
            wait_for(lambda: len(spooled(tmp_path / "spool")) >= 2, timeout=60,
                     what="unacknowledged measurements")
            wait_for(lambda: under_way(journal, tmp_path / "spool"), timeout=30,
                     what="an acquisition under way")
            before = spooled(tmp_path / "spool")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = log.read_text()
        assert code == 5, text[-3000:]
        done = commands(journal)
        assert done[-2:] == [["stop"], ["close"]], done[-5:]
        interrupted = tuple(int(x) for x in done[-3][1:])  # the acquisition SIGTERM cut short
        assert done[-3][0] == "acquire"
        after = spooled(tmp_path / "spool")
        assert after == before  # intact: nothing lost, nothing half-measured added
        assert interrupted not in {(r, c) for _, _, r, c in after}
        assert "SIGTERM: service stop" in text and "-[interrupt]-> interrupted" in text
        assert planner.messages("bye") == []  # the campaign was left open

        planner.faults(silent=False)
        measured = len(after) + planner.count("c1")
        again = edge(planner, tmp_path, journal, "--max-points", str(measured + 2),
                     "--dwell", "0")
        assert again.wait(60) == 0, log.read_text()[-3000:]
        assert spooled(tmp_path / "spool") == []
        start = planner.messages("campaign_start")[-1].body
        assert isinstance(start, p.CampaignStart) and start.resume
        stored = {(s.session, s.seq): (s.row, s.col) for s in planner.stored}
        for session, seq, row, col in after:  # resent with their original session and seq
            assert stored[(session, seq)] == (row, col)
        points = planner.points("c1")
        assert len(points) == len(set(points)) == measured + 2


def test_a_stop_with_nothing_spooled_does_not_wait_for_a_dead_planner(tmp_path: Path) -> None:
    dead = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: the link never gets ready
    # A zero point budget stops at once with nothing measured; the hour-long drain timeout
    # would outlast join() if the stop waited for the link.
    run = start_agent(edge_config(dead, tmp_path / "spool", instrument="sim:loops?size=8",
                                  max_points=0, drain_timeout_s=3600.0))
    result = run.join(60)
    assert (result.state, result.exit_code, result.pending) == ("finished", 0, 0)


def test_an_interrupt_from_a_signal_handler_ends_interrupted(tmp_path: Path) -> None:
    # (the planner cannot ask for one: interrupt is not a protocol control action)
    with FakePlanner(heartbeat_s=0.2) as planner:
        run = start_agent(edge_config(planner.endpoint, tmp_path / "spool", max_points=500,
                                      dwell_s=0.05))
        wait_for(lambda: planner.count() >= 2, what="measuring")
        run.agent.submit_from_signal("interrupt")  # what the SIGTERM handler does
        result = run.join()
        assert (result.state, result.exit_code) == ("interrupted", 5)
        assert not planner.messages("bye")
