"""Training slots on one node: who may fit a model now, and who is next (no I/O, no Ray).

At most ``slots`` campaigns hold a slot at once. A free slot goes to the waiting campaign
whose plan is most stale: the one whose oldest unplanned measurement arrived first (see
:mod:`planner_cluster.state.freshness`), not the one that asked first, so a campaign that
just fitted cannot crowd out one that has been waiting. A hold is a lease: its holder renews
it while it trains, and a holder that stops renewing (its process died) loses the slot after
``lease_s``. Campaigns are the keys: a restarted worker that asks again replaces its dead
predecessor's hold or place in the queue at once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Grant", "SlotQueue"]


@dataclass(frozen=True)
class Grant:
    """One slot handed out: to ``campaign`` (its request ``token``), how stale its plan was,
    and how stale the most stale waiter left behind was (None: nobody)."""

    campaign: str
    token: str
    waiting_since: float
    granted_at: float
    next_waiting_since: float | None


@dataclass
class _Hold:
    token: str
    expires: float


@dataclass(frozen=True)
class _Wait:
    token: str
    waiting_since: float
    asked: int  # ties on staleness: first asked, first served


class SlotQueue:
    """The slots of one node and the queue for them.

    Args:
        slots: fits that may run at once (at least 1).
        lease_s: a hold not renewed for this long is given back.
    """

    def __init__(self, slots: int, lease_s: float) -> None:
        self.slots = max(1, int(slots))
        self.lease_s = lease_s
        self.holders: dict[str, _Hold] = {}
        self.waiters: dict[str, _Wait] = {}
        self._asked = 0

    def ask(self, campaign: str, token: str, waiting_since: float) -> str | None:
        """Queue ``campaign`` for a slot; returns the token this request replaces (a hold or
        a place in the queue of an earlier request of the same campaign), if any."""
        old = self.holders.pop(campaign, None) or self.waiters.pop(campaign, None)
        self._asked += 1
        self.waiters[campaign] = _Wait(token, waiting_since, self._asked)
        return old.token if old is not None and old.token != token else None

    def grant(self, now: float) -> list[Grant]:
        """Give back expired holds, then fill the free slots, most stale first."""
        for campaign, hold in list(self.holders.items()):
            if hold.expires <= now:
                del self.holders[campaign]
        order = sorted(self.waiters.items(), key=lambda kv: (kv[1].waiting_since, kv[1].asked))
        grants = []
        while order and len(self.holders) < self.slots:
            campaign, wait = order.pop(0)
            del self.waiters[campaign]
            self.holders[campaign] = _Hold(wait.token, now + self.lease_s)
            grants.append(Grant(campaign, wait.token, wait.waiting_since, now,
                                order[0][1].waiting_since if order else None))
        return grants

    def renew(self, campaign: str, token: str, now: float) -> bool:
        """Extend a hold; False when ``token`` holds no slot (expired or replaced)."""
        hold = self.holders.get(campaign)
        if hold is None or hold.token != token:
            return False
        hold.expires = now + self.lease_s
        return True

    def leave(self, campaign: str, token: str) -> bool:
        """Give back a slot, or leave the queue; False when ``token`` had neither."""
        for table in (self.holders, self.waiters):
            entry = table.get(campaign)
            if entry is not None and entry.token == token:
                del table[campaign]
                return True
        return False
