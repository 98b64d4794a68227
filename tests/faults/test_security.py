"""Security checks not covered elsewhere (see docs/reliability.md for the full list and where
each lives): Redis refuses clients without the password, and the planner will not start
without it; every deployment recipe turns the password on; a CURVE gateway admits only the
edge keys in its folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import zmq

import protocol as p
from planner_cluster.redis_server import RedisServer, free_port
from planner_cluster.state import StateStore
from protocol import transport
from protocol.key_files import write_curve_keypair
from tests.integration.gateway_harness import KEY as GATEWAY_KEY
from tests.integration.gateway_harness import running_gateway

from .stack import REPO, write_key

pytestmark = pytest.mark.integration

PASSWORD = "security-test-redis-password-0123456789"


def test_redis_refuses_clients_without_the_password(tmp_path: Path) -> None:
    with RedisServer(appendonly=True, password=PASSWORD, data_dir=tmp_path / "redis") as server:
        url = f"redis://127.0.0.1:{server.port}/0"
        for password in (None, "not-the-password"):
            client = redis.Redis.from_url(url, password=password, socket_timeout=5)
            try:
                with pytest.raises(redis.AuthenticationError):
                    client.set("k", "v")
            finally:
                client.close()
        store = StateStore.connect(url, "sec", password=PASSWORD)
        try:
            assert store.ping()
        finally:
            store.close()


def test_planner_will_not_start_without_the_redis_password(tmp_path: Path) -> None:
    with RedisServer(password=PASSWORD, data_dir=tmp_path / "redis") as server:
        done = subprocess.run(
            [sys.executable, "-m", "autopilot_cli", "planner", "--redis",
             f"redis://127.0.0.1:{server.port}/0", "--ray", "local", "--bind",
             f"tcp://127.0.0.1:{free_port()}", "--signing-key", str(write_key(tmp_path)),
             "--data-dir", str(tmp_path / "data"), "--insecure-redis"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Authentication required" in done.stdout + done.stderr


def test_every_deployment_recipe_turns_the_redis_password_on() -> None:
    deploy = REPO / "deploy"
    for recipe in ("compose.yaml", "kubernetes/base/redis.yaml", "local-cluster.sh"):
        text = (deploy / recipe).read_text()
        assert re.search(r"requirepass", text), recipe
        assert "appendonly" in text, recipe


def _dealer(ctx: zmq.Context[Any], endpoint: str, edge_id: str,
            curve: transport.CurveClientKeys | None) -> zmq.Socket[Any]:
    return transport.make_dealer(ctx, endpoint, edge_id, curve=curve,
                                 options=transport.SocketOptions(send_timeout_s=0.5))


def test_curve_gateway_admits_only_authorized_edge_keys(store: StateStore,
                                                        tmp_path: Path) -> None:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    allowed.mkdir()
    _, planner_secret = write_curve_keypair(keys, "planner")
    edge_public, edge_secret = write_curve_keypair(keys, "edge-1")
    _, stranger_secret = write_curve_keypair(keys, "stranger")  # never copied to allowed/
    (allowed / "edge-1.key").write_bytes(edge_public.read_bytes())
    spub, ssec = transport.load_keypair(planner_secret)
    curve = transport.CurveServerKeys(spub, ssec, allowed)
    ctx: zmq.Context[Any] = zmq.Context()
    socks: list[zmq.Socket[Any]] = []
    try:
        with running_gateway(store, heartbeat_s=0.5, curve=curve) as (gw, endpoint):
            epub, esec = transport.load_keypair(edge_secret)
            good = _dealer(ctx, endpoint, "edge-1", transport.CurveClientKeys(epub, esec, spub))
            socks.append(good)
            session = p.Session("edge-1", p.Signer(GATEWAY_KEY))
            transport.send(good, session, p.Hello("edge-1", {"name": "curve"}))
            _, reply = transport.recv(good, session, timeout_s=10)
            assert isinstance(reply.body, p.Welcome)
            received = gw.stats["received"]

            xpub, xsec = transport.load_keypair(stranger_secret)
            intruders = [
                ("stranger", transport.CurveClientKeys(xpub, xsec, spub)),  # unknown key
                ("plain", None),  # no CURVE at all
                ("edge-1", transport.CurveClientKeys(xpub, xsec, spub)),  # a known id, wrong key
            ]
            for edge_id, keys_ in intruders:
                sock = _dealer(ctx, endpoint, edge_id, keys_)
                socks.append(sock)
                intruder = p.Session(edge_id, p.Signer(GATEWAY_KEY))  # even with the signing key
                with pytest.raises(p.TransportError):  # no handshake completes: nothing queued
                    transport.send(sock, intruder, p.Measurement("c1", 0, 0, np.ones(4)))
                assert not sock.poll(300)
            assert gw.stats["received"] == received  # nothing reached the gateway's code
            assert store.edge("stranger") is None and store.edge("plain") is None
            transport.send(good, session, p.Heartbeat("still here"))
            _, reply = transport.recv(good, session, timeout_s=10)
            assert reply.body == p.Heartbeat("ok")
    finally:
        for sock in socks:
            sock.close(linger=0)
        ctx.term()
