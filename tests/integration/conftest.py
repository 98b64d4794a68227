"""Integration tests never leave an edge process behind, even when they fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .planner_harness import kill_leftover_edges


@pytest.fixture(autouse=True)
def _no_leftover_edges() -> Iterator[None]:
    yield
    kill_leftover_edges()
