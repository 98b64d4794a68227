"""Fit reports of the DKL model (its settings, :class:`DKLConfig`, live in the torch-free
:mod:`planner_cluster.campaign.model_settings`, so a campaign's settings validate without torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from planner_cluster.campaign.model_settings import DKLConfig

__all__ = ["DKLConfig", "FitReport"]


@dataclass(frozen=True)
class FitReport:
    """What one fit did.

    Attributes:
        version: model version after this fit (1 for the first).
        n_train: training points.
        iterations: Adam steps actually run (last attempt).
        warm: whether the kept model started from the previous weights.
        attempts: attempts used (1 unless a fit failed).
        loss: final training loss (negative log marginal likelihood per point + priors / n).
        seconds: wall time of the fit.
        hyperparameters: lengthscale(s), outputscale, noise (standardised units).
        restart: what a scheduled cold restart did: ``""`` (none), ``"kept cold"`` or
            ``"kept warm"`` (the continued model had the better marginal likelihood).
    """

    version: int
    n_train: int
    iterations: int
    warm: bool
    attempts: int
    loss: float
    seconds: float
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    restart: str = ""
