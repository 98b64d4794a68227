"""Live events over SSE (a real socket), the Prometheus endpoint, and the acquisition list."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import numpy as np

from planner_cluster.monitor import MonitorConfig, MonitorServer
from planner_cluster.monitor.controls import ACQUISITIONS
from planner_cluster.state import PlanRecord

from .conftest import Monitor


class SSE:
    """Reads server-sent events from a real connection (closed on exit)."""

    def __init__(self, mon: Monitor, path: str, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection(mon.client.host, mon.client.port, timeout=10)
        self.conn.request("GET", path, headers=headers)
        self.resp = self.conn.getresponse()

    def __enter__(self) -> SSE:
        return self

    def __exit__(self, *exc: object) -> None:
        self.resp.close()
        self.conn.close()

    def next_event(self) -> dict[str, Any]:
        fields: dict[str, str] = {}
        while True:
            line = self.resp.readline().decode().rstrip("\n")
            if line == "" and "data" in fields:
                return {"id": fields.get("id"), **json.loads(fields["data"])}
            if line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value


def test_stream_sends_one_campaigns_events_live(mon: Monitor) -> None:
    with SSE(mon, "/api/stream?campaign=c1", mon.as_("vic")) as sse:
        assert sse.resp.status == 200
        assert sse.resp.getheader("content-type").startswith("text/event-stream")
        assert sse.resp.readline() == b"retry: 2000\n"
        mon.store.publish_event("c2", "status", {"status": "paused"})
        mon.store.publish_event("c1", "status", {"status": "paused"})
        event = sse.next_event()
        assert (event["campaign_id"], event["kind"], event["data"]) == (
            "c1", "status", {"status": "paused"})
        assert "-" in event["id"] and event["time"] > 0


def test_stream_replays_what_a_reconnecting_client_missed(mon: Monitor) -> None:
    with SSE(mon, "/api/stream", mon.as_("vic")) as sse:
        sse.resp.readline()
        mon.store.publish_event("c1", "status", {"n": 1})
        first = sse.next_event()
    mon.store.publish_event("c2", "status", {"n": 2})
    mon.store.publish_event("c1", "status", {"n": 3})
    with SSE(mon, "/api/stream", {**mon.as_("vic"), "Last-Event-ID": first["id"]}) as sse:
        got = [sse.next_event()["data"]["n"], sse.next_event()["data"]["n"]]
        assert got == [2, 3]
        mon.store.publish_event("c1", "status", {"n": 4})
        assert sse.next_event()["data"]["n"] == 4


def test_stream_needs_a_login_and_a_known_campaign(mon: Monitor) -> None:
    assert mon.client.get("/api/stream").status_code == 401
    assert mon.client.get("/api/stream?campaign=nope", headers=mon.as_("vic")).status_code == 404
    r = mon.client.get("/api/stream", headers={**mon.as_("vic"), "Last-Event-ID": "junk"})
    assert r.status_code == 422


def test_metrics_describe_campaigns_and_the_loop(mon: Monitor) -> None:
    assert mon.client.post("/api/campaigns/c1/controls", json={"action": "pause"},
                           headers=mon.as_("olga")).status_code == 202
    mon.client.post("/api/campaigns/c1/controls", json={"action": "pause"},
                    headers=mon.as_("vic"))
    text = mon.client.get("/metrics", headers=mon.as_("vic")).text
    for line in ('autopilot_campaign_measurements{campaign="c1"} 4.0',
                 'autopilot_campaigns{status="running"} 2.0',
                 'autopilot_campaign_model_version{campaign="c2"} 1.0',
                 'autopilot_campaign_budget_points{campaign="c1"} 20.0',
                 'autopilot_campaign_fit_seconds{campaign="c1"} 0.05',
                 'autopilot_campaign_best_value{campaign="c1"} 1.5',
                 'autopilot_campaign_info{campaign="c1",microscope="edge-c1",owner="sam",'
                 'status="running"} 1.0',
                 'autopilot_monitor_controls_total{action="pause",outcome="sent"} 1.0',
                 'autopilot_monitor_controls_total{action="pause",outcome="forbidden"} 1.0',
                 "autopilot_state_up 1.0"):
        assert line in text, line
    assert "autopilot_campaign_loop_latency_seconds{campaign=\"c1\"} 0.06" in text
    assert "autopilot_campaign_edge_seconds_since_seen{campaign=\"c1\"}" in text


def test_metrics_say_how_long_new_data_waits_for_a_plan(mon: Monitor) -> None:
    last = mon.store.read_measurements("c1")[-1]
    mon.store.put_plan("c1", PlanRecord(2, np.array([[5, 5]], np.int32),
                                        np.array([1.0], np.float32), "ei", time.time(),
                                        {"n_observed": 4, "data_cursor": last.stream_id}))
    first = mon.store.read_measurements("c2")[0]  # c2's plan has seen none of its four
    before = time.time()
    text = mon.client.get("/metrics", headers=mon.as_("vic")).text
    assert 'autopilot_campaign_plan_data_age_seconds{campaign="c1"} 0.0' in text
    ages = {line.split("} ")[0]: float(line.split("} ")[1]) for line in text.splitlines()
            if line.startswith("autopilot_plan_data_age_seconds{")}
    c2 = float(text.split('autopilot_campaign_plan_data_age_seconds{campaign="c2"} ')[1]
               .split()[0])
    assert c2 >= before - first.received > 0
    assert ages['autopilot_plan_data_age_seconds{quantile="1.0"'] == c2
    assert 0.0 <= ages['autopilot_plan_data_age_seconds{quantile="0.5"'] <= c2


def test_public_metrics_when_configured(mon: Monitor) -> None:
    config = MonitorConfig(redis_prefix=mon.store.prefix, bind="127.0.0.1:0",
                           metrics_public=True)
    server = MonitorServer(config, mon.store).start_in_thread()
    try:
        from .http_client import HttpClient

        client = HttpClient(server.url)
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/campaigns").status_code == 401
    finally:
        server.stop()


def test_acquisition_list_matches_the_registry() -> None:
    from planner_cluster.acquisition.functions import ACQUISITIONS as REGISTRY

    assert {k: tuple(v.params) for k, v in REGISTRY.items()} == ACQUISITIONS
