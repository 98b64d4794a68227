"""The campaign archive: one HDF5 file with everything needed to understand and replay a run.

Layout (``N`` candidates, ``n`` measurements, ``V`` model versions, ``q`` plan size)::

    /                 attrs: format, format_version, campaign_id, dataset, created,
                             config (campaign config, JSON), settings (the resolved
                             campaign settings, every default filled in, JSON),
                             options (demo options, JSON), planner (planner settings and
                             software versions, JSON), timings (JSON)
    /scan/image       H x W [x C] structural image; attrs: channels (JSON)
    /candidates/coords          N x 2 grid (row, col); pixel_coords N x 2;
                                attrs: grid_shape, patch, stride, scale
    /measurements/coords        n x 2, in the order the planner stored them
    /measurements/spectra       n x L raw spectra;  axis  L
    /measurements/scalars       n   scalarizer values
    /measurements/source, plan_version, received, dwell_s   n each
    /measurements/vetoed        k x 2
    /schedule/version, n_train, n_observed, time, loss, best, fit_s, rank_s
                                every plan the live actor wrote, in order (from its events)
    /recorded/plans/v<k>/points, scores     plans captured live, by model version
    /recorded/predictions/v<k>/mean, variance   predictions captured live
    /models/version, n_train    V;  mean, variance, acquisition  V x N;
    /models/plan_points V x q x 2;  plan_scores V x q;  loss, best  V;  seed_points
                                every version, recomputed offline (planner_cluster.demo.recompute)
    /truth/scalars, top         N (when the data set has a ground truth)
    /discovery/best, top        n;  random_best, random_top  seeds x n
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .discovery import Discovery
from .recompute import Recomputation

__all__ = ["FORMAT", "ArchiveData", "ModelTable", "read_archive", "write_archive"]

FORMAT = "microscope-autopilot campaign archive"
FORMAT_VERSION = 1

Array = npt.NDArray[Any]


@dataclass(eq=False)
class ModelTable:
    """Every model version's outputs, as arrays (see the module doc, ``/models``)."""

    version: Array
    n_train: Array
    mean: Array
    variance: Array
    acquisition: Array
    plan_points: Array
    plan_scores: Array
    loss: Array
    best: Array
    seed_points: Array

    @classmethod
    def from_recomputation(cls, r: Recomputation) -> ModelTable:
        q = max((len(v.points) for v in r.versions), default=0)
        n = len(r.candidates)
        points = np.full((len(r.versions), q, 2), -1, np.int32)
        scores = np.full((len(r.versions), q), np.nan, np.float64)
        for i, v in enumerate(r.versions):
            points[i, :len(v.points)] = v.points
            scores[i, :len(v.scores)] = v.scores

        def stack(name: str) -> Array:
            if not r.versions:
                return np.zeros((0, n), np.float32)
            return np.stack([getattr(v, name) for v in r.versions]).astype(np.float32)

        return cls(np.array([v.version for v in r.versions], np.int64),
                   np.array([v.n_train for v in r.versions], np.int64), stack("mean"),
                   stack("variance"), stack("acquisition"), points, scores,
                   np.array([v.loss for v in r.versions]), np.array([v.best for v in r.versions]),
                   r.seed_points.astype(np.int32))


@dataclass(eq=False)
class ArchiveData:
    """The contents of one archive (arrays as in the module doc)."""

    campaign_id: str
    dataset: str
    config: dict[str, Any]
    image: Array
    coords: Array
    spectra: Array
    axis: Array | None
    source: list[str]
    plan_version: Array
    received: Array
    dwell_s: Array
    schedule: dict[str, Array]
    settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    planner: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    vetoed: Array = field(default_factory=lambda: np.zeros((0, 2), np.int32))
    scalars: Array | None = None
    recorded_plans: dict[int, tuple[Array, Array]] = field(default_factory=dict)
    recorded_predictions: dict[int, tuple[Array, Array]] = field(default_factory=dict)
    candidates: dict[str, Any] = field(default_factory=dict)
    models: ModelTable | None = None
    truth: Array | None = None
    top: Array | None = None
    found: Discovery | None = None
    random: Discovery | None = None
    created: float = field(default_factory=time.time)


def _put(group: Any, name: str, data: Any) -> None:
    kwargs = {"compression": "gzip", "compression_opts": 4} if np.size(data) > 4096 else {}
    group.create_dataset(name, data=data, **kwargs)


