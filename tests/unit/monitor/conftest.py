"""A real monitor (uvicorn on 127.0.0.1, in a thread) on the session's real Redis with a
per-test prefix, seeded users and campaigns, and a stdlib HTTP client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from planner_cluster.monitor import MonitorConfig, MonitorServer
from planner_cluster.state import PlanRecord, StateStore
from planner_cluster.state.users import UserStore, hash_password

from .http_client import HttpClient

PASSWORD = "correct horse battery"
GRID = (6, 5)


@dataclass
class Monitor:
    client: HttpClient
    store: StateStore
    users: UserStore
    server: MonitorServer
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def login(self, name: str) -> str:
        """Log the client in with a password; returns the session's CSRF token."""
        r = self.client.post("/api/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["csrf_token"])


#: the lifecycle events that take a running campaign to each status
_PATHS = {"running": [], "paused": ["pause"], "stopping": ["stop"], "finished": ["finish"],
          "aborted": ["abort"], "failed": ["fail"]}


def move_to(store: StateStore, cid: str, status: str) -> None:
    """Take a running campaign to ``status`` through the lifecycle's own transitions."""
    for event in _PATHS[status]:
        store.transition(cid, event)


def spectra(n: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """Small hysteresis-like loops (16 points) of varying area."""
    rng = np.random.default_rng(seed)
    v = np.concatenate([np.linspace(-1, 1, 8), np.linspace(1, -1, 8)])
    amp = rng.uniform(0.5, 2.0, size=(n, 1))
    return (np.tanh(3 * v)[None, :] * amp + 0.2 * amp * np.sign(np.gradient(v))[None, :]
            ).astype(np.float32)


def seed_campaign(store: StateStore, cid: str, owner: str, *, n: int = 4, stride: int = 1,
                  status: str = "running") -> None:
    axis = np.concatenate([np.linspace(-1, 1, 8), np.linspace(1, -1, 8)])
    assert store.create_campaign(cid, edge_id=f"edge-{cid}", owner=owner,
                                 config={"scalarizer": {"name": "loop_area"},
                                         "acquisition": {"name": "ei", "params": {"xi": 0.1}},
                                         "budget": {"points": 20}, "stride": stride},
                                 spectral_axis=axis)
    image = np.arange(GRID[0] * GRID[1], dtype=np.float32).reshape(GRID)
    store.put_scan(cid, image, ["topography"])
    store.update_stats(cid, {"grid": list(GRID)})
    store.transition(cid, "scan")
    for i, s in enumerate(spectra(n)):
        store.add_measurement(cid, sender=f"edge-{cid}", session="s", seq=i, row=i % GRID[0],
                              col=i % GRID[1], spectrum=s)
    move_to(store, cid, status)
    rows = -(-GRID[0] // stride) * -(-GRID[1] // stride)
    store.put_plan(cid, PlanRecord(1, np.array([[5, 4], [0, 0], [4, 1]], np.int32),
                                   np.array([3.0, 2.0, 1.0], np.float32), "ei", time.time(),
                                   {"fit_s": 0.05, "rank_s": 0.01, "best": 1.5}))
    store.put_predictions(cid, 1, np.linspace(0, 1, rows), np.full(rows, 0.25))
    store.touch_edge(f"edge-{cid}", campaign_id=cid, state="running")


@pytest.fixture
def mon(store: StateStore) -> Iterator[Monitor]:
    users = UserStore(store)
    pw = hash_password(PASSWORD, 1000)
    users.put_user("ada", "admin", password_hash=pw)
    users.put_user("olga", "operator", ["c1"], password_hash=pw)
    users.put_user("otto", "operator", password_hash=pw)  # owns c2, nothing assigned
    users.put_user("vic", "viewer", password_hash=pw)
    seed_campaign(store, "c1", owner="sam")
    seed_campaign(store, "c2", owner="otto")
    config = MonitorConfig(redis_prefix=store.prefix, bind="127.0.0.1:0",
                           pbkdf2_iterations=1000, keepalive_s=1.0)
    server = MonitorServer(config, store).start_in_thread()
    try:
        m = Monitor(HttpClient(server.url), store, users, server=server)
        for name in ("ada", "olga", "otto", "vic"):
            m.tokens[name] = users.issue_token(name, 3600)[0]
        yield m
    finally:
        server.stop()
