"""A campaign's lifecycle: the one owner of its status words and of the moves between them.

The planner keeps a campaign's status (in Redis) and sends it in every ``plan``; the edge,
the gateway, the campaign worker and the monitor all read these words from here
(docs/protocol.md, "Campaign statuses")::

    created --scan--> running <--pause/resume--> paused
    created|running|paused --stop--> stopping --finish--> finished
    running|paused --finish--> finished          (budget reached, or the edge said bye)
    any live status --abort--> aborted,  --fail--> failed

``finished``, ``aborted`` and ``failed`` are final: nothing leaves them, and the planner
refuses new measurements for them (``campaign_ended``). A transition the current status
does not allow raises :class:`LifecycleError` and changes nothing.
"""

from __future__ import annotations

from enum import Enum

from .errors import ErrorCode, ProtocolError

__all__ = ["FINAL", "LIVE", "CampaignStatus", "LifecycleError", "is_final", "next_status"]


class CampaignStatus(str, Enum):
    CREATED = "created"  # campaign_start stored; no scan yet (no worker, no plan)
    RUNNING = "running"  # scanned; measuring and planning
    PAUSED = "paused"  # the operator paused: the edge measures nothing, the model waits
    STOPPING = "stopping"  # finish cleanly: measurements in flight complete, then finished
    FINISHED = "finished"  # budget reached, stopped, or the edge said bye
    ABORTED = "aborted"  # stopped now by an operator or the edge
    FAILED = "failed"  # the planner cannot go on (the reason is in the status event)


S = CampaignStatus

#: Statuses a campaign never leaves.
FINAL = frozenset({S.FINISHED, S.ABORTED, S.FAILED})
LIVE = frozenset(S) - FINAL

_LIVE_TO: dict[str, CampaignStatus] = {"abort": S.ABORTED, "fail": S.FAILED}

#: status -> {event: new status}
TRANSITIONS: dict[CampaignStatus, dict[str, CampaignStatus]] = {
    S.CREATED: {"scan": S.RUNNING, "stop": S.FINISHED, "finish": S.FINISHED, **_LIVE_TO},
    S.RUNNING: {"pause": S.PAUSED, "stop": S.STOPPING, "finish": S.FINISHED, **_LIVE_TO},
    S.PAUSED: {"resume": S.RUNNING, "stop": S.STOPPING, "finish": S.FINISHED, **_LIVE_TO},
    S.STOPPING: {"finish": S.FINISHED, **_LIVE_TO},
    S.FINISHED: {}, S.ABORTED: {}, S.FAILED: {},
}

#: Operator control actions that move the lifecycle, and the event each one is.
CONTROL_EVENTS = {"pause": "pause", "resume": "resume", "stop": "stop", "abort": "abort"}


class LifecycleError(ProtocolError):
    """A transition the campaign's current status does not allow."""

    code = ErrorCode.CONFLICT

    def __init__(self, status: CampaignStatus, event: str) -> None:
        allowed = sorted(TRANSITIONS[status])
        super().__init__(f"a {status.value} campaign cannot {event}"
                         + (f" (it can: {', '.join(allowed)})" if allowed else " (it is over)"),
                         status=status.value, event=event)
        self.status = status
        self.event = event


def parse_status(word: str) -> CampaignStatus:
    """The status named ``word``; a word outside the lifecycle is a :class:`ValueError`."""
    return CampaignStatus(word)


def next_status(status: CampaignStatus | str, event: str) -> CampaignStatus:
    """The status after ``event``, or :class:`LifecycleError` (unknown events too)."""
    current = CampaignStatus(status)
    new = TRANSITIONS[current].get(event)
    if new is None:
        raise LifecycleError(current, event)
    return new


def is_final(status: CampaignStatus | str) -> bool:
    return CampaignStatus(status) in FINAL
