"""A plan before the model: the seed plan, written the moment a scan is stored.

The campaign's worker needs a Ray actor, torch and its model before its first plan (seconds
with Ray cold). The seed plan needs none of them: it is the planning core's own space-filling
order (:func:`planner_cluster.planning.seeds.seed_plan`, numpy only), so the gateway computes
it on a background thread and writes it as the model-version-0 plan; the ``plan`` event then
pushes it to the edge. The worker's first plan is the same order less what was measured
since, so it continues the seed plan and never contradicts it. The write is
first-plan-only: a worker that was faster wins, nothing is replaced, and a campaign that
ended meanwhile (an abort during the computation) gets none.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from ..campaign import CampaignSettings
from ..errors import PlannerError
from ..planning.seeds import seed_plan
from ..state import PlanRecord, StateStore

log = logging.getLogger(__name__)


def write_seed_plan(store: StateStore, campaign_id: str, config: dict[str, Any],
                    image: NDArray[Any]) -> bool:
    """Compute the campaign's seed plan and write it unless it has a plan; returns whether
    it was written. Errors are logged (the worker still plans the campaign)."""
    try:
        t0 = time.perf_counter()
        points = seed_plan(CampaignSettings.from_config(config), image)
        seconds = time.perf_counter() - t0
        written = store.put_plan(campaign_id, PlanRecord(
            0, points.astype(np.int32), np.zeros(len(points), np.float32), "seed",
            time.time(), {"fit_s": 0.0, "rank_s": round(seconds, 4), "n_train": 0,
                          "reason": "seed", "n_observed": 0, "by": "gateway"}), first=True)
    except (PlannerError, ValueError, redis.RedisError) as exc:
        log.warning("campaign %s: no seed plan from the gateway (%s); the worker makes it",
                    campaign_id, exc)
        return False
    except Exception:  # a bug: the worker still plans the campaign
        log.exception("campaign %s: seed plan failed", campaign_id)
        return False
    log.info("campaign %s: seed plan of %d points in %.3f s (%s)", campaign_id, len(points),
             seconds, "written" if written else "the worker's came first")
    return written
