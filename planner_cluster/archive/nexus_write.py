"""Write an :class:`~.content.ArchiveData` as a NeXus/HDF5 file (layout: docs/archive.md).

One ``NXentry`` following the FAIRmat application definition of the technique (NXspm, NXsts,
NXem) where it fits: NXuser, NXsample, NXinstrument, NXdata groups with their axes, units and
spatial calibration (the structural scan, the measured map on the grid, the model's maps per
version, the spectra), and an NXprocess with the settings as attributes, the plan schedule,
every operator control with the plan and model version it took effect at, and the event log.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .content import ArchiveData, Array, ModelTable
from .nexus_layout import (
    DEFINITIONS,
    FORMAT,
    FORMAT_VERSION,
    dumps,
    field_name,
    flat_settings,
    iso,
    to_lattice,
)

__all__ = ["write_archive"]


def _group(parent: Any, name: str, nx_class: str, **attrs: Any) -> Any:
    g = parent.create_group(name)
    g.attrs["NX_class"] = nx_class
    g.attrs.update(attrs)
    return g


def _put(group: Any, name: str, data: Any, **attrs: Any) -> Any:
    """A dataset with ``attrs``; nothing for an empty one (hyperspy's reader fails on empty
    datasets; the reader takes a missing field as empty)."""
    import h5py

    if not isinstance(data, str) and np.size(data) == 0:
        return None
    if isinstance(data, str) or (isinstance(data, list) and isinstance(data[0], str)):
        ds = group.create_dataset(name, data=data, dtype=h5py.string_dtype())
    else:
        kwargs = {"compression": "gzip", "compression_opts": 4} if np.size(data) > 4096 else {}
        ds = group.create_dataset(name, data=np.asarray(data), **kwargs)
    ds.attrs.update(attrs)
    return ds


def _axes_attr(group: Any, names: list[str]) -> None:
    import h5py

    group.attrs.create("axes", names, dtype=h5py.string_dtype())
    for i, name in enumerate(names):
        if name != ".":
            group.attrs[f"{name}_indices"] = i


def _positions(a: ArchiveData) -> tuple[Array, Array, str]:
    """Physical y and x of the lattice rows and columns (grid point centres), and units."""
    cal = a.calibration
    scale = int(a.candidates.get("scale", 1) or 1)
    rows, cols = a.map_shape
    to_pixels = np.arange(max(rows, cols)) * a.stride * scale + scale // 2
    return (to_pixels[:rows] * cal.pixel_size, to_pixels[:cols] * cal.pixel_size,
            cal.pixel_units)


def _lattice_coords(a: ArchiveData) -> Array:
    """The candidates' grid points (the models' maps and predictions are per candidate)."""
    return np.asarray(a.candidates["coords"]).reshape(-1, 2)


def _map_group(entry: Any, name: str, a: ArchiveData, signals: dict[str, tuple[Array, str]],
               version: Array | None = None) -> Any:
    """An NXdata of maps on the lattice (``[V x] rows x cols``), first signal the default."""
    y, x, units = _positions(a)
    g = _group(entry, name, "NXdata", signal=next(iter(signals)), interpretation="image")
    if len(signals) > 1:
        g.attrs["auxiliary_signals"] = list(signals)[1:]
    for key, (values, value_units) in signals.items():
        _put(g, key, values, units=value_units, long_name=f"{key} ({value_units})")
    names = ["y", "x"]
    if version is not None:
        _put(g, "model_version", np.asarray(version, np.int64), units="")
        names = ["model_version", *names]
    _put(g, "y", y, units=units, long_name=f"y ({units})")
    _put(g, "x", x, units=units, long_name=f"x ({units})")
    _axes_attr(g, names)
    return g


def _scan(entry: Any, a: ArchiveData) -> None:
    cal = a.calibration
    image = np.asarray(a.image)
    g = _group(entry, "scan", "NXdata", signal="data", interpretation="image")
    height, width = image.shape[:2]
    if image.ndim == 3:  # channels first, so that the last two axes are the image
        _put(g, "data", np.moveaxis(image, -1, 0), channels=a.channels)
        _put(g, "channel", np.arange(image.shape[2]), units="")
        _axes_attr(g, ["channel", "y", "x"])
    else:
        _put(g, "data", image, long_name=a.channels[0] if a.channels else "image")
        _axes_attr(g, ["y", "x"])
    _put(g, "y", np.arange(height) * cal.pixel_size, units=cal.pixel_units)
    _put(g, "x", np.arange(width) * cal.pixel_size, units=cal.pixel_units)
    g.attrs["channels"] = a.channels


def _measurements(entry: Any, a: ArchiveData) -> None:
    cal = a.calibration
    n = len(a.coords)
    if not n:  # nothing measured yet: no spectra to describe
        return
    name = field_name(cal.axis_name)
    g = _group(entry, "measurements", "NXdata", signal="spectra", interpretation="spectrum")
    spectra = np.asarray(a.spectra)
    _put(g, "spectra", spectra.reshape(n, -1), units=cal.signal_units,
         long_name=f"spectrum ({cal.signal_units})")
    _put(g, "measurement", np.arange(n), units="", long_name="measurement, in order")
    axis = a.axis if a.axis is not None else np.arange(spectra.shape[-1])
    _put(g, name, np.asarray(axis, np.float64).reshape(-1), units=cal.axis_units,
         long_name=f"{cal.axis_name} ({cal.axis_units})")
    _axes_attr(g, ["measurement", name])
    coords = np.asarray(a.coords, np.int64).reshape(-1, 2)
    scale = int(a.candidates.get("scale", 1) or 1)
    pixels = coords * scale + scale // 2
    _put(g, "grid_position", coords, long_name="(row, col) on the spectroscopy grid")
    _put(g, "position", pixels[:, ::-1] * cal.pixel_size, units=cal.pixel_units,
         long_name=f"(x, y) in {cal.pixel_units}")
    if a.scalars is not None:
        units = _scalar_units(a)
        _put(g, "scalar", np.asarray(a.scalars, np.float64), units=units,
             long_name=f"{_scalarizer(a)} ({units})")
    _put(g, "time", iso(np.asarray(a.received)), long_name="received by the planner")
    _put(g, "dwell_time", np.asarray(a.dwell_s, np.float64), units="s")
    _put(g, "source", list(a.source))
    _put(g, "plan_version", np.asarray(a.plan_version, np.int64))


def _scalarizer(a: ArchiveData) -> str:
    scal = (a.final_config or a.config).get("scalarizer") or {}
    return str(scal.get("name", "") if isinstance(scal, dict) else scal)


def _scalar_units(a: ArchiveData) -> str:
    from ..scalarizers import SCALARIZERS  # units of the scalarizer, in words

    spec = SCALARIZERS.get(_scalarizer(a))
    return spec.units if spec is not None else ""


def _maps(entry: Any, a: ArchiveData) -> None:
    units = _scalar_units(a)
    measured = to_lattice(a, a.coords, a.scalars if a.scalars is not None
                          else np.full(len(a.coords), np.nan))
    signals = {"scalar": (measured, units)}
    versions = sorted(a.recorded_predictions)
    if versions:
        mean, var = a.recorded_predictions[versions[-1]]
        cands = _lattice_coords(a)
        signals["mean"] = (to_lattice(a, cands, mean), units)
        signals["std"] = (to_lattice(a, cands, np.sqrt(np.clip(var, 0, None))), units)
    g = _map_group(entry, "map", a, signals)
    g.attrs["title"] = f"{_scalarizer(a)} measured on the grid; the newest model's mean and std"
    if versions:
        g.attrs["model_version"] = versions[-1]
        history = {v: (to_lattice(a, _lattice_coords(a), m),
                       to_lattice(a, _lattice_coords(a), np.sqrt(np.clip(s, 0, None))))
                   for v, (m, s) in sorted(a.recorded_predictions.items())}
        _map_group(entry, "predictions", a, {
            "mean": (np.stack([m for m, _ in history.values()]), units),
            "std": (np.stack([s for _, s in history.values()]), units)},
            version=np.array(list(history)))


def _models(entry: Any, a: ArchiveData, m: ModelTable) -> None:
    units = _scalar_units(a)
    cands = _lattice_coords(a)
    g = _map_group(entry, "models", a, {
        "mean": (to_lattice(a, cands, m.mean), units),
        "std": (to_lattice(a, cands, np.sqrt(np.clip(m.variance, 0, None))), units),
        "acquisition": (to_lattice(a, cands, m.acquisition), "")}, version=m.version)
    g.attrs["title"] = "every model version, recomputed offline"
    for key in ("n_train", "plan_points", "plan_scores", "loss", "best", "seed_points"):
        _put(g, key, getattr(m, key))


def write_archive(path: Path, a: ArchiveData) -> Path:
    """Write ``a`` to ``path``; returns the path."""
    import h5py

    from .nexus_process import write_process

    path.parent.mkdir(parents=True, exist_ok=True)
    cal = a.calibration
    with h5py.File(path, "w") as f:
        f.attrs.update({"NX_class": "NXroot", "default": "entry", "file_name": path.name,
                        "file_time": iso(time.time()), "creator": "microscope-autopilot",
                        "format": FORMAT, "format_version": FORMAT_VERSION})
        entry = _group(f, "entry", "NXentry", default="map")
        _put(entry, "definition", DEFINITIONS.get(cal.technique.lower(), "NXspm"))
        _put(entry, "title", f"autonomous campaign {a.campaign_id}")
        _put(entry, "experiment_identifier", a.campaign_id)
        _put(entry, "start_time", iso(a.started or a.created))
        _put(entry, "end_time", iso(a.ended or a.created))
        _put(entry, "status", a.status)
        _put(entry, "dataset", a.dataset)
        _put(_group(entry, "user", "NXuser"), "name", a.owner)
        sample = _group(entry, "sample", "NXsample")
        _put(sample, "name", cal.sample)
        instrument = _group(entry, "instrument", "NXinstrument")
        _put(instrument, "name", a.edge_id)
        instrument.attrs.update({k: v for k, v in asdict(cal).items() if k != "sample"})
        _scan(entry, a)
        _measurements(entry, a)
        _maps(entry, a)
        if a.models is not None:
            _models(entry, a, a.models)
        process = write_process(entry, a, _put, _group)
        settings = _group(process, "settings", "NXparameters")
        settings.attrs.update(flat_settings(a.settings))
        _put(settings, "resolved", dumps(a.settings), type="application/json")
        _put(settings, "config", dumps(a.config), type="application/json")
        _put(settings, "final_config", dumps(a.final_config or a.config),
             type="application/json")
    return path
