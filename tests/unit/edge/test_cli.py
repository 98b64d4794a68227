"""``autopilot edge`` in-process: subcommands, exit codes, clear messages."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.progress import Progress, ProgressLine
from tests.peers.fake_planner import FakePlanner


def test_drivers_and_export_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drivers"]) == 0
    assert "replay" in capsys.readouterr().out
    out = tmp_path / "truth.npz"
    assert main(["export-truth", "sim:peaks?size=12&seed=4", str(out)]) == 0
    assert "12 x 12 spectra of 128" in capsys.readouterr().out
    with np.load(out) as truth:
        assert truth["spectra"].shape == (12, 12, 128)


@pytest.mark.parametrize("argv, code, message", [
    (["run"], 2, "campaign id is required"),
    (["run", "--campaign", "c", "--window", "0"], 2, "window must be >= 1"),
    (["run", "--campaign", "c", "--instrument", "vendor:x", "--progress", "off"], 1,
     "no instrument driver 'vendor'"),
    (["export-truth", "replay:/nonexistent.npz", "out.npz"], 1, "replay file not found"),
    (["bogus"], 2, ""),
])
def test_errors_are_reported_with_exit_codes(argv: list[str], code: int, message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    assert message in capsys.readouterr().err


def test_ctl_and_spool_without_an_agent(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ctl", "--spool", str(tmp_path), "pause"]) == 6  # nothing to reach
    assert "no agent is running" in capsys.readouterr().err
    assert main(["ctl", "--spool", str(tmp_path), "veto", "1"]) == 2
    assert main(["spool", "--spool", str(tmp_path)]) == 2


def test_run_a_campaign_then_inspect_the_spool(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    with FakePlanner() as planner:
        code = main(["--planner", planner.endpoint, "--campaign", "c1", "--spool", str(spool),
                     "--instrument", "sim:loops?size=20", "--dwell", "0", "--max-points", "6",
                     "--edge-id", "edge-test", "--progress", "off", "--batch", "3"])
        assert code == 0
        assert planner.count("c1") == 6
        assert planner.campaigns["c1"]["config"]["batch"] == 3
    assert main(["spool", "--spool", str(spool)]) == 0
    assert "0 unacknowledged measurement(s)" in capsys.readouterr().out


def test_progress_line() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream)
    line.update(Progress("running", "ready", 3, 1, 2, 4, 10))
    line.close()
    assert "measured 3/10" in stream.getvalue() and "plan v4" in stream.getvalue()
