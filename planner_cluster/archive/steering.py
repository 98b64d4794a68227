"""From a campaign's events to what the archive keeps of its history: the plan schedule,
every operator control with the plan and model version it took effect at, and a log.

The campaign worker publishes, in one ordered stream: ``plan`` after every plan it writes
(``model_version``, ``n_observed``, ...), and ``replanned`` when it applied a control
(``control_id``, the setting ``changes`` and the ``previous`` values). The gateway and the
monitor publish ``control`` when a control is recorded and ``control_result`` when the edge or
planner answers it. So a control applied by the planner took effect at the first plan after
its ``replanned`` event; that is exactly where ``autopilot replay`` applies it again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..state import Event
from .content import Array, ControlRecord, LogEntry

__all__ = ["controls_from_events", "initial_config", "log_from_events",
           "schedule_from_events"]

#: Event kinds the log leaves out: one per measurement or plan (kept as arrays instead).
BULK_KINDS = ("measurement", "plan")


def schedule_from_events(events: Iterable[Event]) -> dict[str, Array]:
    """Every plan the worker wrote, in order, as arrays (see ``ArchiveData.schedule``)."""
    plans = [e for e in events if e.kind == "plan"]

    def get(key: str) -> Array:
        return np.array([float(e.data.get(key, np.nan)) for e in plans], np.float64)

    return {"version": np.array([int(e.data.get("model_version", 0)) for e in plans], np.int64),
            "n_train": np.array([int(e.data.get("n_train", 0)) for e in plans], np.int64),
            "n_observed": np.array([int(e.data.get("n_observed", e.data.get("n_train", 0)))
                                    for e in plans], np.int64),
            "time": np.array([e.time for e in plans], np.float64), "loss": get("loss"),
            "best": get("best"), "fit_s": get("fit_s"), "rank_s": get("rank_s")}


def controls_from_events(events: Iterable[Event]) -> list[ControlRecord]:
    """Every recorded control, in order, with where it took effect (see the module doc)."""
    records: list[ControlRecord] = []
    by_id: dict[str, ControlRecord] = {}
    pending: list[ControlRecord] = []
    plans = 0
    version = 0
    for e in events:
        d = e.data
        if e.kind == "control":
            rec = ControlRecord(
                time=e.time, action=str(d.get("action", "")), args=dict(d.get("args") or {}),
                control_id=str(d.get("control_id", "")),
                requested=str(d.get("requested", d.get("action", ""))),
                origin=str(d.get("origin", "")), user=str(d.get("user", "")),
                model_version=version)
            records.append(rec)
            if rec.control_id:
                by_id[rec.control_id] = rec
        elif e.kind == "control_result" and (answered := by_id.get(str(d.get("control_id")))):
            if answered.status != "applied":
                answered.status = str(d.get("status", answered.status))
        elif e.kind == "replanned" and (applied := by_id.get(str(d.get("control_id")))):
            applied.status = "applied"
            applied.plan_index = plans
            applied.changes = dict(d.get("changes") or {})
            applied.previous = dict(d.get("previous") or {})
            pending.append(applied)
        elif e.kind == "plan":
            version = int(d.get("model_version", version))
            for rec in pending:
                rec.model_version = version
            pending = []
            plans += 1
    return records


def log_from_events(events: Iterable[Event]) -> list[LogEntry]:
    """Every event but measurements and plans, each with the newest model version then."""
    out: list[LogEntry] = []
    version = 0
    for e in events:
        if e.kind == "plan":
            version = int(e.data.get("model_version", version))
        elif e.kind not in BULK_KINDS:
            out.append(LogEntry(e.time, e.kind, dict(e.data), version))
    return out


def initial_config(final: dict[str, Any], controls: Iterable[ControlRecord]) -> dict[str, Any]:
    """The config the campaign started with: ``final`` with every applied setting change
    undone, newest first (a key a change added is removed again)."""
    config = copy.deepcopy(final)
    for rec in reversed([c for c in controls if c.changes]):
        for key in rec.changes:
            if key in rec.previous:
                config[key] = copy.deepcopy(rec.previous[key])
            else:
                config.pop(key, None)
    return config
