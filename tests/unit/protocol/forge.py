"""Builds frame lists by hand, validly signed, so tests can say anything a hostile peer could."""

from __future__ import annotations

import time
from typing import Any

import msgpack

import protocol as p


def header(msg_type: str = "measurement", **overrides: Any) -> dict[str, Any]:
    h: dict[str, Any] = {
        "version": 1, "msg_type": msg_type, "msg_id": "m1", "sender": "edge-1",
        "session": "s1", "seq": 0, "time": time.time(), "parent_id": "",
    }
    h.update(overrides)
    return h


def measurement_content(**overrides: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "campaign_id": "c1", "row": 1, "col": 2,
        "spectrum": {"dtype": "<f4", "shape": [4], "buffer": 0},
    }
    c.update(overrides)
    return c


def frames(
    signer: p.Signer,
    head: dict[str, Any] | bytes,
    content: dict[str, Any] | bytes,
    buffers: list[bytes] | None = None,
) -> list[bytes]:
    h = head if isinstance(head, bytes) else msgpack.packb(head)
    c = content if isinstance(content, bytes) else msgpack.packb(content)
    payload = [h, c, *(buffers if buffers is not None else [b"\0" * 16])]
    return [p.DELIMITER, signer.sign(payload), *payload]
