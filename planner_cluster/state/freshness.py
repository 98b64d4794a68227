"""Plan freshness: how long the newest measurements have waited for a plan that uses them.

The one definition, used by the campaign worker (which campaign trains next), the monitor's
metrics, its campaign page and API, and the benchmarks:

    **plan data age** = 0 when the campaign's newest plan was made with every stored
    measurement; otherwise the time since the oldest measurement that plan has not seen
    was received.

It grows while new data waits for a plan (queued for a training slot, or in a fit) and drops
to 0 when a plan covers it. A plan says what it saw with ``data_cursor`` in its stats: the
stream id of the last measurement it was made with (the gateway's seed plan saw none).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .records import CampaignRecord, PlanRecord
from .store import StateStore

__all__ = ["CURSOR", "PlanFreshness", "data_age", "freshness_of", "plan_freshness"]

#: The plan stats key naming the last measurement a plan was made with.
CURSOR = "data_cursor"


def data_age(now: float, oldest_unplanned: float | None) -> float:
    """The plan data age at ``now``, given when the oldest measurement the plan has not seen
    was received (None: it has seen them all)."""
    return 0.0 if oldest_unplanned is None else max(0.0, now - oldest_unplanned)


@dataclass(frozen=True)
class PlanFreshness:
    """How current a campaign's newest plan is.

    Attributes:
        model_version / created: the plan's.
        n_observed: measurements the plan was made with; ``lag``: stored ones it has not seen.
        n_train: scored measurements behind its model.
        oldest_unplanned: when the oldest measurement it has not seen was received (None:
            none).
        data_age_s: the plan data age at the time it was read.
    """

    model_version: int
    created: float
    n_observed: int
    n_train: int
    lag: int
    oldest_unplanned: float | None
    data_age_s: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {"model_version": self.model_version, "created": self.created,
                "n_observed": self.n_observed, "n_train": self.n_train, "lag": self.lag,
                "oldest_unplanned": self.oldest_unplanned, "data_age_s": self.data_age_s}


def plan_freshness(store: StateStore, record: CampaignRecord,
                   now: float | None = None) -> PlanFreshness | None:
    """The freshness of ``record``'s newest plan (None before any plan)."""
    plan = store.get_plan(record.campaign_id)
    return None if plan is None else freshness_of(store, record, plan, now)


def freshness_of(store: StateStore, record: CampaignRecord, plan: PlanRecord,
                 now: float | None = None) -> PlanFreshness:
    """The freshness of ``plan``, read already: one stream read when it is behind."""
    seen = int(plan.stats.get("n_observed", 0))
    lag = max(0, record.n_measured - seen)
    oldest = None
    if lag:
        oldest = _oldest_unplanned(store, record.campaign_id, plan, seen)
    at = time.time() if now is None else now
    return PlanFreshness(plan.model_version, plan.created, seen,
                         int(plan.stats.get("n_train", 0)), lag if oldest is not None else 0,
                         oldest, data_age(at, oldest))


def _oldest_unplanned(store: StateStore, campaign_id: str, plan: PlanRecord,
                      seen: int) -> float | None:
    cursor = plan.stats.get(CURSOR)
    if cursor or not seen:
        first = store.read_measurements(campaign_id, str(cursor or "0-0"), count=1)
    else:  # a plan written before plans named their cursor: count along the stream
        first = store.read_measurements(campaign_id, count=seen + 1)[seen:]
    return first[0].received if first else None
