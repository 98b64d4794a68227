"""SIGTERM does what Ctrl-C does: a demo stopped by ``kill`` (the demo process alone, as a
service manager or an impatient user would) stops the campaign cleanly and leaves none of the
processes it started behind: planner, Ray, Redis, the edge and the dashboard."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from ..conftest import wait_for
from .test_demo import _alive, _cmdline, _descendants, _start

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_sigterm_to_the_demo_stops_everything_it_started(tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    proc = _start([sys.executable, "-m", "autopilot_cli", "demo", "--steps", "200", "--dwell",
                   "0.2", "--no-wait", "--out", str(tmp_path / "run")], log)
    try:
        def mid_campaign() -> list[Any]:
            procs = _descendants(proc.pid)
            lines = [_cmdline(p) for p in procs]
            edge = any(" edge run " in line for line in lines)
            actor = any("CampaignWorker" in line for line in lines)
            return procs if edge and actor else []

        children = wait_for(mid_campaign, timeout=150, interval=0.2, what="a running campaign")
        assert any(" monitor " in _cmdline(p) for p in children)  # the dashboard, too
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert code == 130, text[-3000:]
    wait_for(lambda: not [p for p in children if _alive(p)], timeout=60,
             what="every process the demo started to end")
    assert "Traceback" not in text, text[-3000:]
    assert "0 still spooled" in (tmp_path / "run" / "edge.log").read_text()  # a clean stop
