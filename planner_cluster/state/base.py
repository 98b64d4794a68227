"""What every part of the state store shares: the Redis client, key names, events, arrays
inline or in blobs, and the state errors. Key schema: docs/state.md.

Writes that belong together run in one pipeline or one Lua script (atomic on the server).
Every key lives under ``prefix``.
"""

from __future__ import annotations

import time
from typing import Any

from numpy.typing import NDArray

from protocol.ids import ID_RULE, valid_id
from protocol.lifecycle import FINAL

from ..errors import PlannerError
from .blobs import BlobStore
from .codec import array_fields, dumps, read_array

EVENTS_MAXLEN = 100_000
CAMPAIGN_EVENTS_MAXLEN = 10_000

#: The final statuses as a Lua table constructor's body (``if ({...})[status]``), for the
#: scripts that must not act on a campaign that is over.
LUA_FINAL_STATUSES = ", ".join(f"['{s.value}'] = true" for s in FINAL)


class StateError(PlannerError, RuntimeError):
    """The store refused an operation (unknown campaign, a conflict)."""


class CampaignLimitError(StateError):
    """A new campaign for an edge that runs as many live campaigns as it may."""

    def __init__(self, edge_id: str, live: int, limit: int) -> None:
        super().__init__(f"edge {edge_id!r} already runs {live} campaigns, the most this "
                         "planner allows at once; finish or abort one first")
        self.edge_id, self.live, self.limit = edge_id, live, limit


class CampaignEndedError(StateError):
    """A new measurement for a campaign that is over (finished, aborted or failed)."""

    def __init__(self, campaign_id: str, status: str) -> None:
        super().__init__(f"campaign {campaign_id} is {status}: it takes no more measurements")
        self.campaign_id = campaign_id
        self.status = status



class StoreBase:
    """The store's shared state; :class:`~.store.StateStore` composes the parts on it."""

    # Any: redis-py types every reply as a union for both decode modes; this client is
    # always bytes-mode, and this package is the only one that reads replies.
    r: Any
    prefix: str
    blobs: BlobStore | None
    inline_limit: int

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def ckey(self, campaign_id: str, *parts: str) -> str:
        """A key of ``campaign_id``'s (refused for an id that is not valid)."""
        if not valid_id(campaign_id):  # an id like "c2:plan" would name another key
            raise StateError(f"{campaign_id!r} is not a valid campaign id ({ID_RULE})")
        return self.key("campaign", campaign_id, *parts)

    def _event(self, pipe: Any, campaign_id: str, kind: str, data: dict[str, Any]) -> None:
        fields = {"campaign": campaign_id, "kind": kind, "time": time.time(),
                  "data": dumps(data)}
        pipe.xadd(self.key("events"), fields, maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.xadd(self.ckey(campaign_id, "events"), fields, maxlen=CAMPAIGN_EVENTS_MAXLEN,
                  approximate=True)

    def _array_or_blob(self, campaign_id: str, field: str, name: str,
                       array: NDArray[Any]) -> dict[str, Any]:
        if array.nbytes > self.inline_limit and self.blobs is not None:
            return {f"{field}_ref": self.blobs.put(campaign_id, name, array)}
        return array_fields(field, array)

    def _read_array_or_blob(self, f: dict[bytes, bytes], field: str) -> NDArray[Any]:
        ref = f.get(f"{field}_ref".encode())
        if ref is not None:
            if self.blobs is None:
                raise StateError(f"array stored in a blob ({ref.decode()}) but no blob_dir set")
            return self.blobs.get(ref.decode())
        return read_array(f, field)


def flat_pairs(fields: dict[str, Any]) -> list[Any]:
    """A map as the flat field/value list Redis commands and scripts take."""
    return [x for kv in fields.items() for x in kv]