def write_archive(path: Path, a: ArchiveData) -> Path:
    """Write ``a`` to ``path`` (HDF5); returns the path."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION,
                        "campaign_id": a.campaign_id, "dataset": a.dataset,
                        "created": a.created, "config": json.dumps(a.config),
                        "settings": json.dumps(a.settings),
                        "options": json.dumps(a.options), "planner": json.dumps(a.planner),
                        "timings": json.dumps(a.timings)})
        scan = f.create_group("scan")
        _put(scan, "image", a.image)
        scan.attrs["channels"] = json.dumps(a.channels)
        cands = f.create_group("candidates")
        for key, value in a.candidates.items():
            if isinstance(value, np.ndarray):
                _put(cands, key, value)
            else:
                cands.attrs[key] = value
        m = f.create_group("measurements")
        _put(m, "coords", np.asarray(a.coords, np.int32).reshape(-1, 2))
        _put(m, "spectra", np.asarray(a.spectra))
        if a.axis is not None:
            _put(m, "axis", np.asarray(a.axis, np.float64))
        if a.scalars is not None:
            _put(m, "scalars", np.asarray(a.scalars, np.float64))
        m.create_dataset("source", data=np.array(a.source, dtype=h5py.string_dtype()))
        for key in ("plan_version", "received", "dwell_s"):
            _put(m, key, np.asarray(getattr(a, key)))
        _put(m, "vetoed", np.asarray(a.vetoed, np.int32).reshape(-1, 2))
        sched = f.create_group("schedule")
        for key, value in a.schedule.items():
            _put(sched, key, np.asarray(value))
        rec = f.create_group("recorded")
        for version, (points, scores) in sorted(a.recorded_plans.items()):
            g = rec.create_group(f"plans/v{version}")
            _put(g, "points", points)
            _put(g, "scores", scores)
        for version, (mean, var) in sorted(a.recorded_predictions.items()):
            g = rec.create_group(f"predictions/v{version}")
            _put(g, "mean", mean)
            _put(g, "variance", var)
        if a.models is not None:
            models = f.create_group("models")
            for key, value in vars(a.models).items():
                _put(models, key, value)
        if a.truth is not None and a.top is not None:
            truth = f.create_group("truth")
            _put(truth, "scalars", a.truth)
            _put(truth, "top", a.top)
        if a.found is not None and a.random is not None:
            d = f.create_group("discovery")
            for key, value in (("best", a.found.best), ("top", a.found.top),
                               ("random_best", a.random.best), ("random_top", a.random.top)):
                _put(d, key, value)
    return path


def _versions(group: Any, names: tuple[str, str]) -> dict[int, tuple[Array, Array]]:
    if group is None:
        return {}
    return {int(k[1:]): (np.asarray(g[names[0]][()]), np.asarray(g[names[1]][()]))
            for k, g in group.items()}


def _optional(group: Any, key: str) -> Array | None:
    return np.asarray(group[key][()]) if key in group else None


def read_archive(path: Path) -> ArchiveData:
    """Read an archive written by :func:`write_archive` (raises ``ValueError`` if ``path`` is
    not one)."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT}")
        m = f["measurements"]
        models = None
        if "models" in f:
            models = ModelTable(**{k: np.asarray(v[()]) for k, v in f["models"].items()})
        found = random = None
        if "discovery" in f:
            d = f["discovery"]
            found = Discovery(np.asarray(d["best"][()]), np.asarray(d["top"][()]))
            random = Discovery(np.asarray(d["random_best"][()]), np.asarray(d["random_top"][()]))
        cands = f["candidates"]
        candidates: dict[str, Any] = {k: np.asarray(v[()]) for k, v in cands.items()}
        candidates.update({k: v for k, v in cands.attrs.items()})
        return ArchiveData(
            campaign_id=str(f.attrs["campaign_id"]), dataset=str(f.attrs["dataset"]),
            config=json.loads(f.attrs["config"]),
            settings=json.loads(f.attrs.get("settings", "{}")),
            options=json.loads(f.attrs["options"]),
            planner=json.loads(f.attrs["planner"]), timings=json.loads(f.attrs["timings"]),
            created=float(f.attrs["created"]), image=np.asarray(f["scan/image"][()]),
            channels=json.loads(f["scan"].attrs["channels"]),
            coords=np.asarray(m["coords"][()]), spectra=np.asarray(m["spectra"][()]),
            axis=_optional(m, "axis"), scalars=_optional(m, "scalars"),
            source=[s.decode() if isinstance(s, bytes) else str(s) for s in m["source"][()]],
            plan_version=np.asarray(m["plan_version"][()]),
            received=np.asarray(m["received"][()]), dwell_s=np.asarray(m["dwell_s"][()]),
            vetoed=np.asarray(m["vetoed"][()]),
            schedule={k: np.asarray(v[()]) for k, v in f["schedule"].items()},
            recorded_plans=_versions(f.get("recorded/plans"), ("points", "scores")),
            recorded_predictions=_versions(f.get("recorded/predictions"), ("mean", "variance")),
            candidates=candidates, models=models,
            truth=_optional(f["truth"], "scalars") if "truth" in f else None,
            top=_optional(f["truth"], "top") if "truth" in f else None, found=found, random=random)
