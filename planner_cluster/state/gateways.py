"""What gateways sharing one Redis prefix agree on: who holds an edge, who applies a control.

- ``P:edge:E:gateway`` (string, PX TTL): the gateway an edge talks to. Set on hello and renewed
  on each heartbeat; only that gateway pushes plans and controls to the edge. An edge that
  fails over says hello to another gateway, which takes it over at once.
- ``P:control-claim:ID`` (string, TTL): the gateway that applied a dashboard control (status
  move, veto) and forwarded it; ``SET NX``, so every control is applied exactly once however
  many gateways follow the events stream.
"""

from __future__ import annotations

from typing import Any

from .store import StateStore

__all__ = ["GatewayCoordination"]

#: How long a control claim is kept (a control's events are not replayed after this).
CLAIM_TTL_S = 24 * 3600

_RELEASE = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('DEL', KEYS[1]) else return 0 end")


class GatewayCoordination:
    """Edge ownership and control claims for the gateway ``gateway_id``."""

    def __init__(self, store: StateStore, gateway_id: str) -> None:
        self.store = store
        self.gateway_id = gateway_id

    def _holder_key(self, edge_id: str) -> str:
        return self.store.key("edge", edge_id, "gateway")

    def hold_edge(self, edge_id: str, ttl_s: float, pipe: Any = None) -> None:
        """This gateway holds ``edge_id`` for ``ttl_s`` (renewed by the edge's heartbeats;
        ``pipe``: add the write to that pipeline instead of running it now)."""
        (pipe if pipe is not None else self.store.r).set(
            self._holder_key(edge_id), self.gateway_id, px=int(ttl_s * 1000))

    def release_edge(self, edge_id: str) -> None:
        """The edge said bye: drop the hold, if it is still this gateway's."""
        self.store.r.eval(_RELEASE, 1, self._holder_key(edge_id), self.gateway_id)

    def holder(self, edge_id: str) -> str | None:
        raw = self.store.r.get(self._holder_key(edge_id))
        return None if raw is None else str(raw.decode())

    def holds(self, edge_id: str) -> bool:
        return self.holder(edge_id) == self.gateway_id

    def claim_control(self, control_key: str) -> bool:
        """True for the one gateway that gets to apply the control ``control_key``."""
        return bool(self.store.r.set(self.store.key("control-claim", control_key),
                                     self.gateway_id, nx=True, ex=CLAIM_TTL_S))
