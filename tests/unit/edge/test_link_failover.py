"""An edge given several gateways reconnects to the next one each time its link is lost."""

from __future__ import annotations

from typing import Any

import zmq

import protocol as p
from edge_agent.link import Link


def test_each_reconnect_goes_to_the_next_gateway_listed() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    link = Link(ctx, "tcp://127.0.0.1:5601, tcp://127.0.0.2:5602",
                p.Session("edge-1", p.Signer(b"k" * 32)))
    try:
        seen = []
        for _ in range(3):
            link.open()
            seen.append(link.endpoint)
        assert seen == ["tcp://127.0.0.1:5601", "tcp://127.0.0.2:5602", "tcp://127.0.0.1:5601"]
    finally:
        link.close()
        ctx.term()


def test_one_gateway_is_always_that_one() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    link = Link(ctx, "tcp://127.0.0.1:5601", p.Session("edge-1", p.Signer(b"k" * 32)))
    try:
        link.open()
        link.open()
        assert link.endpoint == "tcp://127.0.0.1:5601"
    finally:
        link.close()
        ctx.term()
