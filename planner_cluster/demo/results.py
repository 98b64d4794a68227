"""From what a run collected to the results a scientist keeps: archive, report, numbers.

Runs after every process is stopped: recomputes each model version offline (the maps at every
version, and the first provenance check), scores the ground truth with the campaign's
scalarizer, computes the discovery curves against the random baseline, then writes the HDF5
archive and the report PNG.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..archive import ArchiveData, settings_record, write_archive
from ..archive.steering import (
    controls_from_events,
    initial_config,
    log_from_events,
    schedule_from_events,
)
from ..campaign import CampaignSettings
from ..discovery import Discovery, discovery, random_baseline, top_mask
from .archive import model_table
from .presets import PRESETS
from .provenance import Check, compare
from .recompute import Recomputation, VersionResult, recompute, score, software_versions
from .report import write_report
from .run import Collected, DemoOptions
from .watch import idle_time, loop_latencies

__all__ = ["DemoResults", "build_results"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class DemoResults:
    """Paths and numbers for the summary table."""

    archive_path: Path
    report_path: Path
    archive: ArchiveData
    checks: list[Check]
    rows: list[tuple[str, str]]


def _measurement_arrays(c: Collected) -> dict[str, Any]:
    ms = c.watch.measurements
    spectra = (np.stack([np.asarray(m.spectrum).reshape(-1) for m in ms]) if ms
               else np.zeros((0, 0), np.float32))
    return {"coords": np.array([[m.row, m.col] for m in ms], np.int64).reshape(-1, 2),
            "spectra": spectra, "source": [m.source for m in ms],
            "plan_version": np.array([m.plan_version for m in ms], np.int64),
            "received": np.array([m.received for m in ms], np.float64),
            "dwell_s": np.array([m.dwell_s for m in ms], np.float64)}


def _truth(c: Collected, r: Recomputation) -> npt.NDArray[np.float64] | None:
    if c.truth_file is None:
        return None
    with np.load(c.truth_file, allow_pickle=False) as f:
        spectra, axis = np.asarray(f["spectra"]), np.asarray(f["axis"], np.float64)
    if tuple(spectra.shape[:2]) != tuple(r.candidates.grid_shape):
        log.warning("ground truth grid %s differs from the candidates' %s; no truth map",
                    spectra.shape[:2], r.candidates.grid_shape)
        return None
    values = score(r.settings, spectra.reshape(-1, spectra.shape[-1]), axis)
    return values[r.candidates.flat_index()]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _pair(a: float, b: float) -> str:
    return "-" if not np.isfinite(a) else f"{a:.2f} s / {b:.2f} s"


def build_results(c: Collected, options: DemoOptions, planner: dict[str, Any], run_dir: Path,
                  wall_started: float,
                  on_version: Callable[[VersionResult], None] | None = None) -> DemoResults:
    """Recompute, score, write the archive and the report (see the module doc)."""
    arrays = _measurement_arrays(c)
    events = c.watch.events
    schedule = schedule_from_events(events)
    controls = controls_from_events(events)
    config = initial_config(c.config, controls)  # steering is replayed from the start
    created = next((e.data for e in events if e.kind == "campaign_created"), {})
    started = time.monotonic()
    r = recompute(config, c.image, c.axis, arrays["coords"], arrays["spectra"],
                  list(zip(schedule["version"].tolist(), schedule["n_observed"].tolist(),
                           strict=True)),
                  vetoed=np.array(c.vetoed, np.int64).reshape(-1, 2), controls=controls,
                  on_version=on_version)
    recompute_s = time.monotonic() - started
    cands = r.candidates
    idle_s, active_s = idle_time(c.watch.scan_time, arrays["received"], arrays["dwell_s"])
    latency = loop_latencies(c.watch.schedule(), arrays["received"])
    a = ArchiveData(
        campaign_id=c.campaign_id, dataset=options.dataset, config=config,
        final_config=c.config, controls=controls, log=log_from_events(events),
        status=c.status, owner=str(created.get("owner", "")),
        edge_id=str(created.get("edge_id", "")), started=events[0].time if events else 0.0,
        ended=events[-1].time if events else 0.0,
        image=np.asarray(c.image), channels=c.channels, axis=c.axis,
        scalars=r.scalars, schedule=schedule, vetoed=np.array(c.vetoed).reshape(-1, 2),
        options={k: str(v) if isinstance(v, Path) else v
                 for k, v in dataclasses.asdict(options).items()},
        settings=settings_record(CampaignSettings.from_config(config)),
        planner={**planner, "software": software_versions(), "device": c.device,
                 "campaign_status": c.status,
                 "edge_exit_code": c.edge_code, "dashboard": c.dashboard},
        recorded_plans={v: (np.asarray(p.points), np.asarray(p.scores))
                        for v, p in c.watch.plans.items()},
        recorded_predictions=dict(c.watch.predictions),
        candidates={"coords": cands.coords, "pixel_coords": cands.pixel_coords,
                    "grid_shape": np.asarray(cands.grid_shape), "patch": r.settings.patch,
                    "stride": cands.stride, "scale": cands.scale}, **arrays)
    checks = compare(a, r)
    a.models = model_table(r)
    truth = _truth(c, r)
    index = cands.index_of(a.coords) if len(a.coords) else np.zeros(0, np.int64)
    if truth is not None:
        a.truth, a.top = truth, top_mask(truth)
        a.found = discovery(index, truth, a.top)
        a.random = random_baseline(truth, a.top, max(options.steps, len(index)),
                                   seeds=options.baseline_seeds, seed=options.seed)
    fit = schedule["fit_s"][np.isfinite(schedule["fit_s"])]
    a.timings = {**c.timings, "recompute_s": recompute_s, "idle_s": idle_s,
                 "measuring_span_s": active_s,
                 "idle_fraction": idle_s / active_s if active_s > 0 else 0.0,
                 "latency_median_s": float(np.median(latency)) if latency.size else float("nan"),
                 "latency_max_s": float(latency.max()) if latency.size else float("nan"),
                 "fit_median_s": float(np.median(fit)) if fit.size else float("nan"),
                 "wall_s": time.monotonic() - wall_started}
    archive_path = write_archive(run_dir / "campaign.h5", a)
    preset = PRESETS[options.dataset]
    title = (f"{preset.description}: {r.settings.scalarizer}, {r.settings.acquisition.name}, "
             f"{len(index)} measurements, {len(r.versions)} model versions")
    report_path = write_report(a, run_dir / "report.png", title=title)
    return DemoResults(archive_path, report_path, a, checks, _rows(a, r, index))


def _rows(a: ArchiveData, r: Recomputation, index: npt.NDArray[np.int64]) -> list[tuple[str, str]]:
    t = a.timings
    rows = [("data set", PRESETS[a.dataset].description),
            ("scalarizer / acquisition", f"{r.settings.scalarizer} / "
                                         f"{r.settings.acquisition.name}"),
            ("measurements", f"{len(index)} ({sum(s == 'seed' for s in a.source)} from the "
                             "space-filling seed plan)"),
            ("model versions", str(len(r.versions))),
            ("wall time", f"{t['wall_s']:.1f} s (startup {t['startup_s']:.1f} s, campaign "
                          f"{t['campaign_s']:.1f} s)"),
            ("loop latency (median / max)", _pair(t["latency_median_s"], t["latency_max_s"])),
            ("microscope idle", f"{t['idle_s']:.1f} s of {t['measuring_span_s']:.1f} s "
                                f"({100 * t['idle_fraction']:.0f}%)")]
    if (a.truth is not None and a.top is not None and a.found is not None
            and a.random is not None and len(index)):
        n = len(index)
        rand: Discovery = a.random
        rows += [("best found", f"{_fmt(a.found.best[-1])} (true max {_fmt(a.truth.max())})"),
                 ("random sampling, same budget", f"{_fmt(rand.best[:, n - 1].mean())} "
                  f"± {_fmt(rand.best[:, n - 1].std())} ({rand.best.shape[0]} seeds)"),
                 ("top-1% sites found", f"{int(a.found.top[-1])} of {int(a.top.sum())} "
                  f"(random: {rand.top[:, n - 1].mean():.2f})")]
    return rows
