"""Per-edge credentials: each edge its own signing key, issued and revoked by an admin.

Kept in Redis (``PREFIX:edgekey:EDGE_ID``: ``key``, ``created``, ``revoked``) so every gateway
sees an issue or a revocation within :data:`CACHE_S`. A registered edge id can only be spoken
for with its own key: the gateway verifies its messages with that key and signs its replies
with it, so another edge (even one holding the legacy shared key) cannot take its campaigns,
acks or plans. A revoked id stays refused until it is issued a new key.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from protocol.ids import ID_RULE, valid_id

from .store import StateError, StateStore

__all__ = ["CACHE_S", "EdgeCredential", "EdgeCredentials"]

#: How long a gateway trusts what it read (a revocation takes effect within this).
CACHE_S = 2.0


@dataclass(frozen=True)
class EdgeCredential:
    edge_id: str
    key: bytes | None  # None: revoked
    created: float
    revoked: float | None


class EdgeCredentials:
    """Issue, revoke and look up edge keys in the state store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, EdgeCredential | None]] = {}

    def _key(self, edge_id: str) -> str:
        return self.store.key("edgekey", edge_id)

    def issue(self, edge_id: str, *, replace: bool = False) -> bytes:
        """A new random key for ``edge_id`` (64 hex characters: the text is the key, as in
        a key file). Refuses to replace a live key unless ``replace`` (key rotation)."""
        if not valid_id(edge_id):
            raise StateError(f"edge id {edge_id!r} is not valid ({ID_RULE})")
        current = self.get(edge_id, cached=False)
        if current is not None and current.key is not None and not replace:
            raise StateError(f"edge {edge_id} has a key already; rotate it with replace")
        key = secrets.token_hex(32).encode()
        self.store.r.hset(self._key(edge_id), mapping={
            "key": key, "created": time.time(), "revoked": ""})
        self.store.r.sadd(self.store.key("edgekeys"), edge_id)
        self._cache.pop(edge_id, None)
        return key

    def revoke(self, edge_id: str) -> bool:
        """Forget ``edge_id``'s key; its messages are refused from now on. False: unknown."""
        if not self.store.r.exists(self._key(edge_id)):
            return False
        self.store.r.hset(self._key(edge_id), mapping={"key": "", "revoked": time.time()})
        self._cache.pop(edge_id, None)
        return True

    def get(self, edge_id: str, *, cached: bool = True) -> EdgeCredential | None:
        """The edge's credential (None: never issued one)."""
        now = time.monotonic()
        hit = self._cache.get(edge_id)
        if cached and hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
        f = self.store.r.hgetall(self._key(edge_id))
        found = None if not f else EdgeCredential(
            edge_id, f.get(b"key") or None, float(f.get(b"created") or 0),
            float(f[b"revoked"]) if f.get(b"revoked") else None)
        if len(self._cache) > 10_000:  # bounded: ids are cheap to invent
            self._cache.clear()
        self._cache[edge_id] = (now, found)
        return found

    def list(self) -> list[EdgeCredential]:
        ids = sorted(i.decode() for i in self.store.r.smembers(self.store.key("edgekeys")))
        return [c for c in (self.get(i, cached=False) for i in ids) if c is not None]
