"""Records of what the planning core decided, and why: one :class:`Decision` per plan."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from planner_cluster.models import FitReport

__all__ = ["Decision", "Observation"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Observation:
    """What :meth:`PlanningCore.observe` did with a group of measurements.

    Attributes:
        added: measurements kept (scored or not).
        unscored: ``k x 2`` points whose spectrum the scalarizer could not score: kept
            (measured, re-scored if the objective changes) but not used for training.
        skipped: ``k x 2`` points refused outright (not a candidate, wrong spectrum length).
        reasons: one line per refusal or scoring failure, for the operator.
    """

    added: int
    unscored: IntArray
    skipped: IntArray
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Decision:
    """One plan and everything needed to explain and replay it.

    Attributes:
        version: model version the plan comes from (0: the seed plan, no model).
        kind: ``seed`` (space-filling, no model) or ``model``.
        reason: why it was made (``scan``, ``new data``, ``objective changed``,
            ``policy changed``, ``pending changed``).
        n_observed: measurements held when it was made (scored or not).
        n_train: measurements the model was trained on (0 for a seed plan).
        indices: ``q`` candidate indices, best first; points: ``q x 2`` their grid points.
        scores: ``q`` acquisition values at pick time (natural logs for ei and pi).
        acquisition: the acquisition's name (``seed`` for a seed plan).
        mean / variance / values: ``N`` posterior mean, variance and acquisition value at
            every candidate (None for a seed plan).
        fit: the fit this plan follows (None when the model was not refitted).
        fit_s / rank_s: seconds spent fitting and ranking.
    """

    version: int
    kind: str
    reason: str
    n_observed: int
    n_train: int
    indices: IntArray
    points: IntArray
    scores: FloatArray
    acquisition: str
    mean: FloatArray | None = None
    variance: FloatArray | None = None
    values: FloatArray | None = None
    fit: FitReport | None = None
    fit_s: float = 0.0
    rank_s: float = 0.0

    @property
    def loss(self) -> float:
        """Final training loss of the fit behind this plan (NaN when none)."""
        return float(self.fit.loss) if self.fit is not None else float("nan")

    def stats(self) -> dict[str, float | int | str]:
        """The figures a plan record carries (Redis, events, archives)."""
        out: dict[str, float | int | str] = {
            "fit_s": round(self.fit_s, 4), "rank_s": round(self.rank_s, 4),
            "n_train": self.n_train, "reason": self.reason}
        if self.fit is not None:
            out["loss"] = float(self.fit.loss)
            out["warm"] = int(self.fit.warm)
            if self.fit.restart:
                out["restart"] = self.fit.restart
        return out
