"""What the API returns: JSON-ready views of a campaign, built from the state store.

Maps are on the spectroscopy grid (``rows x cols``, row-major); a structural image is sent
at most ``max_image`` pixels a side and scaled to 0..1. Non-finite numbers become null.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from protocol.lifecycle import FINAL, CampaignStatus

from ..archive.content import Calibration
from ..errors import PlannerError
from ..scalarizers import SCALARIZERS, scalarize
from ..state import CampaignRecord, Event, StateStore
from ..state.freshness import PlanFreshness, plan_freshness


def finite(values: NDArray[Any]) -> list[Any]:
    """A nested list with NaN and infinities as None (JSON has neither)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return [None if not math.isfinite(float(arr)) else float(arr)]
    return [finite(x) if arr.ndim > 1 else (float(x) if math.isfinite(x) else None)
            for x in arr]


def grid_of(record: CampaignRecord) -> tuple[int, int] | None:
    raw = record.stats.get("grid")
    return (int(raw[0]), int(raw[1])) if raw else None


def stride_of(record: CampaignRecord) -> int:
    return max(1, int(record.config.get("stride", 1) or 1))


def budget_points(record: CampaignRecord) -> int | None:
    budget = record.config.get("budget") or {}
    points = budget.get("points") if isinstance(budget, dict) else None
    return int(points) if isinstance(points, int) and points > 0 else None


def scalarizer_name(record: CampaignRecord) -> str:
    scal = record.config.get("scalarizer") or {}
    return str(scal.get("name", "loop_area") if isinstance(scal, dict) else scal)


def units(store: StateStore, record: CampaignRecord) -> dict[str, Any]:
    """What the page labels its plots with: the scalarizer's units, the spectral axis and
    signal (the instrument's ``hello``, kept with the campaign or else read from its edge while
    the edge is known; the campaign's ``metadata`` overrides both), and the grid's physical
    step (``pixel_size`` per structural pixel x ``patch_scale``) if known."""
    edge = store.edge(record.edge_id) or {}
    instrument = (record.stats.get("instrument") or edge.get("stats", {}).get("instrument")
                  or {})
    meta = record.config.get("metadata") or {}
    cal = Calibration.from_config(record.config)
    spec = SCALARIZERS.get(scalarizer_name(record))

    def pick(key: str, default: str) -> str:
        return str(meta.get(key) or instrument.get(key) or default)

    scale = int(record.config.get("patch_scale", 1) or 1)
    calibrated = isinstance(meta, dict) and "pixel_size" in meta
    return {"scalar": spec.units if spec is not None else "",
            "axis_name": pick("axis_name", "channel"), "axis_units": pick("axis_units", ""),
            "signal_units": pick("signal_units", "a.u."),
            "grid_step": cal.pixel_size * scale if calibrated else 1.0,
            "grid_units": cal.pixel_units if calibrated else "grid points"}


def summary(store: StateStore, record: CampaignRecord,
            fresh: PlanFreshness | None = None) -> dict[str, Any]:
    """One row of the campaign list; ``plan_data_age_s``: how long the oldest measurement the
    newest plan has not used has waited (0: the plan used them all; docs/monitor.md).
    ``fresh``: the plan's freshness when the caller has read it already."""
    fresh = fresh or plan_freshness(store, record)
    plan = store.get_plan(record.campaign_id)
    stats = plan.stats if plan is not None else {}
    latency = None
    if "fit_s" in stats or "rank_s" in stats:
        latency = float(stats.get("fit_s", 0.0)) + float(stats.get("rank_s", 0.0))
    edge = store.edge(record.edge_id)
    budget = budget_points(record)
    return {
        "campaign_id": record.campaign_id, "status": record.status, "owner": record.owner,
        "microscope": record.edge_id,
        "edge": None if edge is None else {"state": edge["state"],
                                           "last_seen": edge["last_seen"]},
        "n_measured": record.n_measured, "budget_points": budget,
        "progress": None if budget is None else min(1.0, record.n_measured / budget),
        "model_version": record.model_version, "loop_latency_s": latency,
        "plan_data_age_s": None if fresh is None else fresh.data_age_s,
        "created": record.created, "last_activity": record.updated,
        "final": CampaignStatus(record.status) in FINAL,
        "waiting": str(record.stats.get("waiting") or ""),
    }


def detail(store: StateStore, record: CampaignRecord) -> dict[str, Any]:
    """The campaign page's header: summary, settings, grid and vetoes."""
    grid = grid_of(record)
    config = {k: v for k, v in record.config.items() if k != "origin"}
    fresh = plan_freshness(store, record)
    return {**summary(store, record, fresh), "config": config,
            "grid": list(grid) if grid else None, "stride": stride_of(record),
            "patch_scale": int(record.config.get("patch_scale", 1) or 1),
            "vetoed": sorted([r, c] for r, c in store.vetoed_points(record.campaign_id)),
            "units": units(store, record), "freshness": None if fresh is None else fresh.as_dict()}


