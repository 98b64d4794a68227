"""The I/O-free planning core: the only decision loop. The campaign worker, offline replay and
every benchmark drive :class:`PlanningCore` with the same settings.

Imported lazily: :mod:`.seeds` is numpy-only and the gateway imports it without torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner_cluster.planning.core import PlanningCore
    from planner_cluster.planning.decisions import Decision, Observation

__all__ = ["Decision", "Observation", "PlanningCore"]


def __getattr__(name: str) -> Any:
    if name == "PlanningCore":
        from planner_cluster.planning.core import PlanningCore

        return PlanningCore
    if name in ("Decision", "Observation"):
        from planner_cluster.planning import decisions

        return getattr(decisions, name)
    raise AttributeError(name)
