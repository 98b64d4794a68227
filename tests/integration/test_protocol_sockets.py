"""Real DEALER/ROUTER sockets over tcp loopback and ipc, with CURVE off and on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

import protocol as p
from protocol import transport
from protocol.key_files import write_curve_keypair

pytestmark = pytest.mark.integration
KEY = b"0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    """A context whose sockets are all closed at teardown (no ResourceWarnings)."""
    c: zmq.Context[Any] = zmq.Context()
    opened: list[zmq.Socket[Any]] = []
    real_socket = c.socket

    def socket(*args: Any, **kwargs: Any) -> zmq.Socket[Any]:
        s = real_socket(*args, **kwargs)
        opened.append(s)
        return s

    c.socket = socket  # type: ignore[method-assign]
    yield c
    for s in opened:
        s.close(linger=0)
    c.term()


@pytest.fixture(params=["tcp", "ipc"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "tcp":
        port = free_port()
        return f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port}"
    path = f"ipc://{tmp_path}/gw.sock"
    return path, path


def exchange(router: zmq.Socket[Any], dealer: zmq.Socket[Any]) -> None:
    edge = p.Session("edge-1", p.Signer(KEY))
    planner = p.Session("planner", p.Signer(KEY))
    spectrum = np.random.default_rng(0).random(64).astype(np.float32)
    sent = transport.send(dealer, edge, p.Measurement("c1", 1, 2, spectrum))
    identities, got = transport.recv(router, planner, timeout_s=5)
    assert identities == [b"edge-1"]
    np.testing.assert_array_equal(got.body.spectrum, spectrum)  # type: ignore[attr-defined]
    transport.send(router, planner, p.Ack(got.header.seq), identities=identities,
                   parent=got.header)
    _, ack = transport.recv(dealer, edge, timeout_s=5)
    assert isinstance(ack.body, p.Ack) and ack.body.seq == sent.header.seq
    assert ack.header.parent_id == sent.header.msg_id


def test_measurement_and_ack_plain(ctx: zmq.Context[Any], endpoint: tuple[str, str]) -> None:
    bind, connect = endpoint
    router = transport.make_router(ctx, bind)
    dealer = transport.make_dealer(ctx, connect, "edge-1")
    exchange(router, dealer)


def test_measurement_and_ack_curve(ctx: zmq.Context[Any], endpoint: tuple[str, str],
                                   tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    allowed = tmp_path / "allowed"
    _, server_secret = write_curve_keypair(keys, "planner")
    edge_public, edge_secret = write_curve_keypair(keys, "edge-1")
    allowed.mkdir()
    (allowed / "edge-1.key").write_bytes(edge_public.read_bytes())
    auth = transport.start_curve_authenticator(ctx, allowed)
    try:
        spub, ssec = transport.load_keypair(server_secret)
        epub, esec = transport.load_keypair(edge_secret)
        bind, connect = endpoint
        router = transport.make_router(ctx, bind,
                                       curve=transport.CurveServerKeys(spub, ssec, allowed))
        dealer = transport.make_dealer(ctx, connect, "edge-1",
                                       curve=transport.CurveClientKeys(epub, esec, spub))
        exchange(router, dealer)
    finally:
        auth.stop()


def test_curve_refuses_unknown_edge_key(ctx: zmq.Context[Any], tmp_path: Path) -> None:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    allowed.mkdir()
    _, server_secret = write_curve_keypair(keys, "planner")
    _, stranger_secret = write_curve_keypair(keys, "stranger")  # not copied to allowed/
    auth = transport.start_curve_authenticator(ctx, allowed)
    try:
        spub, ssec = transport.load_keypair(server_secret)
        xpub, xsec = transport.load_keypair(stranger_secret)
        port = free_port()
        router = transport.make_router(ctx, f"tcp://127.0.0.1:{port}",
                                       curve=transport.CurveServerKeys(spub, ssec, allowed))
        dealer = transport.make_dealer(ctx, f"tcp://127.0.0.1:{port}", "stranger",
                                       options=transport.SocketOptions(send_timeout_s=0.5),
                                       curve=transport.CurveClientKeys(xpub, xsec, spub))
        edge = p.Session("stranger", p.Signer(KEY))
        with pytest.raises(p.TransportError):
            transport.send(dealer, edge, p.Bye())  # IMMEDIATE: no completed handshake
        assert not router.poll(500)
    finally:
        auth.stop()


def test_oversized_frame_is_dropped_by_libzmq(ctx: zmq.Context[Any]) -> None:
    port = free_port()
    limits = p.Limits(max_buffer_bytes=4096, max_content_bytes=4096)
    router = transport.make_router(ctx, f"tcp://127.0.0.1:{port}", limits=limits)
    dealer = transport.make_dealer(ctx, f"tcp://127.0.0.1:{port}", "edge-1")
    edge = p.Session("edge-1", p.Signer(KEY))
    transport.send(dealer, edge, p.Measurement("c1", 0, 0, np.zeros(100_000, np.float32)))
    assert not router.poll(500), "libzmq should drop the oversized frame"


def test_malformed_message_leaves_the_socket_usable(ctx: zmq.Context[Any]) -> None:
    port = free_port()
    router = transport.make_router(ctx, f"tcp://127.0.0.1:{port}")
    dealer = transport.make_dealer(ctx, f"tcp://127.0.0.1:{port}", "edge-1")
    planner = p.Session("planner", p.Signer(KEY))
    dealer.send_multipart([b"garbage"])
    with pytest.raises(p.FramingError):
        transport.recv(router, planner, timeout_s=5)
    exchange(router, dealer)


def test_recv_timeout_is_a_transport_error(ctx: zmq.Context[Any]) -> None:
    router = transport.make_router(ctx, f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(p.TransportError, match="no message within"):
        transport.recv(router, p.Session("planner", p.Signer(None)), timeout_s=0.05)
