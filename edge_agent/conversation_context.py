"""All of the agent a :class:`~edge_agent.conversation.Conversation` may use, and what it does
with the plans and controls the planner sends (they act on the agent's side only)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

import protocol as p
from edge_agent.commands import Verdict
from edge_agent.config import EdgeConfig
from edge_agent.delivery import Outbox
from edge_agent.instruments.base import InstrumentInfo
from edge_agent.selection import PointPicker
from edge_agent.spool import Spool
from edge_agent.state import RunState
from protocol.lifecycle import FINAL, CampaignStatus

log = logging.getLogger(__name__)
#: Campaign statuses (sent in every plan) on which the edge finishes cleanly.
PLAN_DONE = frozenset({*FINAL, CampaignStatus.STOPPING})


class FailFn(Protocol):
    def __call__(self, reason: str, code: str = "") -> None: ...


@dataclass(frozen=True)
class ConversationContext:
    """All of the agent a conversation may use.

    Attributes:
        config: the run's configuration.
        info: what the instrument reports (sent in ``hello``).
        spectral_axis: sent in ``campaign_start`` when the instrument knows it.
        spool: the durable spool (sequence numbers, measurements, campaign marks).
        outbox: which spooled measurements are due, in flight or acknowledged.
        picker: where to measure next (plans go in, counts come out).
        state: the run state (reported in heartbeats; a finished plan stops it).
        apply_control: applies a planner's control ``(action, args, user)``.
        vetoes: every veto region the spool holds for this campaign.
        fail: ends the run on a fatal error ``(reason, planner error code or "")``.
    """

    config: EdgeConfig
    info: InstrumentInfo
    spectral_axis: npt.NDArray[np.float64] | None
    spool: Spool
    outbox: Outbox
    picker: PointPicker
    state: RunState
    apply_control: Callable[[str, dict[str, Any], str], Verdict]
    vetoes: Callable[[], list[tuple[int, int, int, int]]]
    fail: FailFn

    def heartbeat(self) -> p.Heartbeat:
        """The run's state and delivery counts, for the planner."""
        stats = {"measured": len(self.picker.measured), "pending": self.outbox.pending,
                 "acked": self.outbox.acked, "plan_version": self.picker.plan_version}
        return p.Heartbeat(self.state.state.value, self.config.campaign, stats)

    def take_plan(self, plan: p.Plan) -> p.Error | None:
        """Offer ``plan`` to the point picker and stop on a finished campaign; the error to
        answer it with (another campaign's plan, points outside the field of view), if any."""
        campaign = self.config.campaign
        if plan.campaign_id != campaign:
            return p.Error(p.ErrorCode.BAD_FIELD.value,
                           f"plan is for campaign {plan.campaign_id!r}, this edge runs "
                           f"{campaign!r}", {"field": "campaign_id"})
        verdict = self.picker.offer_plan(plan.model_version, plan.points)
        if not verdict.used:
            log.debug("plan ignored: %s", verdict.reason)
        refusal = None
        if verdict.out_of_bounds:
            shape = self.info.grid_shape
            log.warning("refused %d point(s) of plan %d outside the %d x %d field of view: %s",
                        len(verdict.out_of_bounds), plan.model_version, *shape,
                        verdict.out_of_bounds[:10])
            refusal = p.Error(p.ErrorCode.OUT_OF_BOUNDS.value,
                              f"{len(verdict.out_of_bounds)} plan point(s) outside the "
                              f"{shape[0]} x {shape[1]} grid were refused",
                              {"points": [list(pt) for pt in verdict.out_of_bounds[:100]],
                               "model_version": plan.model_version, "grid": list(shape)})
        if plan.status in PLAN_DONE and self.state.can("stop"):
            self.state.fire("stop", f"planner reports the campaign {plan.status}")
        return refusal

    def take_control(self, header: p.Header, control: p.Control) -> p.Ack:
        """Apply a planner's control; the ack that answers it (accepted or refused)."""
        if control.campaign_id != self.config.campaign:
            ok, detail = False, f"this edge runs campaign {self.config.campaign!r}"
        else:
            verdict = self.apply_control(control.action, control.args, control.user)
            ok, detail = verdict.accepted, verdict.detail
        return p.Ack(header.seq, "accepted" if ok else "refused", detail)
