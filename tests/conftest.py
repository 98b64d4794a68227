"""Shared test helpers: condition waits (never fixed sleeps) and the real data folder."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01,
             what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """One real Redis-compatible server per test session, on a free loopback port, behind a
    random password (``server.url`` carries it)."""
    from planner_cluster.redis_server import RedisServer

    server = RedisServer(appendonly=True).start()
    yield server
    server.cleanup()


@pytest.fixture
def store(redis_server: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A state store on the session's server with a key prefix of its own (per test)."""
    from planner_cluster.state import StateStore

    prefix = f"t{uuid.uuid4().hex[:8]}"
    s = StateStore.connect(redis_server.url, prefix, blob_dir=tmp_path / "blobs")
    yield s
    s.close()


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray per test session, on loopback, with explicit memory limits."""
    import ray

    from planner_cluster.actors.supervisor import RayStartError, init_ray
    from planner_cluster.config import PlannerConfig

    config = PlannerConfig(ray="local", ray_num_cpus=2, ray_memory_mb=3072,
                           ray_object_store_mb=256)
    for attempt in range(3):  # on a loaded machine Ray's own start-up timeouts can pass
        try:
            started = init_ray(config)
            break
        except RayStartError:
            ray.shutdown()
            if attempt == 2:
                raise
    yield
    if started:
        ray.shutdown()
