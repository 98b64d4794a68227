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

from .demo_harness import cmdline, start_demo, stop_mid_campaign

# Slow (make test-slow), with the Ctrl-C mid-campaign test in test_demo.py: make test keeps
# the demo run that checks every process it started ends after its Ctrl-C.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


def test_sigterm_to_the_demo_stops_everything_it_started(tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    proc = start_demo([sys.executable, "-m", "autopilot_cli", "demo", "--steps", "200",
                       "--dwell", "0.2", "--no-wait", "--out", str(tmp_path / "run")], log)

    def sigterm(children: list[Any]) -> None:
        assert any(" monitor " in cmdline(p) for p in children)  # the dashboard, too
        os.kill(proc.pid, signal.SIGTERM)

    text = stop_mid_campaign(proc, log, sigterm)
    assert "Traceback" not in text, text[-3000:]
    assert "0 still spooled" in (tmp_path / "run" / "edge.log").read_text()  # a clean stop
