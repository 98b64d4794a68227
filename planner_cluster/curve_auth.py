"""CURVE keys bound to edge ids: the ZAP authenticator names each connection after the key
file its public key came from (``alice.key`` -> ``alice``), and the gateway refuses any
message whose edge id is not that name. A valid key of one edge cannot speak for another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils import z85

__all__ = ["EdgeKeyAuthenticator", "connection_user"]


class EdgeKeyAuthenticator(AsyncioAuthenticator):
    """Admits the public keys in ``folder`` (``NAME.key`` files from ``autopilot keys curve``)
    and gives each connection the User-Id ``NAME``."""

    def __init__(self, context: zmq.asyncio.Context, folder: Path) -> None:
        super().__init__(context)
        self.names: dict[bytes, str] = {}
        for public in sorted(Path(folder).glob("*.key")):
            key, _ = zmq.auth.load_certificate(str(public))
            self.names[z85.decode(key)] = public.stem
        self.folder = folder

    def start(self) -> None:
        super().start()
        self.configure_curve(domain="*", location=str(self.folder))

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.names.get(client_public_key, "")


def connection_user(frames: list[Any]) -> str:
    """The User-Id ZAP gave the connection these frames came on ("" if none)."""
    try:
        return str(frames[-1].get("User-Id") or "")
    except (AttributeError, zmq.ZMQError):
        return ""
