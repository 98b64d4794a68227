"""Export a campaign from the state store (running or finished) to an archive.

Everything comes from Redis through :class:`~planner_cluster.state.StateStore`: the campaign
record, the structural scan, the spectral axis, every measurement in stream order, the events
(plan schedule, controls and where they took effect, the log), the vetoes, the newest plan and
the newest model's predictions (the store keeps only the newest; the demo captures them all).
Torch-free: the scalars are scored with the campaign's final scalarizer in numpy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..campaign import CampaignSettings
from ..errors import PlannerError
from ..planning.scoring import score_spectra
from ..state import Event, StateStore
from .content import ArchiveData, Array, settings_record
from .nexus_write import write_archive
from .steering import controls_from_events, initial_config, log_from_events, schedule_from_events

__all__ = ["ExportError", "archive_from_store", "export_campaign"]

log = logging.getLogger(__name__)

PAGE = 5000


class ExportError(PlannerError, RuntimeError):
    """The campaign cannot be exported (unknown, or no structural scan yet)."""


def _all_events(store: StateStore, campaign_id: str) -> list[Event]:
    events: list[Event] = []
    cursor = "0-0"
    while True:
        page = store.read_events(cursor, campaign_id=campaign_id, count=PAGE)
        events.extend(page)
        if len(page) < PAGE:
            return events
        cursor = page[-1].event_id


def lattice_coords(grid_shape: tuple[int, int], stride: int) -> Array:
    """Every candidate point (row-major over the grid at ``stride``), as the planner's
    candidate set has them (a full lattice)."""
    r, c = np.mgrid[0:grid_shape[0]:stride, 0:grid_shape[1]:stride]
    return np.stack([r.reshape(-1), c.reshape(-1)], axis=1).astype(np.int64)


def _scalars(config: dict[str, object], spectra: Array, axis: Array | None) -> Array | None:
    scal = config.get("scalarizer") or {}
    if isinstance(scal, str):
        scal = {"name": scal}
    if not isinstance(scal, dict) or not len(spectra):
        return None
    try:
        return score_spectra(str(scal.get("name", "loop_area")), dict(scal.get("params") or {}),
                             spectra, axis)
    except PlannerError as exc:
        log.warning("scalars not archived: %s", exc)
        return None


def archive_from_store(store: StateStore, campaign_id: str) -> ArchiveData:
    """Everything the store keeps of ``campaign_id`` as an :class:`ArchiveData`."""
    record = store.get_campaign(campaign_id)
    if record is None:
        raise ExportError(f"no campaign {campaign_id!r} in this Redis (prefix {store.prefix!r})")
    scan = store.get_scan(campaign_id)
    if scan is None:
        raise ExportError(f"campaign {campaign_id} has no structural scan yet; nothing to map")
    image, channels = scan
    axis = store.spectral_axis(campaign_id)
    stored = store.read_measurements(campaign_id)
    events = _all_events(store, campaign_id)
    controls = controls_from_events(events)
    spectra = (np.stack([np.asarray(m.spectrum).reshape(-1) for m in stored]) if stored
               else np.zeros((0, 0 if axis is None else axis.size), np.float32))
    stride = max(1, int(record.config.get("stride", 1) or 1))
    scale = max(1, int(record.config.get("patch_scale", 1) or 1))
    grid = record.stats.get("grid") or [image.shape[0] // scale, image.shape[1] // scale]
    grid_shape = (int(grid[0]), int(grid[1]))
    config = initial_config(record.config, controls)
    try:
        settings = settings_record(CampaignSettings.from_config(config))
    except PlannerError as exc:  # kept anyway: the data matter more than a replay
        log.warning("campaign %s: its starting config does not resolve: %s", campaign_id, exc)
        settings = {}
    a = ArchiveData(
        campaign_id=campaign_id, dataset=str(record.config.get("metadata", {}).get(
            "dataset", "") if isinstance(record.config.get("metadata"), dict) else ""),
        config=config, settings=settings, final_config=record.config,
        image=image, channels=channels, axis=axis,
        coords=np.array([[m.row, m.col] for m in stored], np.int64).reshape(-1, 2),
        spectra=spectra, source=[m.source for m in stored],
        plan_version=np.array([m.plan_version for m in stored], np.int64),
        received=np.array([m.received for m in stored], np.float64),
        dwell_s=np.array([m.dwell_s for m in stored], np.float64),
        schedule=schedule_from_events(events), controls=controls,
        log=log_from_events(events), status=record.status, owner=record.owner,
        edge_id=record.edge_id, started=record.created, ended=record.updated,
        vetoed=np.array(sorted(store.vetoed_points(campaign_id)), np.int32).reshape(-1, 2),
        scalars=_scalars(record.config, spectra, axis),
        candidates={"coords": lattice_coords(grid_shape, stride),
                    "grid_shape": np.asarray(grid_shape), "stride": stride, "scale": scale,
                    "patch": int(record.config.get("patch", 0) or 0)},
        planner={"exported_from": "redis", "prefix": store.prefix})
    plan = store.get_plan(campaign_id)
    if plan is not None:
        a.recorded_plans[plan.model_version] = (plan.points, plan.scores)
    predictions = store.get_predictions(campaign_id)
    if predictions is not None:
        version, mean, variance = predictions
        if mean.size == len(a.candidates["coords"]):
            a.recorded_predictions[version] = (mean, variance)
        else:
            log.warning("predictions of %d candidates do not fill the %s grid at stride %d; "
                        "not archived", mean.size, grid_shape, stride)
    return a


def export_campaign(store: StateStore, campaign_id: str, out: Path) -> ArchiveData:
    """Write ``campaign_id``'s archive to ``out``; returns what was written."""
    a = archive_from_store(store, campaign_id)
    write_archive(out, a)
    return a
