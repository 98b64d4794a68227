"""`autopilot demo` end to end, as a user runs it: a real process starting embedded Redis, local
Ray, the planner and an edge agent replaying the real BEPS data. It prints the dashboard's
address first and keeps the dashboard up after its results until Ctrl-C (`--wait`); its
archive and report are checked for content; Ctrl-C in the middle must leave no process
behind; `autopilot replay` must reproduce the archived decisions."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner_cluster.demo_cli import replay_main

from ..conftest import wait_for
from .demo_harness import alive, descendants, start_demo, stop_mid_campaign

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STEPS = 24


def _demo(out: Path, *extra: str) -> list[str]:
    """The demo, not waiting for Ctrl-C at the end unless ``extra`` says ``--wait``."""
    wait = [] if "--wait" in extra else ["--no-wait"]
    return [sys.executable, "-m", "autopilot_cli", "demo", "--steps", str(STEPS), "--out",
            str(out), *wait, *extra]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("demo") / "run"
    log = out.parent / "demo.out"
    proc = start_demo(_demo(out, "--dwell", "0", "--wait"), log)
    try:
        wait_for(lambda: "press Ctrl-C to stop it" in log.read_text() or proc.poll() is not None,
                 timeout=200, what="the demo holding its dashboard after the results")
        text = log.read_text()
        held = re.search(r"dashboard stays up at (http://127\.0\.0\.1:\d+)", text)
        assert held and proc.poll() is None, text[-4000:]
        with urllib.request.urlopen(held.group(1) + "/", timeout=30) as page:
            assert page.status == 200  # still serving, after the archive and report
        token = re.search(r"log in with token (\S+)", text)
        campaign = re.search(r"campaign (demo-beps-\S+): finished", text)
        assert token and campaign, text[-4000:]
        request = urllib.request.Request(
            f"{held.group(1)}/api/campaigns/{campaign.group(1)}/baseline",
            headers={"Authorization": f"Bearer {token.group(1)}"})
        with urllib.request.urlopen(request, timeout=30) as got:
            baseline = json.load(got)  # the replay's ground truth reached the dashboard
        assert baseline["kind"] == "truth" and baseline["n_truth"] == 2500
        children = descendants(proc.pid)  # Redis, Ray, the edge, the dashboard
        assert children, "the demo started no processes?"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C on the terminal: a normal end here
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, log.read_text()[-4000:]
    wait_for(lambda: not [p for p in children if alive(p)], timeout=60,
             what="every process the demo started to end")
    yield out


def test_demo_writes_an_archive_with_the_campaign(demo_run: Path) -> None:
    import h5py

    from planner_cluster.archive import read_archive

    a = read_archive(demo_run / "campaign.h5")
    assert a.dataset == "beps" and a.settings["scalarizer"] == "loop_area"
    assert a.image.shape == (50, 50) and a.candidates["coords"].shape == (2500, 2)
    coords, spectra, scalars = a.coords, a.spectra, a.scalars
    assert coords.shape == (STEPS, 2) and len({tuple(c) for c in coords}) == STEPS
    assert spectra.shape == (STEPS, 64) and a.axis is not None and a.axis.shape == (64,)
    assert scalars is not None and np.all(np.isfinite(scalars)) and scalars.shape == (STEPS,)
    assert a.source[0] == "seed" and "plan" in a.source  # the model chose some points
    assert a.models is not None
    versions = a.models.version
    assert versions.size >= 1 and np.all(np.diff(versions) == 1)
    for key in ("mean", "variance", "acquisition"):
        values = getattr(a.models, key)
        assert values.shape == (versions.size, 2500) and np.all(np.isfinite(values))
    assert a.models.plan_points.shape[:2] == (versions.size, 16)
    assert len(a.recorded_plans) >= 2  # decisions captured live
    assert a.truth is not None and a.top is not None
    assert a.truth.shape == (2500,) and a.top.sum() == 25
    index = coords[:, 0] * 50 + coords[:, 1]
    np.testing.assert_allclose(scalars, a.truth[index], rtol=1e-12)  # replayed real data
    best = a.found.best
    assert best.shape == (STEPS,) and np.all(np.diff(best) >= 0)
    assert a.random.best.shape == (32, STEPS)
    assert a.timings["wall_s"] > 0 and 0 <= a.timings["idle_fraction"] <= 1
    with h5py.File(demo_run / "campaign.h5", "r") as f:  # the maps are on the grid
        assert f["entry/map/scalar"].shape == (50, 50)
        assert f["entry/models/mean"].shape == (versions.size, 50, 50)
        assert json.loads(f["entry/process/settings/config"][()])["scalarizer"]["name"] == \
            "loop_area"
    with np.load(demo_run / "truth.npz") as t:  # the raw spectra are the real ones
        np.testing.assert_array_equal(spectra, t["spectra"][coords[:, 0], coords[:, 1]])


def test_demo_writes_a_report_and_a_summary(demo_run: Path) -> None:
    import matplotlib.image

    png = demo_run / "report.png"
    assert png.stat().st_size > 80_000
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (950, 1600)
    assert pixels[..., :3].std() > 0.1  # drawn, not blank
    out = (demo_run.parent / "demo.out").read_text()
    first, started = out.find("dashboard http://127.0.0.1:"), out.find("planner up in")
    assert 0 < started < first < out.find("writing the results"), out[:3000]
    assert "log in with token" in out[first:first + 200]
    for text in ("best found", "random sampling, same budget", "microscope idle",
                 "loop latency", "reproduced", "campaign.h5"):
        assert text in out, out[-3000:]
    assert "DIFFERS" not in out


def test_replay_reproduces_the_archived_decisions(demo_run: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_main([str(demo_run / "campaign.h5")]) == 0
    out = capsys.readouterr().out
    assert "all decisions reproduce" in out and "chosen points" in out


def test_replay_refuses_a_file_that_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    assert replay_main([str(tmp_path / "x.h5")]) == 2


@pytest.mark.slow  # make test-slow; the module's demo checks its processes end after Ctrl-C
def test_ctrl_c_mid_campaign_leaves_no_process_behind(demo_run: Path, tmp_path: Path) -> None:
    """Also the second run right after the first (the module's demo)."""
    log = tmp_path / "demo.out"
    proc = start_demo(_demo(tmp_path / "run", "--dwell", "0.2", "--steps", "200"), log)

    def ctrl_c(children: list[Any]) -> None:
        assert proc.poll() is None
        # What Ctrl-C on a terminal does: SIGINT to the whole foreground process group (the
        # demo, its Redis, Ray's processes; the edge and the monitor have their own).
        os.killpg(proc.pid, signal.SIGINT)

    stop_mid_campaign(proc, log, ctrl_c)
    assert (tmp_path / "run" / "campaign.h5").is_file()  # the partial campaign is kept
    edge_log = (tmp_path / "run" / "edge.log").read_text()
    assert "0 still spooled" in edge_log  # a clean stop: everything measured was stored
