"""The run's budgets (docs/edge.md, "The loop"): points (campaign-wide, counting points measured
by earlier runs on the spool), time (this run) and dose (when the instrument reports one per
point). Reaching one stops the run cleanly."""

from __future__ import annotations

from edge_agent.config import EdgeConfig


class Budgets:
    """What the run may still spend, checked before each point.

    Args:
        config: ``max_points``, ``budget_s`` and ``max_dose`` (each ``None``: no limit).
        dose_per_point: the instrument's dose per spectrum (``None``: not reported).
        started: when the run started (``time.monotonic()``).
    """

    def __init__(self, config: EdgeConfig, dose_per_point: float | None, started: float) -> None:
        self.config = config
        self.dose_per_point = dose_per_point
        self.started = started
        self.dose_used = 0.0

    def spent(self, measured: int, now: float) -> str:
        """Why no further point may be measured (``""``: it may), ``measured`` points so far."""
        cfg, per = self.config, self.dose_per_point
        if cfg.max_points is not None and measured >= cfg.max_points:
            return f"point budget reached ({cfg.max_points} points)"
        if cfg.budget_s is not None and now - self.started >= cfg.budget_s:
            return f"time budget reached ({cfg.budget_s:g} s)"
        if cfg.max_dose is not None and per is not None and self.dose_used + per > cfg.max_dose:
            return f"dose budget reached ({self.dose_used:g} of {cfg.max_dose:g})"
        return ""

    def measured_one(self) -> None:
        if self.dose_per_point is not None:
            self.dose_used += self.dose_per_point
