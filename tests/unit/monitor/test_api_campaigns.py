"""The campaign views every logged-in user can read, and their bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest

from planner_cluster.state import PlanRecord
from protocol.lifecycle import CampaignStatus

from .conftest import GRID, Monitor, seed_campaign, spectra

CAMPAIGN_PATHS = ["", "/scan", "/measurements", "/spectra", "/predictions", "/plan", "/events",
                  "/baseline", "/controls/abc"]


def test_every_role_sees_every_campaign(mon: Monitor) -> None:
    for name in ("ada", "olga", "otto"):
        rows = mon.client.get("/api/campaigns", headers=mon.as_(name)).json()
        assert [r["campaign_id"] for r in rows] == ["c1", "c2"]
    rows = mon.client.get("/api/campaigns", headers=mon.as_("vic")).json()
    c1 = rows[0]
    assert c1["status"] == "running" and c1["owner"] == "sam"
    assert c1["microscope"] == "edge-c1" and c1["edge"]["state"] == "running"
    assert (c1["n_measured"], c1["budget_points"], c1["progress"]) == (4, 20, 0.2)
    assert c1["model_version"] == 1
    assert c1["loop_latency_s"] == pytest.approx(0.06)
    assert c1["last_activity"] >= c1["created"]


def test_detail_says_who_may_control(mon: Monitor) -> None:
    for name, controls in (("ada", True), ("olga", True), ("otto", False), ("vic", False)):
        d = mon.client.get("/api/campaigns/c1", headers=mon.as_(name)).json()
        assert d["can_control"] is controls, name
    assert d["grid"] == list(GRID) and d["stride"] == 1 and d["vetoed"] == []
    assert "origin" not in d["config"] and d["config"]["budget"] == {"points": 20}
    owned = mon.client.get("/api/campaigns/c2", headers=mon.as_("otto")).json()
    assert owned["can_control"] is True  # an operator controls the campaigns they own


def test_unknown_campaign_is_404(mon: Monitor) -> None:
    for suffix in CAMPAIGN_PATHS:
        r = mon.client.get(f"/api/campaigns/nope{suffix}", headers=mon.as_("ada"))
        assert r.status_code == 404 and "nope" in r.json()["detail"], suffix


def test_unknown_campaign_control_is_404(mon: Monitor) -> None:
    r = mon.client.post("/api/campaigns/nope/controls", headers=mon.as_("ada"),
                        json={"action": "pause"})
    assert r.status_code == 404


def test_scan_is_scaled_to_unit_range(mon: Monitor) -> None:
    scan = mon.client.get("/api/campaigns/c1/scan", headers=mon.as_("vic")).json()
    image = np.array(scan["image"])
    assert image.shape == GRID and image.min() == 0.0 and image.max() == 1.0
    assert scan["channels"] == ["topography"] and scan["grid"] == list(GRID)


def test_measurements_in_order_with_scores_and_a_cursor(mon: Monitor) -> None:
    got = mon.client.get("/api/campaigns/c1/measurements", headers=mon.as_("vic")).json()
    ms = got["measurements"]
    assert [(m["row"], m["col"]) for m in ms] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert got["scalarizer"] == "loop_area" and got["maximize"] is True
    assert all(isinstance(m["value"], float) for m in ms)
    assert len({m["value"] for m in ms}) == 4
    more = mon.client.get(f"/api/campaigns/c1/measurements?after={got['cursor']}",
                          headers=mon.as_("vic")).json()
    assert more["measurements"] == [] and more["cursor"] == got["cursor"]
    middle = mon.client.get(f"/api/campaigns/c1/measurements?after={ms[1]['id']}",
                            headers=mon.as_("vic")).json()
    assert [m["id"] for m in middle["measurements"]] == [ms[2]["id"], ms[3]["id"]]


def test_bad_cursor_is_422(mon: Monitor) -> None:
    for query in ("after=abc", "after=1-2-3", "after="):
        r = mon.client.get(f"/api/campaigns/c1/measurements?{query}", headers=mon.as_("vic"))
        assert r.status_code == 422, query


def test_latest_spectra(mon: Monitor) -> None:
    got = mon.client.get("/api/campaigns/c1/spectra?n=2", headers=mon.as_("vic")).json()
    assert len(got["axis"]) == 16
    assert [(s["row"], s["col"]) for s in got["spectra"]] == [(2, 2), (3, 3)]
    assert all(len(s["values"]) == 16 for s in got["spectra"])
    for n in ("-1", "51", "x"):
        r = mon.client.get(f"/api/campaigns/c1/spectra?n={n}", headers=mon.as_("vic"))
        assert r.status_code == 422


def test_predictions_are_grid_maps(mon: Monitor) -> None:
    p = mon.client.get("/api/campaigns/c1/predictions", headers=mon.as_("vic")).json()
    assert p["model_version"] == 1 and p["shape"] == list(GRID) and p["stride"] == 1
    assert np.array(p["mean"]).shape == GRID
    assert np.allclose(np.array(p["std"]), 0.5)


def test_predictions_with_a_stride(mon: Monitor) -> None:
    seed_campaign(mon.store, "c3", owner="sam", stride=2)
    p = mon.client.get("/api/campaigns/c3/predictions", headers=mon.as_("vic")).json()
    assert p["stride"] == 2 and p["shape"] == [3, 3]


def test_plan_lists_the_next_points(mon: Monitor) -> None:
    mon.store.add_vetoes("c1", [(4, 1)])
    plan = mon.client.get("/api/campaigns/c1/plan", headers=mon.as_("vic")).json()
    assert plan["points"] == [[5, 4], [0, 0], [4, 1]]
    assert plan["next"] == [[5, 4]]  # (0, 0) is measured, (4, 1) vetoed
    assert plan["model_version"] == 1 and plan["acquisition"] == "ei"


def test_a_new_campaign_has_nothing_yet(mon: Monitor) -> None:
    mon.store.create_campaign("c0", edge_id="e0", owner="sam", config={}, spectral_axis=None)
    for suffix in ("/scan", "/predictions", "/plan"):
        r = mon.client.get(f"/api/campaigns/c0{suffix}", headers=mon.as_("vic"))
        assert r.status_code == 404, suffix
    d = mon.client.get("/api/campaigns/c0", headers=mon.as_("vic")).json()
    assert d["grid"] is None and d["progress"] is None and d["loop_latency_s"] is None
    assert mon.client.get("/api/campaigns/c0/measurements",
                          headers=mon.as_("vic")).json()["measurements"] == []


def test_events_newest_last(mon: Monitor) -> None:
    events = mon.client.get("/api/campaigns/c1/events?n=3", headers=mon.as_("vic")).json()
    assert [e["kind"] for e in events] == ["measurement", "measurement", "plan"]
    assert all(e["campaign_id"] == "c1" for e in events)
    assert mon.client.get("/api/campaigns/c1/events?n=0",
                          headers=mon.as_("vic")).status_code == 422


def test_options_list_actions_and_registries(mon: Monitor) -> None:
    opts = mon.client.get("/api/options", headers=mon.as_("vic")).json()
    assert "veto" in opts["actions"] and opts["acquisitions"]["ucb"] == ["beta"]
    assert "loop_area" in opts["scalarizers"]


def test_detail_labels_plots_with_units(mon: Monitor) -> None:
    d = mon.client.get("/api/campaigns/c1", headers=mon.as_("vic")).json()
    assert d["units"] == {"scalar": "bias x response", "axis_name": "channel", "axis_units": "",
                          "signal_units": "a.u.", "grid_step": 1.0, "grid_units": "grid points"}
    # what the instrument said in hello, and a calibration in the campaign's metadata
    mon.store.touch_edge("edge-c1", campaign_id="c1", state="running", stats={"instrument": {
        "axis_name": "bias", "axis_units": "V", "signal_units": "pm/V"}})
    mon.store.update_config("c1", {"patch_scale": 4,
                                   "metadata": {"pixel_size": 2.5, "pixel_units": "nm"}})
    units = mon.client.get("/api/campaigns/c1", headers=mon.as_("vic")).json()["units"]
    assert (units["axis_name"], units["axis_units"], units["signal_units"]) == (
        "bias", "V", "pm/V")
    assert (units["grid_step"], units["grid_units"]) == (10.0, "nm")
    # what the instrument said, kept with the campaign, outlives its edge's record
    record = mon.store.require_campaign("c2")
    mon.store.update_stats("c2", {**record.stats, "instrument": {"axis_name": "energy loss",
                                                                 "axis_units": "eV"}})
    units = mon.client.get("/api/campaigns/c2", headers=mon.as_("vic")).json()["units"]
    assert (units["axis_name"], units["axis_units"]) == ("energy loss", "eV")


def test_detail_says_how_fresh_the_plan_is(mon: Monitor) -> None:
    mon.store.put_plan("c1", PlanRecord(2, np.array([[5, 4]], np.int32),
                                        np.array([1.0], np.float32), "ei", 1000.0,
                                        {"n_observed": 3, "n_train": 3}))
    before = time.time()
    page = mon.client.get("/api/campaigns/c1", headers=mon.as_("vic")).json()
    f = page["freshness"]
    fourth = mon.store.read_measurements("c1")[3]
    age = f.pop("data_age_s")
    assert f == {"model_version": 2, "created": 1000.0, "n_observed": 3, "n_train": 3,
                 "lag": 1, "oldest_unplanned": fourth.received}  # four stored, three seen
    assert age >= before - fourth.received and page["plan_data_age_s"] >= age


def test_list_marks_final_and_waiting_campaigns(mon: Monitor) -> None:
    seed_campaign(mon.store, "c3", owner="sam", status=CampaignStatus.FINISHED.value)
    record = mon.store.require_campaign("c2")
    mon.store.update_stats("c2", {**record.stats, "waiting": "capacity"})
    rows = {r["campaign_id"]: r for r in
            mon.client.get("/api/campaigns", headers=mon.as_("vic")).json()}
    assert (rows["c1"]["final"], rows["c1"]["waiting"]) == (False, "")
    assert rows["c2"]["waiting"] == "capacity"
    assert rows["c3"]["final"] is True and rows["c3"]["status"] == "finished"
    finished = mon.client.get("/api/campaigns/c3/measurements", headers=mon.as_("vic")).json()
    assert len(finished["measurements"]) == 4  # a finished campaign stays readable


def test_baseline_without_ground_truth_comes_from_the_seed_points(mon: Monitor) -> None:
    got = mon.client.get("/api/campaigns/c1/baseline", headers=mon.as_("vic")).json()
    assert got["kind"] == "none"  # every measurement came from a plan
    mon.store.create_campaign("s1", edge_id="e", owner="sam", config={
        "scalarizer": {"name": "loop_area"}, "budget": {"points": 12}},
        spectral_axis=np.concatenate([np.linspace(-1, 1, 8), np.linspace(1, -1, 8)]))
    for i, s in enumerate(spectra(5, seed=3)):
        mon.store.add_measurement("s1", sender="e", session="s", seq=i, row=0, col=i,
                                  spectrum=s, source="seed")
    got = mon.client.get("/api/campaigns/s1/baseline", headers=mon.as_("vic")).json()
    values = [m["value"] for m in mon.client.get(
        "/api/campaigns/s1/measurements", headers=mon.as_("vic")).json()["measurements"]]
    assert got["kind"] == "seed" and got["n_seed"] == 5 and got["steps"] == 12
    assert got["seed_best"] == pytest.approx(max(values))
    random = np.array(got["random"])
    assert random.shape == (12,) and random[0] == pytest.approx(np.mean(values))
    assert np.all(np.diff(random) >= 0) and random[-1] <= max(values)


def test_baseline_with_ground_truth_is_exact(mon: Monitor) -> None:
    truth = spectra(GRID[0] * GRID[1], seed=7).reshape(*GRID, 16)
    mon.store.put_ground_truth("c1", truth)
    got = mon.client.get("/api/campaigns/c1/baseline", headers=mon.as_("vic")).json()
    assert got["kind"] == "truth" and got["n_truth"] == 30 and got["steps"] == 20
    random, raster = np.array(got["random"]), np.array(got["raster"])
    assert random.shape == raster.shape == (20,)
    assert np.all(np.diff(random) >= 0) and np.all(np.diff(raster) >= 0)
    assert random[-1] <= got["true_best"] and raster.max() <= got["true_best"]
