"""Controls: who may send them, what a malformed one gets, and what reaches the planner."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Monitor, move_to

ALL_CONTROLS: list[tuple[str, dict[str, Any]]] = [
    ("pause", {}), ("resume", {}), ("stop", {}), ("abort", {}),
    ("veto", {"points": [[1, 2]]}), ("veto", {"region": [0, 0, 1, 1]}),
    ("add_point", {"point": [5, 4]}), ("set_acquisition", {"name": "ucb", "params": {"beta": 2}}),
    ("set_scalarizer", {"name": "coercive_width"}), ("set_exploration", {"weight": 0.5}),
]


def post(mon: Monitor, who: str, action: str, args: dict[str, Any] | None = None,
         cid: str = "c1") -> Any:
    body: dict[str, Any] = {"action": action}
    if args is not None:
        body["args"] = args
    return mon.client.post(f"/api/campaigns/{cid}/controls", json=body, headers=mon.as_(who))


@pytest.mark.parametrize("who", ["ada", "olga"])
def test_admins_and_the_campaigns_operators_control_it(mon: Monitor, who: str) -> None:
    for i, (action, args) in enumerate(ALL_CONTROLS):
        r = post(mon, who, action, args)
        assert r.status_code == 202, (action, r.text)
        sent = r.json()
        _, control = mon.store.read_controls("c1")[i]
        assert control["user"] == who and control["origin"] == "dashboard"
        assert control["control_id"] == sent["control_id"] and control["requested"] == action
        assert control["action"] == sent["action"]


@pytest.mark.parametrize("who", ["vic", "otto"])
def test_viewers_and_other_operators_are_refused(mon: Monitor, who: str) -> None:
    for action, args in ALL_CONTROLS:
        r = post(mon, who, action, args)
        assert r.status_code == 403 and "may not control" in r.json()["detail"], action
    assert mon.store.read_controls("c1") == []


def test_an_operator_controls_the_campaign_they_own(mon: Monitor) -> None:
    assert post(mon, "otto", "pause", cid="c2").status_code == 202
    assert post(mon, "olga", "pause", cid="c2").status_code == 403


def test_operator_with_wildcard_controls_everything(mon: Monitor) -> None:
    mon.users.put_user("wendy", "operator", ["*"])
    mon.tokens["wendy"] = mon.users.issue_token("wendy", 60)[0]
    assert post(mon, "wendy", "pause", cid="c1").status_code == 202
    assert post(mon, "wendy", "pause", cid="c2").status_code == 202


MALFORMED: list[tuple[Any, str]] = [
    ({"action": "explode"}, "unknown action"),
    ({"action": "pause", "args": {"now": True}}, "takes no args"),
    ({"action": "pause", "extra": 1}, ""),
    ({"args": {}}, ""),
    ({"action": 3}, ""),
    ({"action": "pause", "args": [1]}, ""),
    ({"action": "veto", "args": {}}, "veto takes"),
    ({"action": "veto", "args": {"points": []}}, "non-empty"),
    ({"action": "veto", "args": {"points": [[1]]}}, "[row, col]"),
    ({"action": "veto", "args": {"points": [[1.5, 2]]}}, "[row, col]"),
    ({"action": "veto", "args": {"points": [[True, 2]]}}, "[row, col]"),
    ({"action": "veto", "args": {"points": [[6, 0]]}}, "outside"),
    ({"action": "veto", "args": {"points": [[-1, 0]]}}, "outside"),
    ({"action": "veto", "args": {"region": [3, 3, 1, 1]}}, "row0 <= row1"),
    ({"action": "veto", "args": {"region": [0, 0, 9, 9]}}, "outside"),
    ({"action": "veto", "args": {"region": [0, 0, 1]}}, "region"),
    ({"action": "veto", "args": {"points": [[1, 1]], "radius": 3}}, "veto takes"),
    ({"action": "add_point", "args": {}}, "add_point takes"),
    ({"action": "add_point", "args": {"point": [0, 99]}}, "outside"),
    ({"action": "set_acquisition", "args": {"name": "magic"}}, "unknown acquisition"),
    ({"action": "set_acquisition", "args": {"name": "ei", "params": {"beta": 1}}},
     "takes no parameter"),
    ({"action": "set_acquisition", "args": {"name": "ucb", "params": {"beta": "big"}}},
     "finite number"),
    ({"action": "set_acquisition", "args": {"name": "ucb", "maximize": "yes"}}, "maximize"),
    ({"action": "set_acquisition", "args": {"name": "ucb", "params": [1]}}, "must be a map"),
    ({"action": "set_scalarizer", "args": {"name": "nope"}}, "unknown scalarizer"),
    ({"action": "set_scalarizer", "args": {"name": "loop_area", "params": {"zzz": 1}}},
     "takes no parameter"),
    ({"action": "set_scalarizer", "args": {"name": "loop_area", "other": 1}}, "takes name"),
    ({"action": "set_exploration", "args": {}}, "takes weight"),
    ({"action": "set_exploration", "args": {"weight": -1}}, ">= 0"),
    ({"action": "set_exploration", "args": {"weight": "lots"}}, "finite number"),
    ({"action": "set_exploration", "args": {"weight": 1e400}}, ""),
]


def test_malformed_controls_are_refused(mon: Monitor) -> None:
    for body, reason in MALFORMED:
        r = mon.client.post("/api/campaigns/c1/controls", json=body, headers=mon.as_("ada"))
        assert r.status_code == 422, (body, r.text)
        assert reason in str(r.json()["detail"]), (body, r.text)
    assert mon.store.read_controls("c1") == []


def test_non_json_control_is_refused(mon: Monitor) -> None:
    r = mon.client.post("/api/campaigns/c1/controls", content="pause",
                        headers={**mon.as_("ada"), "Content-Type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize("status", ["finished", "aborted", "failed"])
def test_ended_campaigns_take_no_controls(mon: Monitor, status: str) -> None:
    move_to(mon.store, "c1", status)
    r = post(mon, "ada", "resume", {})
    assert r.status_code == 409 and status in r.json()["detail"]


def test_veto_before_the_scan_is_409(mon: Monitor) -> None:
    mon.store.create_campaign("c0", edge_id="e0", owner="sam", config={}, spectral_axis=None)
    assert post(mon, "ada", "veto", {"points": [[0, 0]]}, cid="c0").status_code == 409
    assert post(mon, "ada", "pause", {}, cid="c0").status_code == 202


def test_exploration_weight_becomes_the_acquisitions_parameter(mon: Monitor) -> None:
    sent = post(mon, "olga", "set_exploration", {"weight": 0.3}).json()
    assert sent["action"] == "set_acquisition" and sent["requested"] == "set_exploration"
    assert sent["args"] == {"name": "ei", "params": {"xi": 0.3}, "maximize": True,
                            "exploration_weight": 0.3}
    mon.store.update_config("c1", {"acquisition": {"name": "thompson"}})
    r = post(mon, "olga", "set_exploration", {"weight": 0.3})
    assert r.status_code == 422 and "no exploration weight" in r.json()["detail"]


def test_vetoes_with_a_stride_name_candidates_only(mon: Monitor) -> None:
    from .conftest import seed_campaign

    seed_campaign(mon.store, "c3", owner="sam", stride=2)
    sent = post(mon, "ada", "veto", {"region": [0, 0, 2, 3]}, cid="c3").json()
    assert sent["args"] == {"points": [[0, 0], [0, 2], [2, 0], [2, 2]]}
    r = post(mon, "ada", "veto", {"points": [[1, 1]]}, cid="c3")
    assert r.status_code == 422 and "no candidate" in r.json()["detail"]
    r = post(mon, "ada", "add_point", {"point": [1, 1]}, cid="c3")
    assert r.status_code == 422 and "stride" in r.json()["detail"]


def test_control_status_shows_the_edges_answer(mon: Monitor) -> None:
    sent = post(mon, "olga", "pause", {}).json()
    cid = sent["control_id"]
    path = f"/api/campaigns/c1/controls/{cid}"
    got = mon.client.get(path, headers=mon.as_("vic")).json()
    assert got["control"]["data"]["user"] == "olga" and got["results"] == []
    mon.store.publish_event("c1", "control_result", {"control_id": cid, "status": "accepted",
                                                     "detail": "now paused", "edge_id": "e"})
    got = mon.client.get(path, headers=mon.as_("vic")).json()
    assert [r["data"]["status"] for r in got["results"]] == ["accepted"]
    assert got["planner_applied"] is None


def test_control_status_shows_when_the_planner_applied_it(mon: Monitor) -> None:
    mon.store.publish_event("c1", "replanned", {"reason": "set_acquisition"})  # an older one
    sent = post(mon, "olga", "set_acquisition", {"name": "ucb"}).json()
    path = f"/api/campaigns/c1/controls/{sent['control_id']}"
    assert mon.client.get(path, headers=mon.as_("vic")).json()["planner_applied"] is None
    mon.store.publish_event("c1", "replanned", {"reason": "set_acquisition"})
    got = mon.client.get(path, headers=mon.as_("vic")).json()
    assert got["planner_applied"]["data"] == {"reason": "set_acquisition"}
    assert mon.client.get("/api/campaigns/c1/controls/unknown",
                          headers=mon.as_("vic")).status_code == 404
