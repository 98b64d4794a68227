"""A campaign against a served twin: ``autopilot edge serve-twin beps`` in one process (Pyro5 on
127.0.0.1), an edge process driving it with ``twin:HOST:PORT``, a real planner (real Redis,
local Ray). Every stored spectrum must be the replay's, byte for byte."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner_cluster.state import StateStore
from tests.conftest import REPO, wait_for

from .planner_harness import edge_command, running_planner, start_edge

pytest.importorskip("Pyro5")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def twin(tmp_path: Path, shared_data: Path) -> Iterator[str]:
    """The served twin's instrument spec; the server process is stopped with SIGTERM."""
    log = tmp_path / "twin.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "serve-twin", "beps",
                                 "--port", "0"], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        found = wait_for(lambda: re.search(r"--instrument (twin:\S+)", log.read_text()),
                         timeout=60, what="the twin to serve")
        yield found.group(1)
        proc.terminate()
        assert proc.wait(30) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_campaign_runs_against_the_served_twin(twin: str, redis_server: Any, local_ray: None,
                                                 tmp_path: Path) -> None:
    prefix = f"twin{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        proc = start_edge(edge_command(service, tmp_path, "twin-1", instrument=twin,
                                       max_points=16), tmp_path / "edge.log")
        code = proc.wait(240)
        assert code == 0, (tmp_path / "edge.log").read_text()[-3000:]
    record = store.require_campaign("twin-1")
    assert record.status == "finished", record
    stored = store.read_measurements("twin-1")
    assert len({(m.row, m.col) for m in stored}) == len(stored) == 16
    out = tmp_path / "truth.npz"
    subprocess.run([sys.executable, "-m", "edge_agent", "export-truth", "replay:beps", str(out)],
                   cwd=REPO, check=True, capture_output=True, timeout=120)
    spectra = np.load(out)["spectra"]
    for m in stored:  # Pyro5's lists carry float32 values exactly
        expected = spectra[m.row, m.col].astype(m.spectrum.dtype)
        assert hashlib.sha256(m.spectrum.tobytes()).digest() == hashlib.sha256(
            expected.tobytes()).digest()
    store.close()
