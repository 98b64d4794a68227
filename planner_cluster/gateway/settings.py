"""The gateway's settings, and the refusal it answers with an ``error`` reply."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import protocol as p
from protocol import ErrorCode, transport

from ..errors import PlannerError

#: Controls the campaign worker carries out; the edge has nothing to do with them.
PLANNER_ACTIONS = frozenset({"set_acquisition", "set_scalarizer", "set_exploration"})

#: Map fields of edge messages that the store keeps as JSON.
JSON_FIELDS = ("instrument", "config", "stats", "args")


@dataclass(frozen=True)
class GatewaySettings:
    bind: str
    signer: p.Signer
    planner_id: str = "planner"
    heartbeat_s: float = 2.0
    limits: p.Limits = p.DEFAULT_LIMITS
    curve: transport.CurveServerKeys | None = None
    max_live_campaigns_per_edge: int = 8
    #: campaigns with a worker (scanned, not over) the cluster can hold at once; a scan
    #: beyond it is refused with ``no_capacity`` and ``retry_after_s`` (0: no limit)
    max_active_campaigns: int = 0
    retry_after_s: float = 5.0
    #: edges issued their own key (``autopilot edges add``) must use it; with
    #: ``require_edge_keys`` an edge without one is refused before anything is stored,
    #: otherwise it may use the shared ``signer`` (migration)
    require_edge_keys: bool = False
    #: edges the gateway welcomes at once (identities cost Redis records)
    max_edges: int = 1000
    #: this gateway's name among those sharing the Redis prefix (empty: planner_id and a
    #: random suffix); it holds the edges that talk to it
    gateway_id: str = ""
    #: hand the edge a space-filling seed plan as soon as its scan is stored (no model)
    seed_plans: bool = True
    #: frames taken from the socket per loop turn, committed in one Redis round trip
    batch_max: int = 256
    #: how long another gateway waits for the edge's gateway to apply a dashboard control
    #: before applying it itself (the edge's gateway may be gone)
    control_grace_s: float = 5.0


class Refusal(PlannerError):
    """A request the gateway answers with an ``error`` reply carrying ``code``."""

    def __init__(self, code: ErrorCode, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


def require_json(value: Any, field: str) -> None:
    """Refuse a map the store cannot keep as JSON (msgpack can carry binary values)."""
    if value is None:
        return
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Refusal(ErrorCode.BAD_FIELD, f"{field!r} must hold JSON values only: {exc}",
                      field=field) from None


def wire_value(value: Any) -> Any:
    """A detail value msgpack can always encode: a hostile input's sizes can exceed 64 bits
    (a declared shape of 2**40 x 2**40), and an error reply must never fail to encode."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value[:64]]
    return str(value)[:1000]
