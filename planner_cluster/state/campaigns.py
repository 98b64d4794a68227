"""Campaign records: created once per id (with the per-edge limit, atomically), read, and
changed only by compare-and-set (status transitions, config, stats)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from protocol.ids import valid_id
from protocol.lifecycle import CampaignStatus, LifecycleError, next_status

from .base import (
    CAMPAIGN_EVENTS_MAXLEN,
    EVENTS_MAXLEN,
    LUA_FINAL_STATUSES,
    CampaignLimitError,
    StateError,
    StoreBase,
    flat_pairs,
)
from .codec import array_fields, dumps, loads, text
from .records import CampaignRecord

# KEYS: campaign, campaigns set, the edge's campaigns set, events, campaign events
# ARGV: campaign id, per-edge limit (0: none), "PREFIX:campaign:", event field/value pairs,
#       "", then the campaign's field/value pairs
# Returns {1, 0} created, {0, 0} exists, {2, live} the edge is at its limit.
CREATE_CAMPAIGN_SCRIPT = f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {{0, 0}} end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local live = 0
  for _, cid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    local status = redis.call('HGET', ARGV[3] .. cid, 'status')
    if status and not ({{{LUA_FINAL_STATUSES}}})[status] then live = live + 1 end
  end
  if live >= limit then return {{2, live}} end
end
local split = 4
while ARGV[split] ~= "" do split = split + 2 end
redis.call('HSET', KEYS[1], unpack(ARGV, split + 1))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
local ev = {{unpack(ARGV, 4, split - 1)}}
redis.call('XADD', KEYS[4], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', unpack(ev))
redis.call('XADD', KEYS[5], 'MAXLEN', '~', {CAMPAIGN_EVENTS_MAXLEN}, '*', unpack(ev))
return {{1, 0}}
"""



class CampaignStore(StoreBase):
    """Campaign records (part of :class:`~.store.StateStore`)."""

    _create_campaign: Any  # the registered script above

    def create_campaign(self, campaign_id: str, *, edge_id: str, owner: str,
                        config: dict[str, Any], spectral_axis: NDArray[Any] | None,
                        max_live_per_edge: int = 0) -> bool:
        """Create the campaign; False if the id exists already (nothing is changed). With
        ``max_live_per_edge`` > 0, raises :class:`CampaignLimitError` when ``edge_id`` runs
        that many campaigns not yet over: checked and created in one Lua step, so gateways
        creating at once cannot pass the limit together."""
        now = time.time()
        fields: dict[str, Any] = {
            "campaign_id": campaign_id, "edge_id": edge_id, "owner": owner,
            "status": CampaignStatus.CREATED.value, "config": dumps(config),
            "model_version": 0, "n_measured": 0, "created": now, "updated": now, "stats": "{}",
            "budget_points": int((config.get("budget") or {}).get("points") or 0),
        }
        if spectral_axis is not None:
            fields.update(array_fields("axis", np.asarray(spectral_axis)))
        event: dict[str, Any] = {"campaign": campaign_id, "kind": "campaign_created", "time": now,
                 "data": dumps({"edge_id": edge_id, "owner": owner})}
        created, live = self._create_campaign(
            keys=[self.ckey(campaign_id), self.key("campaigns"),
                  self.key("edge", edge_id, "campaigns"), self.key("events"),
                  self.ckey(campaign_id, "events")],
            args=[campaign_id, max_live_per_edge, self.key("campaign", ""), *flat_pairs(event), "",
                  *flat_pairs(fields)])
        if created == 2:
            raise CampaignLimitError(edge_id, int(live), max_live_per_edge)
        return bool(created)

    def get_campaign(self, campaign_id: str) -> CampaignRecord | None:
        if not valid_id(campaign_id):
            return None
        f = self.r.hgetall(self.ckey(campaign_id))
        if not f:
            return None
        return CampaignRecord(
            campaign_id=text(f, "campaign_id"), edge_id=text(f, "edge_id"),
            owner=text(f, "owner"), status=text(f, "status"),
            config=loads(f.get(b"config"), {}), model_version=int(f.get(b"model_version", 0)),
            n_measured=int(f.get(b"n_measured", 0)), created=float(f.get(b"created", 0)),
            updated=float(f.get(b"updated", 0)), stats=loads(f.get(b"stats"), {}))

    def require_campaign(self, campaign_id: str) -> CampaignRecord:
        record = self.get_campaign(campaign_id)
        if record is None:
            raise StateError(f"unknown campaign {campaign_id!r}")
        return record

    def campaign_ids(self) -> list[str]:
        return sorted(x.decode() for x in self.r.smembers(self.key("campaigns")))

    def list_campaigns(self) -> list[CampaignRecord]:
        return [c for cid in self.campaign_ids() if (c := self.get_campaign(cid)) is not None]



    def transition(self, campaign_id: str, event: str, **data: Any) -> CampaignStatus:
        """Move the campaign's status by ``event`` (protocol.lifecycle), compare-and-set:
        concurrent writers (gateways, workers, the monitor) never undo each other's move.
        Raises :class:`~protocol.lifecycle.LifecycleError` (nothing changed) if the current
        status does not allow ``event``, :class:`StateError` for an unknown campaign."""
        ckey = self.ckey(campaign_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(ckey)
                    current = pipe.hget(ckey, "status")
                    if current is None:
                        raise StateError(f"no campaign {campaign_id!r}")
                    new = next_status(current.decode(), event)
                    pipe.multi()
                    pipe.hset(ckey, mapping={"status": new.value, "updated": time.time()})
                    self._event(pipe, campaign_id, "status",
                                {"status": new.value, "event": event, **data})
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def try_transition(self, campaign_id: str, event: str, **data: Any) -> bool:
        """:meth:`transition`, False instead of an error when the status does not allow it."""
        try:
            self.transition(campaign_id, event, **data)
        except LifecycleError:
            return False
        return True

    def update_config(self, campaign_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the campaign config (one transaction, with its ``config``
        event); return the result."""
        return self._merge_json(campaign_id, "config", changes, event="config")

    def update_stats(self, campaign_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the campaign's stats (one transaction): writers of
        different fields (gateways: grid, waiting; the worker: control_cursor) never
        overwrite each other with a stale copy. Returns the merged stats."""
        return self._merge_json(campaign_id, "stats", changes)

    def _merge_json(self, campaign_id: str, field: str, changes: dict[str, Any],
                    event: str | None = None) -> dict[str, Any]:
        """Compare-and-set merge of ``changes`` into the record's JSON ``field``; with
        ``event``, the record's ``updated`` time and that event in the same transaction."""
        ckey = self.ckey(campaign_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(ckey)
                    merged = loads(pipe.hget(ckey, field), {})
                    merged.update(changes)
                    pipe.multi()
                    if event is None:
                        pipe.hset(ckey, field, dumps(merged))
                    else:
                        pipe.hset(ckey, mapping={field: dumps(merged), "updated": time.time()})
                        self._event(pipe, campaign_id, event, changes)
                    pipe.execute()
                    return dict(merged)
                except redis.WatchError:
                    continue
