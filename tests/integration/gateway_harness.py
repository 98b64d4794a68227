"""Runs a real Gateway in a background thread, and a protocol-level DEALER client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import zmq

import protocol as p
from planner_cluster.gateway import Gateway, GatewaySettings
from planner_cluster.redis_server import free_port
from planner_cluster.state import StateStore
from protocol import transport

KEY = b"integration-test-signing-key-01234"


@contextmanager
def running_gateway(store: StateStore, **settings: Any) -> Iterator[tuple[Gateway, str]]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    gw = Gateway(store, GatewaySettings(bind=endpoint, signer=p.Signer(KEY), **settings))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(gw.serve(),), daemon=True)
    thread.start()
    try:
        yield gw, endpoint
    finally:
        loop.call_soon_threadsafe(gw.stop)
        thread.join(10)
        loop.close()


class EdgeClient:
    """A bare protocol client: sends what a test says and collects what comes back."""

    def __init__(self, endpoint: str, edge_id: str = "edge-1", key: bytes = KEY) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = transport.make_dealer(self.ctx, endpoint, edge_id)
        self.session = p.Session(edge_id, p.Signer(key))
        self.edge_id = edge_id

    def send(self, body: p.Body, **kw: Any) -> p.Message:
        return transport.send(self.sock, self.session, body, **kw)

    def recv(self, timeout_s: float = 5.0) -> p.Message:
        return transport.recv(self.sock, self.session, timeout_s)[1]

    def recv_type(self, body_type: type[p.Body], timeout_s: float = 5.0) -> p.Message:
        """The next message of ``body_type``, skipping others (e.g. pushed plans)."""
        while True:
            msg = self.recv(timeout_s)
            if isinstance(msg.body, body_type):
                return msg

    def request(self, body: p.Body, reply: type[p.Body]) -> p.Message:
        sent = self.send(body)
        while True:
            msg = self.recv()
            if msg.header.parent_id == sent.header.msg_id and isinstance(msg.body, reply | p.Error):
                return msg

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()
