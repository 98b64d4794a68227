"""The campaign views every logged-in user can read, and their bad input."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import GRID, Monitor, seed_campaign

CAMPAIGN_PATHS = ["", "/scan", "/measurements", "/spectra", "/predictions", "/plan", "/events",
                  "/controls/abc"]


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