def _downsample(image: NDArray[Any], max_side: int) -> NDArray[np.float64]:
    step = max(1, math.ceil(max(image.shape[:2]) / max_side))
    img = np.asarray(image[::step, ::step], dtype=np.float64)
    good = np.isfinite(img)
    if not good.any():
        return np.zeros_like(img)
    lo, hi = float(img[good].min()), float(img[good].max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def scan_view(store: StateStore, record: CampaignRecord, max_side: int) -> dict[str, Any] | None:
    scan = store.get_scan(record.campaign_id)
    if scan is None:
        return None
    image, channels = scan
    first = image if image.ndim == 2 else image[..., 0]
    small = _downsample(first, max_side)
    return {"shape": list(image.shape), "channels": channels, "channel": channels[0]
            if channels else "", "image": finite(small), "grid": grid_of(record)}


def _scores(store: StateStore, record: CampaignRecord,
            spectra: list[NDArray[Any]]) -> list[float | None]:
    if not spectra:
        return []
    scal = record.config.get("scalarizer") or {}
    if isinstance(scal, str):
        scal = {"name": scal}
    batch = np.stack([np.asarray(s, dtype=np.float64).reshape(-1) for s in spectra])
    axis = store.spectral_axis(record.campaign_id)
    if axis is None or axis.shape[0] != batch.shape[1]:
        axis = np.arange(batch.shape[1], dtype=np.float64)
    try:
        values = scalarize(str(scal.get("name", "loop_area")), batch, axis,
                           **dict(scal.get("params", {}) or {}))
    except PlannerError:
        return [None] * len(spectra)
    return finite(values)


def measurements_view(store: StateStore, record: CampaignRecord,
                      after: str = "0-0") -> dict[str, Any]:
    """Measurements in order with their scalar under the current scalarizer."""
    stored = store.read_measurements(record.campaign_id, after)
    values = _scores(store, record, [m.spectrum for m in stored])
    return {
        "scalarizer": scalarizer_name(record),
        "maximize": bool((record.config.get("acquisition") or {}).get("maximize", True))
        if isinstance(record.config.get("acquisition"), dict) else True,
        "cursor": stored[-1].stream_id if stored else after,
        "measurements": [{"id": m.stream_id, "row": m.row, "col": m.col, "source": m.source,
                          "plan_version": m.plan_version, "received": m.received,
                          "value": v} for m, v in zip(stored, values, strict=True)],
    }


def spectra_view(store: StateStore, record: CampaignRecord, n: int) -> dict[str, Any]:
    """The latest ``n`` raw spectra (flattened) and the spectral axis."""
    cid = record.campaign_id
    latest = store.read_measurements(cid)[-n:] if n > 0 else []
    axis = store.spectral_axis(cid)
    return {"axis": finite(axis.reshape(-1)) if axis is not None else None,
            "spectra": [{"row": m.row, "col": m.col, "id": m.stream_id,
                         "values": finite(np.asarray(m.spectrum).reshape(-1))}
                        for m in latest]}


def predictions_view(store: StateStore, record: CampaignRecord) -> dict[str, Any] | None:
    """Predicted mean and standard deviation, ``ceil(rows/stride) x ceil(cols/stride)``."""
    got = store.get_predictions(record.campaign_id)
    grid = grid_of(record)
    if got is None or grid is None:
        return None
    version, mean, variance = got
    stride = stride_of(record)
    shape = (math.ceil(grid[0] / stride), math.ceil(grid[1] / stride))
    if mean.size != shape[0] * shape[1]:
        return None
    std = np.sqrt(np.clip(np.asarray(variance, dtype=np.float64), 0.0, None))
    return {"model_version": version, "stride": stride, "shape": list(shape),
            "mean": finite(np.asarray(mean).reshape(shape)), "std": finite(std.reshape(shape))}


def plan_view(store: StateStore, record: CampaignRecord) -> dict[str, Any] | None:
    """The latest plan, and what is left of it (not measured, not vetoed)."""
    plan = store.get_plan(record.campaign_id)
    if plan is None:
        return None
    done = store.measured_points(record.campaign_id) | store.vetoed_points(record.campaign_id)
    points = [[int(r), int(c)] for r, c in plan.points.tolist()]
    return {"model_version": plan.model_version, "acquisition": plan.acquisition,
            "created": plan.created, "stats": plan.stats, "points": points,
            "scores": finite(plan.scores),
            "next": [p for p in points if (p[0], p[1]) not in done]}


def event_view(event: Event) -> dict[str, Any]:
    return {"id": event.event_id, "campaign_id": event.campaign_id, "kind": event.kind,
            "time": event.time, "data": event.data}
