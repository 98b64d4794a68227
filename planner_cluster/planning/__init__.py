"""The I/O-free planning core: the only decision loop. The campaign worker, offline replay and
every benchmark drive :class:`PlanningCore` with the same settings."""

from planner_cluster.planning.core import PlanningCore
from planner_cluster.planning.decisions import Decision, Observation

__all__ = ["Decision", "Observation", "PlanningCore"]
