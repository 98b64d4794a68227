"""A real campaign: real Redis, local Ray, the planner service, a real edge agent process
replaying the real BEPS data."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner_cluster.state import StateStore
from tests.conftest import wait_for

from .planner_harness import edge_command, running_planner, start_edge

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def truth(tmp: Path) -> np.ndarray[Any, Any]:
    import subprocess
    import sys

    out = tmp / "truth.npz"
    subprocess.run([sys.executable, "-m", "autopilot_cli", "edge", "export-truth", "replay:beps",
                    str(out)], check=True, capture_output=True)
    return np.load(out)["spectra"]


def test_short_campaign_runs_to_the_end(redis_server: Any, local_ray: None, tmp_path: Path,
                                        shared_data: Path) -> None:
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        proc = start_edge(edge_command(service, tmp_path, "c1", max_points=24),
                          tmp_path / "edge.log")
        code = proc.wait(240)
        log = (tmp_path / "edge.log").read_text()
        assert code == 0, log[-3000:]
        # the worker trains a last model on every measurement once the campaign is over
        # (while the planner runs: its campaign actors end with it)
        wait_for(lambda: (plan := store.get_plan("c1")) is not None
                 and plan.stats.get("n_observed") == 24, timeout=120, what="the final model")
    record = store.require_campaign("c1")
    assert record.status == "finished", record
    stored = store.read_measurements("c1")
    points = [(m.row, m.col) for m in stored]
    assert len(points) == 24 and len(set(points)) == 24  # each once
    spectra = truth(tmp_path)
    for m in stored:  # byte-exact against the replay's ground truth
        expected = spectra[m.row, m.col].astype(m.spectrum.dtype)
        assert hashlib.sha256(m.spectrum.tobytes()).digest() == hashlib.sha256(
            expected.tobytes()).digest()
    assert store.require_campaign("c1").model_version >= 1
    assert {m.source for m in stored} >= {"seed"}
    store.close()
