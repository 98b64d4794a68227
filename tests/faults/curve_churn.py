"""Run with ``python -m tests.faults.curve_churn SECONDS``: a CURVE gateway (real Redis) while
two edges with valid keys keep connecting under one identity; exits 0 if the gateway still
welcomes an edge at the end. libzmq 4.3.5 aborted the process here (SIGABRT) when the ROUTER
allowed identity handover."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

import protocol as p
from planner_cluster.redis_server import RedisServer
from planner_cluster.state import StateStore
from protocol import transport
from protocol.key_files import write_curve_keypair
from tests.integration.gateway_harness import KEY, running_gateway


def main(seconds: float) -> int:
    with tempfile.TemporaryDirectory() as tmp, RedisServer(
            data_dir=Path(tmp) / "redis") as server:
        keys, allowed = Path(tmp) / "keys", Path(tmp) / "allowed"
        allowed.mkdir()
        _, planner_secret = write_curve_keypair(keys, "planner")
        spub, ssec = transport.load_keypair(planner_secret)
        clients = []
        for name in ("alice", "mallory"):
            public, secret = write_curve_keypair(keys, name)
            (allowed / f"{name}.key").write_bytes(public.read_bytes())
            epub, esec = transport.load_keypair(secret)
            clients.append(transport.CurveClientKeys(epub, esec, spub))
        store = StateStore.connect(server.url, "churn")
        ctx: zmq.Context[Any] = zmq.Context()
        with running_gateway(store, heartbeat_s=0.5, curve=transport.CurveServerKeys(
                spub, ssec, allowed)) as (_gw, endpoint):
            live: list[zmq.Socket[Any]] = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for keys_ in clients:  # both claim "alice"
                    sock = transport.make_dealer(ctx, endpoint, "alice", curve=keys_)
                    session = p.Session("alice", p.Signer(KEY))
                    try:
                        transport.send(sock, session, p.Heartbeat("ok"))
                    except p.TransportError:
                        pass
                    live.append(sock)
                    if len(live) > 4:
                        live.pop(0).close(linger=0)
                    time.sleep(0.005)
            for sock in live:
                sock.close(linger=0)
            time.sleep(1.0)  # the last connections go
            good = transport.make_dealer(ctx, endpoint, "alice", curve=clients[0])
            session = p.Session("alice", p.Signer(KEY))
            deadline = time.monotonic() + 30
            while True:  # the old connections may take a heartbeat timeout to be dropped
                transport.send(good, session, p.Hello("alice", {"name": "churn"}))
                try:
                    _, reply = transport.recv(good, session, timeout_s=2)
                    break
                except p.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    good.close(linger=0)
                    good = transport.make_dealer(ctx, endpoint, "alice", curve=clients[0])
            good.close(linger=0)
        store.close()
        ctx.term()
    print("welcomed" if isinstance(reply.body, p.Welcome) else f"got {reply.body}")
    return 0 if isinstance(reply.body, p.Welcome) else 1


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))
