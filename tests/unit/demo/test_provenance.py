"""Provenance on a small synthetic campaign: a stand-in actor makes the decisions the way the
campaign actor does; the recomputation must reproduce them, the archive must keep them, and a
tampered decision must be caught. Real DKL (small), real HDF5, real matplotlib."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner_cluster.archive import ArchiveData, read_archive, write_archive
from planner_cluster.campaign import CampaignSettings
from planner_cluster.demo.archive import model_table
from planner_cluster.demo.provenance import Check, check_archive, compare
from planner_cluster.demo.recompute import (
    Recomputation,
    score,
    settings_from_record,
    settings_record,
    single_torch_thread,
)
from planner_cluster.demo.report import draw_report, write_report
from planner_cluster.discovery import discovery, random_baseline, top_mask
from planner_cluster.planning import Decision, PlanningCore

CONFIG: dict[str, Any] = {
    "scalarizer": {"name": "band_integral", "params": {"lo": 0.3, "hi": 0.7}},
    "acquisition": {"name": "ei", "maximize": True}, "patch": 5, "seeds": 4, "seed": 1,
    "batch": 1, "plan_size": 6,
    "model": {"seed": 1, "iterations": 15, "warm_iterations": 5, "hidden": [8]}}
GRID = 10
AXIS = np.linspace(0.0, 1.0, 16)


def _sample() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(GRID, GRID)).astype(np.float32)
    image[3:6, 4:8] += 3.0
    height = 1.0 + np.clip(image, -1, None)
    spectra = height[:, :, None] * np.exp(-((AXIS - 0.5) ** 2) / 0.02)[None, None, :]
    return image, spectra.astype(np.float32)


def _stand_in_actor(image: Any, spectra: Any) -> dict[str, Any]:
    """Drive the planning core as the campaign actor does: a seed plan, then a plan after
    each group of measurements, each group taken from the newest plan."""
    core = PlanningCore(CampaignSettings.from_config(CONFIG), image, AXIS)
    plans: dict[int, tuple[Any, Any]] = {}
    preds: dict[int, tuple[Any, Any]] = {}
    schedule: list[tuple[int, int]] = []

    def plan() -> Decision:
        d = core.plan()
        plans[d.version] = (d.points.astype(np.int32), d.scores.astype(np.float32))
        if d.mean is not None and d.variance is not None:
            preds[d.version] = (d.mean.astype(np.float32), d.variance.astype(np.float32))
        schedule.append((d.version, d.n_observed))
        return d

    coords: list[tuple[int, int]] = []
    versions: list[int] = []
    with single_torch_thread():
        decision = plan()
        for take in (4, 2, 2, 1):  # the last group is measured after the last plan
            points = decision.points[:take]
            coords += [tuple(p) for p in points.tolist()]
            versions += [decision.version] * take
            if take > 1:
                core.observe(points, spectra[points[:, 0], points[:, 1]])
                decision = plan()
    xy = np.array(coords)
    return {"coords": xy, "spectra": spectra[xy[:, 0], xy[:, 1]], "plans": plans,
            "preds": preds, "schedule": schedule, "versions": versions,
            "last_loss": decision.loss, "candidates": core.candidates}


@pytest.fixture(scope="module")
def campaign() -> ArchiveData:
    image, spectra = _sample()
    run = _stand_in_actor(image, spectra)
    n = len(run["coords"])
    sched = np.array(run["schedule"])
    cands = run["candidates"]
    truth = score(CampaignSettings.from_config(CONFIG), spectra.reshape(-1, 16), AXIS)
    top = top_mask(truth, 0.05)
    index = cands.index_of(run["coords"])
    return ArchiveData(
        campaign_id="c1", dataset="sim", config=CONFIG, image=image, coords=run["coords"],
        spectra=run["spectra"], axis=AXIS, source=["seed"] * 4 + ["plan"] * (n - 4),
        plan_version=np.array(run["versions"]), received=np.arange(n, dtype=float),
        dwell_s=np.zeros(n),
        schedule={"version": sched[:, 0], "n_train": sched[:, 1], "n_observed": sched[:, 1],
                  "loss": np.r_[np.nan, np.full(len(sched) - 2, np.nan), run["last_loss"]]},
        recorded_plans=run["plans"], recorded_predictions=run["preds"],
        candidates={"coords": cands.coords, "grid_shape": np.array(cands.grid_shape),
                    "scale": 1},
        truth=truth, top=top, found=discovery(index, truth, top),
        random=random_baseline(truth, top, n, seeds=4))


@pytest.fixture(scope="module")
def checked(campaign: ArchiveData) -> tuple[bool, list[Check], Recomputation]:
    return check_archive(campaign)


def test_recomputation_reproduces_the_stand_in_actor(
        checked: tuple[bool, list[Check], Recomputation]) -> None:
    ok, checks, r = checked
    assert ok, [c for c in checks if not c.ok]
    names = {c.name for c in checks}
    assert {"seed plan", "live plans", "live predictions", "chosen points",
            "training loss"} <= names
    assert "3/3 identical (v1-v3)" in next(c.detail for c in checks
                                               if c.name == "live plans")
    assert [v.version for v in r.versions] == [1, 2, 3]
    assert r.versions[-1].acquisition.shape == (GRID * GRID,)


def test_a_tampered_decision_is_caught(
        campaign: ArchiveData, checked: tuple[bool, list[Check], Recomputation]) -> None:
    r = checked[2]
    points, scores = campaign.recorded_plans[2]
    swapped = replace(campaign, recorded_plans={**campaign.recorded_plans,
                                                2: (points[::-1].copy(), scores)})
    bad = [c for c in compare(swapped, r) if not c.ok]
    assert [c.name for c in bad] == ["live plans"] and "v2:" in bad[0].detail
    moved = campaign.coords.copy()
    plan3 = {tuple(p) for p in campaign.recorded_plans[3][0].tolist()}
    moved[-1] = next(p for p in np.ndindex(GRID, GRID) if p not in plan3)  # not in its plan
    names = {c.name for c in compare(replace(campaign, coords=moved), r) if not c.ok}
    assert "chosen points" in names


def test_archive_round_trip_and_report(
        campaign: ArchiveData, checked: tuple[bool, list[Check], Recomputation],
        tmp_path: Path) -> None:
    path = write_archive(tmp_path / "campaign.h5", replace(
        campaign, models=model_table(checked[2])))
    back = read_archive(path)
    assert back.config == CONFIG and back.source == campaign.source
    np.testing.assert_array_equal(back.coords, campaign.coords)
    assert back.models is not None and back.models.mean.shape == (3, GRID * GRID)
    assert back.models.plan_points.shape == (3, 6, 2)
    assert sorted(back.recorded_plans) == [0, 1, 2, 3]
    ok, checks, _ = check_archive(back)
    assert ok and any(c.name == "archived maps" and c.ok for c in checks)

    fig = draw_report(back, title="t")
    try:
        labels = {t.get_text() for t in fig.axes[0].texts}
        assert {str(i) for i in range(1, len(back.coords) + 1)} <= labels  # numbered in order
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    png = write_report(back, tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 30_000


def test_read_archive_refuses_other_files(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something else"
    with pytest.raises(ValueError, match="not a"):
        read_archive(tmp_path / "other.h5")


def test_archived_settings_win_over_changed_defaults(
        campaign: ArchiveData) -> None:
    """The code's defaults may change after a run; the resolved settings in the archive keep
    the replay faithful."""
    resolved = CampaignSettings.from_config(CONFIG)
    assert settings_from_record(settings_record(resolved)) == resolved
    bare = {k: v for k, v in CONFIG.items() if k != "model"}  # defaults would differ
    ok, checks, _ = check_archive(replace(campaign, config=bare,
                                          settings=settings_record(resolved)))
    assert ok, [c for c in checks if not c.ok]
