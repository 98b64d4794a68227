"""The adapter between Redis and a campaign's :class:`~planner_cluster.planning.PlanningCore`
inside the campaign worker: measurements and controls in; plans, predictions and events out.
No decision is made here. Each plan names the last measurement it used (``data_cursor``),
from which its freshness is read (:mod:`planner_cluster.state.freshness`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..campaign import CampaignSettings
from ..campaign.settings import EXPLORATION_PARAM
from ..errors import CampaignConfigError
from ..planning import PlanningCore
from ..planning.vetoes import veto_points
from ..state import PlanRecord, StateStore, StoredMeasurement
from ..state.freshness import CURSOR

log = logging.getLogger(__name__)


class CampaignPlanner:
    """The adapter between Redis and the campaign's :class:`PlanningCore`: measurements and
    controls in, plans, predictions and events out. No decision is made here."""

    def __init__(self, store: StateStore, campaign_id: str, core: PlanningCore,
                 vetoed: set[tuple[int, int]]) -> None:
        self.store = store
        self.campaign_id = campaign_id
        self.core = core
        self.vetoed = set(vetoed)
        self.dirty = True  # something changed since the last plan
        self.cursor = "0-0"  # stream id of the last measurement added
        self.waiting_since: float | None = None  # oldest measurement no plan has used yet

    @property
    def version(self) -> int:
        return self.core.version

    @property
    def n_observed(self) -> int:
        return self.core.n_observed

    def add(self, measurements: list[StoredMeasurement]) -> None:
        if not measurements:
            return
        self.cursor = measurements[-1].stream_id
        if self.waiting_since is None:
            self.waiting_since = measurements[0].received
        seen = self.core.n_observed
        result = self.core.observe([[m.row, m.col] for m in measurements],
                                   [m.spectrum for m in measurements])
        if result.reasons:
            log.warning("campaign %s: %s", self.campaign_id, "; ".join(result.reasons))
            self.store.publish_event(self.campaign_id, "scalarizer_error", {
                "scalarizer": self.core.settings.scalarizer, "reasons": result.reasons,
                "unscored": result.unscored[:20].tolist(),
                "skipped": result.skipped[:20].tolist()})
        self.dirty = self.dirty or self.core.n_observed > seen

    def apply_control(self, control: dict[str, Any]) -> None:
        action, args = control.get("action"), control.get("args", {}) or {}
        changes: dict[str, Any] = {}
        policy = self.core.settings.acquisition
        if action == "set_scalarizer":
            changes["scalarizer"] = {"name": args["name"], "params": args.get("params", {})}
        elif action == "set_acquisition":
            changes["acquisition"] = {"name": args["name"],
                                      "maximize": args.get("maximize", policy.maximize),
                                      "params": args.get("params", {})}
        elif action == "set_exploration":
            param = EXPLORATION_PARAM.get(policy.name)  # ucb: beta; ei/pi: xi; others: none
            if param is None:
                raise CampaignConfigError(f"{policy.name} has no exploration weight")
            changes["acquisition"] = {"name": policy.name, "maximize": policy.maximize,
                                      "params": {**policy.params, param: float(args["weight"])}}
        elif action == "veto":
            self.vetoed |= veto_points(args, self.core.candidates.grid_shape)
            self.dirty = True
            self._replanned(control, {}, {})
            return
        else:
            return
        record = self.store.require_campaign(self.campaign_id)
        new = CampaignSettings.from_config({**record.config, **changes})  # refuse before saving
        if action == "set_scalarizer":
            self.core.set_objective(new.scalarizer, new.scalarizer_params)
        else:
            self.core.set_policy(new.acquisition)
        self.store.update_config(self.campaign_id, changes)
        self.dirty = True
        self._replanned(control, changes, {k: record.config[k] for k in changes
                                           if k in record.config})
        self.store.publish_event(self.campaign_id, "control_result", {
            "control_id": control.get("control_id", ""), "status": "accepted",
            "detail": "applied by the planner", "by": "planner"})

    def _replanned(self, control: dict[str, Any], changes: dict[str, Any],
                   previous: dict[str, Any]) -> None:
        """Record that ``control`` is applied: it takes effect at the next plan (the archive
        and ``autopilot replay`` read this event, docs/archive.md)."""
        self.store.publish_event(self.campaign_id, "replanned", {
            "reason": control.get("action"), "control_id": control.get("control_id", ""),
            "changes": changes, "previous": previous, "model_version": self.core.version})

    def replan(self) -> None:
        vetoed = sorted(self.vetoed)
        decision = self.core.plan(exclude=vetoed or None)
        stats: dict[str, Any] = {**decision.stats(), "n_observed": decision.n_observed,
                                 CURSOR: self.cursor}
        if decision.kind == "model":
            assert decision.mean is not None and decision.variance is not None
            stats["best"] = self.core.best_value()
            self.store.put_predictions(self.campaign_id, decision.version, decision.mean,
                                       decision.variance)
        self.store.put_plan(self.campaign_id, PlanRecord(
            decision.version, decision.points.astype(np.int32),
            decision.scores.astype(np.float32), decision.acquisition, time.time(), stats))
        self.dirty = False
        self.waiting_since = None
