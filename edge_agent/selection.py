"""Which point to measure next: the newest plan, minus measured, pending, vetoed and
out-of-bounds points, after any manual points the operator added.

Coordinates are spectroscopy-grid ``(row, col)``. Every refusal says why.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.errors import ControlError

log = logging.getLogger(__name__)

Point = tuple[int, int]
Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class Choice:
    """A point to measure and where it came from (``source`` as in ``measurement``)."""

    row: int
    col: int
    source: str
    plan_version: int


@dataclass(frozen=True)
class PlanVerdict:
    """What became of a plan: ``used`` or not (stale), and the points refused out of bounds."""

    used: bool
    out_of_bounds: list[Point]
    reason: str = ""


def _ints(value: Any, n: int, what: str) -> tuple[int, ...]:
    if (not isinstance(value, list | tuple) or len(value) != n
            or not all(type(v) is int for v in value)):
        raise ControlError(f"{what} must be a list of {n} integers, got {value!r}")
    if any(v < 0 for v in value):
        raise ControlError(f"{what} must be >= 0, got {list(value)}")
    return tuple(value)


class PointPicker:
    """Keeps the newest plan, the vetoes, the manual queue and the measured set."""

    def __init__(self, grid_shape: tuple[int, int]) -> None:
        self.grid_shape = grid_shape
        self.measured: set[Point] = set()
        self.vetoed_points: set[Point] = set()
        self.vetoed_regions: list[Region] = []
        self.manual: deque[Point] = deque()
        self.plan_version = -1
        self._plan: list[Point] = []
        self._cursor = 0

    def in_bounds(self, row: int, col: int) -> bool:
        return 0 <= row < self.grid_shape[0] and 0 <= col < self.grid_shape[1]

    def vetoed(self, row: int, col: int) -> bool:
        if (row, col) in self.vetoed_points:
            return True
        return any(r0 <= row <= r1 and c0 <= col <= c1
                   for r0, c0, r1, c1 in self.vetoed_regions)

    # -- plans ---------------------------------------------------------------------------

    def offer_plan(self, model_version: int, points: np.ndarray[Any, Any]) -> PlanVerdict:
        """Take a plan if it is not older than the one held (newest wins; an equal version
        replaces it: the planner resends its plan minus what was measured)."""
        if model_version < self.plan_version:
            return PlanVerdict(False, [], f"stale: model {model_version} is older than "
                                          f"{self.plan_version}")
        kept: list[Point] = []
        refused: list[Point] = []
        for r, c in np.asarray(points).tolist():
            (kept if self.in_bounds(r, c) else refused).append((int(r), int(c)))
        self.plan_version = model_version
        self._plan = kept
        self._cursor = 0
        return PlanVerdict(True, refused)

    def remaining(self) -> int:
        """How many plan and manual points are still eligible."""
        return sum(1 for p in [*self.manual, *self._plan[self._cursor:]] if self._eligible(p))

    def _eligible(self, point: Point) -> bool:
        return point not in self.measured and not self.vetoed(*point) and self.in_bounds(*point)

    def next_point(self) -> Choice | None:
        """The next point to measure (manual points first), or ``None``."""
        while self.manual:
            point = self.manual.popleft()
            if self._eligible(point):
                return Choice(point[0], point[1], "manual", self.plan_version)
            log.info("manual point %s skipped: measured or vetoed meanwhile", point)
        while self._cursor < len(self._plan):
            point = self._plan[self._cursor]
            self._cursor += 1
            if self._eligible(point):
                source = "seed" if self.plan_version == 0 else "plan"
                return Choice(point[0], point[1], source, self.plan_version)
        return None

    def mark_measured(self, row: int, col: int) -> None:
        self.measured.add((row, col))

    # -- operator actions ----------------------------------------------------------------

    def parse_veto(self, args: dict[str, Any]) -> list[Region]:
        """Validate ``veto`` args (``points`` and/or ``region``); regions as (r0, c0, r1, c1)."""
        regions: list[Region] = []
        points = args.get("points", [])
        if not isinstance(points, list):
            raise ControlError(f"veto points must be a list of [row, col], got {points!r}")
        for p in points:
            r, c = _ints(p, 2, "veto point")
            regions.append((r, c, r, c))
        if "region" in args:
            r0, c0, r1, c1 = _ints(args["region"], 4, "veto region [row0, col0, row1, col1]")
            if r1 < r0 or c1 < c0:
                raise ControlError(f"veto region {[r0, c0, r1, c1]}: row1/col1 must be >= "
                                   "row0/col0")
            regions.append((r0, c0, r1, c1))
        if not regions:
            raise ControlError("veto needs args.points [[row, col], ...] or args.region "
                               "[row0, col0, row1, col1]")
        return regions

    def veto(self, region: Region) -> None:
        r0, c0, r1, c1 = region
        if (r0, c0) == (r1, c1):
            self.vetoed_points.add((r0, c0))
        else:
            self.vetoed_regions.append(region)

    def add_point(self, args: dict[str, Any]) -> Point:
        """Queue a manual point; refuses it (``ControlError``) if out of bounds, vetoed or
        already measured."""
        row, col = _ints(args.get("point"), 2, "add_point point [row, col]")
        if not self.in_bounds(row, col):
            raise ControlError(f"point ({row}, {col}) is outside the field of view "
                               f"{self.grid_shape[0]} x {self.grid_shape[1]}")
        if self.vetoed(row, col):
            raise ControlError(f"point ({row}, {col}) is vetoed")
        if (row, col) in self.measured:
            raise ControlError(f"point ({row}, {col}) is already measured")
        self.manual.append((row, col))
        return row, col
