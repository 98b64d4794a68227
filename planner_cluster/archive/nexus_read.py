"""Read a NeXus archive written by :func:`~.nexus_write.write_archive` back into an
:class:`~.content.ArchiveData` (what ``autopilot replay`` and the demo's report work on)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..discovery import Discovery
from ..errors import PlannerError
from .content import ArchiveData, Array, ControlRecord, LogEntry, ModelTable
from .nexus_layout import FORMAT, FORMAT_VERSION, from_iso, from_lattice

SCHEDULE = ("version", "n_train", "n_observed", "time", "loss", "best", "fit_s", "rank_s")

__all__ = ["ArchiveFormatError", "read_archive"]


class ArchiveFormatError(PlannerError, ValueError):
    """The file is not a campaign archive this code reads."""


def _text(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


def _json_list(values: Any) -> list[Any]:
    return [json.loads(v) for v in _text(values)]


def _array(group: Any, key: str) -> Array:
    """A field; empty when it is absent (the writer leaves empty fields out)."""
    return np.asarray(group[key][()]) if key in group else np.zeros(0)


def _scalar_text(group: Any, key: str) -> str:
    value = group[key][()]
    return value.decode() if isinstance(value, bytes) else str(value)


def _check(f: Any, path: Path) -> None:
    if f.attrs.get("format") != FORMAT:
        raise ArchiveFormatError(f"{path} is not a {FORMAT}")
    if int(f.attrs.get("format_version", 0)) != FORMAT_VERSION:
        raise ArchiveFormatError(f"{path} is a version {f.attrs.get('format_version')} archive; "
                                 f"this code reads version {FORMAT_VERSION}")


def _controls(g: Any) -> list[ControlRecord]:
    times = from_iso(_array(g, "time"))
    cols = {k: _text(_array(g, k)) for k in ("action", "requested", "control_id", "origin", "user",
                                         "status")}
    nested = {k: _json_list(_array(g, k)) for k in ("args", "changes", "previous")}
    plan_index, version = _array(g, "plan_index"), _array(g, "model_version")
    return [ControlRecord(
        time=float(times[i]), action=cols["action"][i], args=nested["args"][i],
        control_id=cols["control_id"][i], requested=cols["requested"][i],
        origin=cols["origin"][i], user=cols["user"][i], status=cols["status"][i],
        plan_index=int(plan_index[i]), model_version=int(version[i]),
        changes=nested["changes"][i], previous=nested["previous"][i])
        for i in range(len(times))]


def _log(g: Any) -> list[LogEntry]:
    times, kinds = from_iso(_array(g, "time")), _text(_array(g, "kind"))
    data = _json_list(_array(g, "data"))
    versions = _array(g, "model_version")
    return [LogEntry(float(t), k, d, int(v))
            for t, k, d, v in zip(times, kinds, data, versions, strict=True)]


def _plans(g: Any) -> dict[int, tuple[Array, Array]]:
    versions, lengths = _array(g, "model_version"), _array(g, "length")
    points, scores = _array(g, "points"), _array(g, "scores")
    return {int(v): (points[i, :n], scores[i, :n].astype(np.float32))
            for i, (v, n) in enumerate(zip(versions.tolist(), lengths.tolist(), strict=True))}


def _schedule(g: Any) -> dict[str, Array]:
    return {k: from_iso(_array(g, k)) if k == "time" else _array(g, k) for k in SCHEDULE}


def _models(g: Any, a: ArchiveData) -> ModelTable:
    cands = np.asarray(a.candidates["coords"])
    return ModelTable(
        version=_array(g, "model_version"), n_train=_array(g, "n_train"),
        mean=from_lattice(a, cands, _array(g, "mean")),
        variance=from_lattice(a, cands, _array(g, "std")) ** 2,
        acquisition=from_lattice(a, cands, _array(g, "acquisition")),
        plan_points=_array(g, "plan_points"), plan_scores=_array(g, "plan_scores"),
        loss=_array(g, "loss"), best=_array(g, "best"), seed_points=_array(g, "seed_points"))


def _measurements(m: Any) -> dict[str, Any]:
    """The measurement fields of :class:`ArchiveData` (none: nothing measured)."""
    if m is None:
        return {"coords": np.zeros((0, 2), np.int64), "spectra": np.zeros((0, 0)),
                "axis": None, "scalars": None, "source": [], "plan_version": np.zeros(0),
                "received": np.zeros(0), "dwell_s": np.zeros(0)}
    axis = _text(m.attrs["axes"])[-1]
    return {"coords": _array(m, "grid_position").reshape(-1, 2),
            "spectra": _array(m, "spectra"), "axis": _array(m, axis),
            "scalars": _array(m, "scalar") if "scalar" in m else None,
            "source": _text(_array(m, "source")), "plan_version": _array(m, "plan_version"),
            "received": from_iso(_array(m, "time")), "dwell_s": _array(m, "dwell_time")}


def read_archive(path: Path) -> ArchiveData:
    """Read ``path``; :class:`ArchiveFormatError` if it is not an archive of this version."""
    import h5py

    with h5py.File(path, "r") as f:
        _check(f, path)
        e = f["entry"]
        p = e["process"]
        settings = p["settings"]
        config = json.loads(_scalar_text(settings, "config"))
        cands = p["candidates"]
        candidates: dict[str, Any] = {k: np.asarray(v[()]) for k, v in cands.items()}
        candidates.update(dict(cands.attrs.items()))
        candidates.pop("NX_class", None)
        image = _array(e["scan"], "data")
        a = ArchiveData(
            campaign_id=_scalar_text(e, "experiment_identifier"),
            dataset=_scalar_text(e, "dataset"), config=config,
            final_config=json.loads(_scalar_text(settings, "final_config")),
            settings=json.loads(_scalar_text(settings, "resolved")),
            options=json.loads(p.attrs["options"]), planner=json.loads(p.attrs["planner"]),
            timings=json.loads(p.attrs["timings"]), created=float(from_iso([_scalar_text(
                p, "date")])[0]),
            image=np.moveaxis(image, 0, -1) if image.ndim == 3 else image,
            channels=_text(e["scan"].attrs["channels"]),
            **_measurements(e["measurements"] if "measurements" in e else None),
            vetoed=_array(p, "vetoed").reshape(-1, 2), schedule=_schedule(p["schedule"]),
            recorded_plans=_plans(p["plans"]), candidates=candidates,
            controls=_controls(p["controls"]), log=_log(p["log"]),
            status=_scalar_text(e, "status"), owner=_scalar_text(e["user"], "name"),
            edge_id=_scalar_text(e["instrument"], "name"),
            started=float(from_iso([_scalar_text(e, "start_time")])[0]),
            ended=float(from_iso([_scalar_text(e, "end_time")])[0]))
        if "predictions" in e:
            g = e["predictions"]
            coords = np.asarray(candidates.get("coords")) if "coords" in candidates else None
            if coords is not None:
                for i, v in enumerate(_array(g, "model_version").tolist()):
                    a.recorded_predictions[int(v)] = (
                        from_lattice(a, coords, _array(g, "mean")[i]).astype(np.float32),
                        (from_lattice(a, coords, _array(g, "std")[i]) ** 2).astype(np.float32))
        if "models" in e:
            a.models = _models(e["models"], a)
        if "demo" in e:
            _demo(e["demo"], a)
        return a


def _demo(g: Any, a: ArchiveData) -> None:
    if "truth_scalars" in g:
        a.truth, a.top = _array(g, "truth_scalars"), _array(g, "truth_top")
    if "discovery" in g:
        d = g["discovery"]
        a.found = Discovery(_array(d, "best"), _array(d, "top"))
        a.random = Discovery(_array(d, "random_best"), _array(d, "random_top"))
