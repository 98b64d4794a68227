"""Integration tests never leave an edge process behind, even when they fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .planner_harness import STARTED, kill_leftover_edges


@pytest.fixture(autouse=True)
def _no_leftover_edges() -> Iterator[None]:
    """Kill what this test started; edges of module-scoped fixtures (started before it)
    live on until their fixture ends."""
    before = len(STARTED)
    yield
    kill_leftover_edges(keep=before)


@pytest.fixture(autouse=True, scope="module")
def _no_leftover_module_edges() -> Iterator[None]:
    yield
    kill_leftover_edges()
