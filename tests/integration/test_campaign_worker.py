"""The campaign worker (a plain class here: Ray only wraps it) against a real Redis: it
keeps planning past data it cannot use, and says so."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from planner_cluster.actors.campaign import CampaignWorker
from planner_cluster.state import StateStore
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

GRID = (8, 8)


def loops(n: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """Hysteresis-like loops (16 points) of varying area."""
    rng = np.random.default_rng(seed)
    v = np.concatenate([np.linspace(-1, 1, 8), np.linspace(1, -1, 8)])
    amp = rng.uniform(0.5, 2.0, size=(n, 1))
    loop = np.tanh(3 * v)[None, :] * amp + 0.2 * amp * np.sign(np.gradient(v))[None, :]
    return np.asarray(loop, dtype=np.float32)


def test_spectra_of_another_length_are_skipped_and_planning_goes_on(
        store: StateStore, redis_server: Any, tmp_path: Any) -> None:
    axis = np.concatenate([np.linspace(-1, 1, 8), np.linspace(1, -1, 8)])
    assert store.create_campaign("c1", edge_id="edge-1", owner="alice",
                                 config={"patch": 3, "seeds": 3, "model": {"iterations": 20,
                                                               "warm_iterations": 5}},
                                 spectral_axis=axis)
    store.put_scan("c1", np.random.default_rng(0).random(GRID).astype(np.float32), ["height"])
    store.update_stats("c1", {"grid": list(GRID)})
    store.transition("c1", "scan")
    good = loops(6)
    for i, spectrum in enumerate(good[:3]):
        store.add_measurement("c1", sender="edge-1", session="s", seq=i, row=i, col=i,
                              spectrum=spectrum)
    # stored before the gateway refused such spectra: one that cannot be scored with the rest
    store.add_measurement("c1", sender="edge-1", session="s", seq=3, row=3, col=0,
                          spectrum=np.ones(9, np.float32))
    worker = CampaignWorker("c1", redis_server.url, store.prefix, poll_ms=50,
                            blob_dir=str(tmp_path / "blobs"))
    try:
        wait_for(lambda: worker.status()["model_version"] >= 1, timeout=60,
                 what="a model on the three good spectra")
        assert worker.status()["n_observed"] == 3
        events = store.read_events("0-0", campaign_id="c1")
        errors = [e for e in events if e.kind == "scalarizer_error"]
        assert errors and "1 spectra skipped: not 16 values" in errors[0].data["reasons"]
        assert errors[0].data["skipped"] == [[3, 0]]
        for i, spectrum in enumerate(good[3:], start=4):  # later data is used as usual
            store.add_measurement("c1", sender="edge-1", session="s", seq=i, row=i, col=1,
                                  spectrum=spectrum)
        wait_for(lambda: worker.status()["n_observed"] == 6, timeout=60, what="three more")
        assert worker.status()["alive"] and worker.status()["phase"] == "running"
    finally:
        worker.stop()
