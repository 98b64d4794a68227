"""Which grid points a veto control covers: one rule for the campaign worker, which excludes
them from its plans, and for ``autopilot replay``, which excludes them again at the same plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["veto_points"]


def veto_points(args: Mapping[str, Any], grid_shape: tuple[int, int]) -> set[tuple[int, int]]:
    """The points of a veto's ``args``: ``points`` ``[[row, col], ...]`` and every point of
    ``region`` ``[row0, col0, row1, col1]`` (inclusive), clipped to the grid."""
    rows, cols = grid_shape
    out = {(int(r), int(c)) for r, c in args.get("points") or []}
    region = args.get("region")
    if region:
        r0, c0, r1, c1 = (int(v) for v in region)
        out.update((r, c) for r in range(max(r0, 0), min(r1, rows - 1) + 1)
                   for c in range(max(c0, 0), min(c1, cols - 1) + 1))
    return out
