"""The monitor's event follower survives Redis being down (at start and later) with one
warning per outage, and follows the stream again once Redis is back."""

from __future__ import annotations

import logging

import pytest

from planner_cluster.monitor.live import EventHub
from planner_cluster.redis_server import RedisServer
from planner_cluster.state import StateStore

from ...conftest import wait_for


def test_the_follower_waits_out_a_redis_outage(caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer(appendonly=False).start()
    store = StateStore.connect(server.url, "outage")
    hub = EventHub(store, block_ms=100)
    caplog.set_level(logging.INFO, logger="planner_cluster.monitor.live")
    try:
        server.kill()  # down before the hub reads where the stream ends
        hub.start()
        wait_for(lambda: "events stream unavailable" in caplog.text, timeout=30,
                 what="the outage reported")
        hub._stop.wait(1.5)  # several retries meanwhile
        assert caplog.text.count("events stream unavailable") == 1
        assert hub._thread is not None and hub._thread.is_alive()
        server.start()
        wait_for(lambda: "available again" in caplog.text, timeout=60, what="the recovery")
        store.publish_event("c1", "status", {"status": "paused"})
        wait_for(lambda: hub.events_seen >= 1, timeout=30, what="an event after the outage")
    finally:
        hub.close()
        store.close()
        server.cleanup()
