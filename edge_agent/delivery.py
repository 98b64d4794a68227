"""Delivery bookkeeping: which spooled measurements are in flight, which are due (again), and
what each planner error code means for the message it names (docs/protocol.md sections 8-9).

Measurements are pipelined: up to ``window`` are sent and unacknowledged at once, none waits
for the previous ack. One not acked within ``resend_after_s`` is sent again with its original
(session, seq), waiting twice as long after each resend (up to 8x); on a reconnect everything
in flight is due again.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import Enum

from edge_agent.spool import Spool
from protocol import ErrorCode

log = logging.getLogger(__name__)


class Reaction(str, Enum):
    """What the edge does about an ``error`` reply (docs/protocol.md section 8)."""

    STOP = "stop"  # stop with a message
    RESEND_NOW = "resend_now"  # a new message (new time) with the same seq
    RESEND_LATER = "resend_later"  # leave it for the resend timer
    HELLO_AGAIN = "hello_again"  # say hello, then resend
    START_CAMPAIGN = "start_campaign"  # send campaign_start, then resend
    DROP = "drop"  # resending is pointless: log, and keep a measurement aside
    SEND_SCAN = "send_scan"  # the planner has no scan: send it, then resend (spec 1.1)
    CAMPAIGN_ENDED = "campaign_ended"  # keep the measurement aside and finish (spec 1.1)


_REACTIONS: dict[ErrorCode, Reaction] = {
    ErrorCode.UNSUPPORTED_VERSION: Reaction.STOP,
    ErrorCode.MISSING_SIGNATURE: Reaction.STOP,
    ErrorCode.BAD_SIGNATURE: Reaction.STOP,
    ErrorCode.FORBIDDEN: Reaction.STOP,
    ErrorCode.CONFLICT: Reaction.STOP,
    ErrorCode.REPLAYED: Reaction.RESEND_NOW,
    ErrorCode.STALE: Reaction.RESEND_NOW,
    ErrorCode.NOT_WELCOMED: Reaction.HELLO_AGAIN,
    ErrorCode.UNKNOWN_CAMPAIGN: Reaction.START_CAMPAIGN,
    ErrorCode.UNAVAILABLE: Reaction.RESEND_LATER,
    ErrorCode.INTERNAL: Reaction.RESEND_LATER,
    ErrorCode.NO_CAPACITY: Reaction.RESEND_LATER,
    ErrorCode.SCAN_REQUIRED: Reaction.SEND_SCAN,
    ErrorCode.CAMPAIGN_ENDED: Reaction.CAMPAIGN_ENDED,
}


def reaction(code: str) -> Reaction:
    """The reaction to error ``code``; unknown codes (newer planners) are dropped and logged."""
    try:
        return _REACTIONS.get(ErrorCode(code), Reaction.DROP)
    except ValueError:
        return Reaction.DROP


@dataclass(frozen=True)
class Sent:
    """What a sent message was, found again from an ``error``'s ``parent_id``."""

    kind: str
    seq: int
    key: str = ""  # control_id for forwarded controls


class SentLog:
    """The last ``capacity`` sent messages by msg_id (bounded memory)."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._by_id: OrderedDict[str, Sent] = OrderedDict()

    def add(self, msg_id: str, sent: Sent) -> None:
        self._by_id[msg_id] = sent
        while len(self._by_id) > self.capacity:
            self._by_id.popitem(last=False)

    def get(self, msg_id: str) -> Sent | None:
        return self._by_id.get(msg_id)


class Outbox:
    """In-flight tracking over the spool (which stays the single source of truth)."""

    def __init__(self, spool: Spool, *, window: int, resend_after_s: float) -> None:
        self.spool = spool
        self.window = window
        self.resend_after_s = resend_after_s
        self.inflight: dict[int, float] = {}
        self.attempts: dict[int, int] = {}  # sends on this link, per in-flight seq
        self.unsent: deque[int] = deque(spool.unacked_seqs())
        self.acked = 0
        self.duplicates = 0
        self.resends = 0
        self.rejected = 0

    @property
    def pending(self) -> int:
        """Measurements not yet acknowledged (in flight or waiting)."""
        return len(self.inflight) + len(self.unsent)

    def added(self, seq: int) -> None:
        self.unsent.append(seq)

    def due(self, now: float) -> list[int]:
        """Seqs to send now: timed-out in-flight ones, then waiting ones while fewer than
        ``window`` are in flight."""
        out = [seq for seq, at in self.inflight.items() if now - at >= self.timeout(seq)]
        room = max(0, self.window - len(self.inflight))
        out.extend(itertools.islice(self.unsent, room))
        return out

    def timeout(self, seq: int) -> float:
        """How long to wait for the ack of ``seq`` before sending it again: doubled after each
        resend (up to 8x), so a planner slowed by load is not buried under resends."""
        return self.resend_after_s * 2.0 ** min(max(self.attempts.get(seq, 1) - 1, 0), 3)

    def sent(self, seq: int, now: float) -> None:
        if seq in self.inflight:
            self.resends += 1
        else:
            self.unsent.remove(seq)  # it is at the front: O(1) in practice
        self.inflight[seq] = now
        self.attempts[seq] = self.attempts.get(seq, 0) + 1

    def requeue_all(self) -> None:
        """After a reconnect: everything in flight is sent again, oldest first (the new link
        starts the backoff afresh)."""
        self.unsent.extendleft(sorted(self.inflight, reverse=True))
        self.inflight.clear()
        self.attempts.clear()

    def resend_now(self, seq: int) -> None:
        if seq in self.inflight:
            self.inflight[seq] = float("-inf")

    def ack(self, seqs: list[int], duplicates: int = 0) -> int:
        """Measurements stored by the planner: forget them and delete them from the spool."""
        mine = [s for s in seqs if s in self.inflight or s in self.unsent]
        for seq in mine:
            self.attempts.pop(seq, None)
            if self.inflight.pop(seq, None) is None:
                self.unsent.remove(seq)
        removed = self.spool.ack(mine)
        self.acked += removed
        self.duplicates += duplicates
        return removed

    def reject(self, seq: int, code: str, reason: str) -> None:
        """Keep a refused measurement aside in the spool (``rejected``), never resend it."""
        self.inflight.pop(seq, None)
        self.attempts.pop(seq, None)
        if seq in self.unsent:
            self.unsent.remove(seq)
        if self.spool.reject(seq, code, reason):
            self.rejected += 1
            log.error("measurement seq %d refused by the planner [%s]: %s; kept in the spool's "
                      "rejected table", seq, code, reason)
