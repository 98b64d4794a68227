"""Benchmark edges: many signed protocol clients in one process, one DEALER socket each.

Each edge says hello, starts its campaign (named after the edge) and sends its scan, one
request at a time, before the benchmark's paced sending begins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import zmq

import protocol as p
from protocol import transport


@dataclass
class EdgeClients:
    """The edges' sockets and sessions, a poller over them, and which socket is whose."""

    ctx: zmq.Context[Any]
    socks: dict[str, zmq.Socket[Any]]
    sessions: dict[str, p.Session]
    poller: zmq.Poller = field(default_factory=zmq.Poller)
    by_sock: dict[zmq.Socket[Any], str] = field(default_factory=dict)

    def close(self) -> None:
        for s in self.socks.values():
            s.close(linger=0)
        self.ctx.term()


def start_edges(endpoint: str, names: list[str], key: bytes, *, name: str,
                config: dict[str, Any], axis: npt.NDArray[Any], image: npt.NDArray[Any],
                timeout_s: float = 30.0) -> EdgeClients:
    """Connect ``names`` as edges and start one campaign each (``config``, ``axis``,
    ``image``), waiting for each reply in turn."""
    ctx: zmq.Context[Any] = zmq.Context()
    socks = {n: transport.make_dealer(ctx, endpoint, n) for n in names}
    sessions = {n: p.Session(n, p.Signer(key)) for n in names}
    for n in names:
        for body in (p.Hello(n, {"name": name}),
                     p.CampaignStart(n, config, spectral_axis=np.asarray(axis)),
                     p.Scan(n, image)):
            sent = transport.send(socks[n], sessions[n], body)
            while transport.recv(socks[n], sessions[n], timeout_s)[1].header.parent_id != \
                    sent.header.msg_id:
                pass
    clients = EdgeClients(ctx, socks, sessions)
    for n, s in socks.items():
        clients.poller.register(s, zmq.POLLIN)
        clients.by_sock[s] = n
    return clients
