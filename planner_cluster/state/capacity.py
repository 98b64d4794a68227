"""The planner's capacity: active slots, claimed atomically by gateways sharing one Redis prefix.

A scanned campaign costs a worker (a Ray actor), so the planner holds at most
``max_active_campaigns`` of them. A gateway that takes a scan first claims the campaign a slot
in one Lua step (count the holders, add this one if there is room), so gateways, or one
gateway's threads, taking scans at once can never pass the limit together.

- ``P:capacity:active`` (sorted set, member campaign id, score the claim's time): the slots.
- ``P:capacity:adopted`` (string): set once the campaigns scanned before slots existed were
  adopted (a facility upgraded with campaigns running keeps counting them).

A slot is released by its campaign's status, the one truth: every claim first drops the holders
whose campaign is over (finished, aborted, failed) or gone. So every way a campaign ends frees
its slot with no hook of its own: the budget reached inside the measurement script, a stop or
an abort from any control, the idle reaper, a failed worker. Slots live in Redis, so a
restarted gateway or planner finds its campaigns still holding theirs. A holder still
``created`` is a scan being stored; if its gateway died there, the edge resends the scan (the
same campaign's claim is granted again) or the idle reaper aborts the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.lifecycle import LIVE, CampaignStatus

from .base import LUA_FINAL_STATUSES
from .store import StateStore

__all__ = ["ActiveSlots", "SlotClaim"]

_ADOPTED_WORDS = ", ".join(f"['{s.value}'] = true" for s in LIVE if s != CampaignStatus.CREATED)

# Drops the holders whose campaign is over or gone; adopts, once, every campaign scanned
# before slots existed. KEYS: slots, adopted flag, campaigns set. ARGV[1]: "PREFIX:campaign:".
_PRUNE = f"""
local function prune()
  if redis.call('EXISTS', KEYS[2]) == 0 then
    for _, cid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      local status = redis.call('HGET', ARGV[1] .. cid, 'status')
      if status and ({{{_ADOPTED_WORDS}}})[status] then
        redis.call('ZADD', KEYS[1], 'NX', 0, cid)
      end
    end
    redis.call('SET', KEYS[2], 1)
  end
  for _, cid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local status = redis.call('HGET', ARGV[1] .. cid, 'status')
    if not status or ({{{LUA_FINAL_STATUSES}}})[status] then redis.call('ZREM', KEYS[1], cid) end
  end
end
"""

# ARGV: "PREFIX:campaign:", campaign id, limit, now.
# Returns {1, holders} granted (held already, or room for it), {0, holders} full.
_CLAIM = _PRUNE + """
prune()
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return {1, redis.call('ZCARD', KEYS[1])}
end
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[3]) then return {0, held} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
return {1, held + 1}
"""

_HOLDERS = _PRUNE + """
prune()
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


@dataclass(frozen=True)
class SlotClaim:
    """The answer to a claim: ``granted``, and the slots held (this one included if granted)."""

    granted: bool
    active: int


class ActiveSlots:
    """The active-campaign slots under ``store``'s prefix."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        r: Any = store.r
        self._claim = r.register_script(_CLAIM)
        self._holders = r.register_script(_HOLDERS)

    def _keys(self) -> list[str]:
        return [self.store.key("capacity", "active"), self.store.key("capacity", "adopted"),
                self.store.key("campaigns")]

    def claim(self, campaign_id: str, limit: int, now: float) -> SlotClaim:
        """Give ``campaign_id`` a slot if it holds one already or fewer than ``limit`` live
        campaigns do; checked and taken in one atomic step."""
        granted, active = self._claim(
            keys=self._keys(), args=[self.store.key("campaign", ""), campaign_id, limit, now])
        return SlotClaim(bool(granted), int(active))

    def release(self, campaign_id: str) -> None:
        """Give the slot back now: the scan it was claimed for was not stored. (A campaign
        that ends needs no call: its final status frees the slot.)"""
        self.store.r.zrem(self.store.key("capacity", "active"), campaign_id)

    def holders(self) -> list[str]:
        """The campaigns holding a slot, oldest claim first."""
        return [cid.decode() for cid in self._holders(
            keys=self._keys(), args=[self.store.key("campaign", "")])]
