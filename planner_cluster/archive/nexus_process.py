"""The archive's ``/entry/process`` (NXprocess): how the campaign was planned and steered, and
the demo's extra groups. Tables are NXcollections of equal-length fields, one row per item;
times are ISO 8601; nested values (control args, setting changes, event data) are JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .content import ArchiveData, Array
from .nexus_layout import dumps, iso

__all__ = ["write_process"]

Put = Callable[..., Any]
Group = Callable[..., Any]

#: schedule fields in seconds (as durations)
_SECONDS = ("fit_s", "rank_s")


def write_process(entry: Any, a: ArchiveData, put: Put, group: Group) -> Any:
    """Write ``/entry/process`` (and ``/entry/demo`` when the demo filled it); returns the
    process group (the caller adds the settings)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        program_version = version("microscope-autopilot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        program_version = "unknown"
    p = group(entry, "process", "NXprocess")
    put(p, "program", "microscope-autopilot")
    put(p, "version", program_version)
    put(p, "date", iso(a.created))
    p.attrs.update({"options": dumps(a.options), "planner": dumps(a.planner),
                    "timings": dumps(a.timings)})
    _schedule(group(p, "schedule", "NXcollection"), a.schedule, put)
    _controls(group(p, "controls", "NXcollection"), a, put)
    log = group(p, "log", "NXcollection")
    put(log, "time", [iso(e.time) for e in a.log])
    put(log, "kind", [e.kind for e in a.log])
    put(log, "data", [dumps(e.data) for e in a.log])
    put(log, "model_version", np.array([e.model_version for e in a.log], np.int64))
    _plans(group(p, "plans", "NXcollection"), a, put)
    cands = group(p, "candidates", "NXcollection")
    for key, value in a.candidates.items():
        if isinstance(value, np.ndarray) and value.ndim > 0 and key != "grid_shape":
            put(cands, key, value)
        else:
            cands.attrs[key] = np.asarray(value) if key == "grid_shape" else value
    put(p, "vetoed", np.asarray(a.vetoed, np.int32).reshape(-1, 2),
        long_name="vetoed (row, col) on the spectroscopy grid")
    if a.truth is not None or a.found is not None:
        _demo(group(entry, "demo", "NXcollection"), a, put, group)
    return p


def _schedule(g: Any, schedule: dict[str, Array], put: Put) -> None:
    for key, value in schedule.items():
        if key == "time":
            put(g, key, iso(np.asarray(value)) if len(value) else [])
        else:
            put(g, key, np.asarray(value), **({"units": "s"} if key in _SECONDS else {}))


def _controls(g: Any, a: ArchiveData, put: Put) -> None:
    c = a.controls
    put(g, "time", [iso(x.time) for x in c])
    for key in ("action", "requested", "control_id", "origin", "user", "status"):
        put(g, key, [str(getattr(x, key)) for x in c])
    for key in ("args", "changes", "previous"):
        put(g, key, [dumps(getattr(x, key)) for x in c])
    put(g, "plan_index", np.array([x.plan_index for x in c], np.int64))
    put(g, "model_version", np.array([x.model_version for x in c], np.int64))


def _plans(g: Any, a: ArchiveData, put: Put) -> None:
    """The plans captured per model version, padded to the longest (-1 / NaN)."""
    versions = sorted(a.recorded_plans)
    q = max((len(a.recorded_plans[v][0]) for v in versions), default=0)
    points = np.full((len(versions), q, 2), -1, np.int32)
    scores = np.full((len(versions), q), np.nan, np.float64)
    for i, v in enumerate(versions):
        p, s = a.recorded_plans[v]
        points[i, :len(p)] = np.asarray(p).reshape(-1, 2)
        scores[i, :len(s)] = s
    put(g, "model_version", np.array(versions, np.int64))
    put(g, "points", points)
    put(g, "scores", scores)
    put(g, "length", np.array([len(a.recorded_plans[v][0]) for v in versions], np.int64))


def _demo(g: Any, a: ArchiveData, put: Put, group: Group) -> None:
    """The demo's ground truth and discovery curves."""
    if a.truth is not None and a.top is not None:
        put(g, "truth_scalars", np.asarray(a.truth), long_name="ground truth per candidate")
        put(g, "truth_top", np.asarray(a.top), long_name="the top sites per candidate")
    if a.found is not None and a.random is not None:
        d = group(g, "discovery", "NXcollection")
        for key, value in (("best", a.found.best), ("top", a.found.top),
                           ("random_best", a.random.best), ("random_top", a.random.top)):
            put(d, key, np.asarray(value))
