"""Server-sent events as the monitor's ``/api/stream`` sends them (``id:``, ``data:`` lines, a
blank line after each event, ``:`` comments as keepalives), parsed from a byte stream."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["LiveEvent", "parse_sse"]


@dataclass(frozen=True)
class LiveEvent:
    """One campaign event: ``kind`` (``measurement``, ``plan``, ``control``, ``status``, ...),
    ``data`` as the planner wrote it, ``time`` in Unix seconds, ``id`` the stream position
    (pass it back as ``last_event_id`` to resume after a disconnect)."""

    id: str
    campaign_id: str
    kind: str
    time: float
    data: dict[str, Any]


def parse_sse(lines: Iterable[bytes]) -> Iterator[LiveEvent | None]:
    """Events from raw lines; ``None`` for each keepalive comment (a chance to stop)."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith(":"):
            yield None
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line and data:
            body = json.loads("\n".join(data))
            data = []
            yield LiveEvent(str(body["id"]), str(body.get("campaign_id", "")),
                            str(body["kind"]), float(body["time"]), dict(body["data"]))
