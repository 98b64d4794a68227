"""What one client can make the monitor hold: request bodies, metric labels, live streams.

The attacks themselves, against a monitor process, are in
tests/faults/test_security_redis_monitor.py."""

from __future__ import annotations

import http.client

import pytest

from planner_cluster.config import ConfigError
from planner_cluster.monitor import MonitorConfig, MonitorServer
from planner_cluster.monitor.config import load_monitor_config
from planner_cluster.monitor.limits import method_label
from tests.conftest import wait_for

from .conftest import Monitor
from .http_client import HttpClient


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(mon: Monitor) -> None:
    limit = MonitorConfig().max_body_bytes
    conn = http.client.HTTPConnection(mon.client.host, mon.client.port, timeout=10)
    try:
        conn.putrequest("POST", "/api/login")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(limit + 1))
        conn.endheaders()  # and not one byte of the body
        over = conn.getresponse()
        assert over.status == 413 and b"limit" in over.read()
        assert over.getheader("x-content-type-options") == "nosniff"
        assert over.getheader("connection") == "close"
    finally:
        conn.close()
    at_limit = '{"name": "ada", "password": "' + " " * (limit - 40) + '"}'
    assert len(at_limit) <= limit
    assert mon.client.post("/api/login", content=at_limit,
                           headers={"Content-Type": "application/json"}).status_code == 401


def test_method_labels_are_bounded() -> None:
    assert [method_label(m) for m in ("GET", "POST", "DELETE", "BREW", "get", "X" * 100)] == [
        "GET", "POST", "DELETE", "other", "other", "other"]


def test_live_streams_are_capped(mon: Monitor) -> None:
    config = MonitorConfig(redis_prefix=mon.store.prefix, bind="127.0.0.1:0",
                           max_live_clients=1, keepalive_s=1.0)
    server = MonitorServer(config, mon.store).start_in_thread()
    client = HttpClient(server.url)

    def open_stream() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(client.host, client.port, timeout=10)
        conn.request("GET", "/api/stream", headers=mon.as_("vic"))
        return conn

    try:
        first = open_stream()
        reply = first.getresponse()
        assert reply.status == 200 and reply.readline().startswith(b"retry")
        refused = client.get("/api/stream", headers=mon.as_("vic"))
        assert refused.status_code == 503 and "max_live_clients" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "10"
        reply.close()
        first.close()

        def another_stream_opens() -> bool:
            conn = open_stream()
            try:
                return conn.getresponse().status == 200
            finally:
                conn.close()

        wait_for(another_stream_opens, timeout=30, interval=0.2,
                 what="the closed stream's place to free up")
    finally:
        server.stop()


@pytest.mark.parametrize("setting", [{"max_body_bytes": 10}, {"max_live_clients": 0}])
def test_limits_must_be_sensible(setting: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        load_monitor_config(overrides=setting)
