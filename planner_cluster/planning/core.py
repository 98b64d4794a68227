"""The planning core: the one place a campaign's decisions are made, with no I/O.

A live campaign (the Ray worker), an offline replay of an archive and every benchmark drive
this same object with the same settings::

    core = PlanningCore(settings, image, axis)      # candidates from the structural scan
    plan = core.plan()                              # a space-filling seed plan (no model)
    core.observe(points, spectra)                   # raw spectra in, scored by the scalarizer
    plan = core.plan(exclude=vetoed)                # fit when there is new data, then rank

Rules it owns: the first model waits for ``settings.seeds`` scored measurements (never a cold
fit on one point); a model is refitted only when its training data changed (a paused
campaign's model never drifts), after ``settings.batch`` new measurements; a spectrum the
scalarizer cannot score is kept and reported but never imputed; changing the objective
re-scores every raw spectrum and refits from fresh weights; changing the policy re-ranks
without refitting. Every plan is returned as a :class:`~.decisions.Decision` and kept in
:attr:`PlanningCore.decisions`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from planner_cluster.campaign import AcquisitionPolicy, CampaignSettings
from planner_cluster.candidates import CandidateSet, make_candidates
from planner_cluster.errors import CandidateError
from planner_cluster.learner import ActiveLearner
from planner_cluster.planning.decisions import Decision, Observation
from planner_cluster.planning.scoring import score_spectra
from planner_cluster.planning.seeds import seed_order

__all__ = ["PlanningCore"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PlanningCore:
    """One campaign's science state: candidates, raw spectra, scalars, model, decisions.

    Args:
        settings: the campaign's validated settings.
        image: the structural scan, ``H x W`` or ``H x W x C``.
        axis: the spectral axis (``L``) or None (then ``0..L-1``).
        device: torch device for the model.
        version_base: model versions continue from here (a restarted worker keeps counting).
    """

    def __init__(self, settings: CampaignSettings, image: npt.ArrayLike,
                 axis: npt.ArrayLike | None = None, *, device: str = "cpu",
                 version_base: int = 0) -> None:
        settings.validate()
        self.settings = replace(settings, model=replace(settings.model, device=device))
        self.candidates: CandidateSet = make_candidates(
            image, patch=settings.patch, stride=settings.stride, scale=settings.patch_scale,
            normalize=settings.normalize)
        self.axis = None if axis is None else np.asarray(axis, dtype=np.float64).reshape(-1)
        self.learner = ActiveLearner(self.candidates, model_config=self.settings.model,
                                     policy=settings.acquisition, ensemble=settings.ensemble)
        self.version_base = version_base
        self.decisions: list[Decision] = []
        # values per spectrum: the axis's length, else the first spectrum's (as the gateway)
        self.spectrum_length = None if self.axis is None else int(self.axis.size)
        self._indices: list[int] = []
        self._spectra: list[FloatArray] = []
        self._scalars: list[float] = []  # NaN where the scalarizer could not score
        self._fitted_on = 0  # scored measurements behind the current model
        self._refit = False  # the objective changed: next fit from fresh weights
        self._seed_order = seed_order(self.candidates, settings)  # the gateway's seed plan

    # ------------------------------------------------------------------ state

    @property
    def n_observed(self) -> int:
        """Measurements held (scored or not)."""
        return len(self._indices)

    @property
    def n_scored(self) -> int:
        """Measurements with a scalar (the model's training data)."""
        return len(self.learner.measured)

    @property
    def version(self) -> int:
        """Current model version (0 before the first model)."""
        return self.version_base + self.learner.model.version

    @property
    def scalars(self) -> FloatArray:
        """Every measurement's scalar in observation order (NaN: not scorable)."""
        return np.asarray(self._scalars, dtype=np.float64)

    @property
    def measured_indices(self) -> IntArray:
        """Candidate index of every measurement, in observation order."""
        return np.asarray(self._indices, dtype=np.int64)

    def best_value(self) -> float | None:
        """The best scalar so far (None before any)."""
        return self.learner.best_value() if self.n_scored else None

    @property
    def needs_fit(self) -> bool:
        """Whether :meth:`plan` would train a model now."""
        new = self.n_scored - self._fitted_on
        if self.n_scored < self.settings.seeds or self.n_scored == 0:
            return False
        if self.learner.model.version == 0 or self._refit:
            return True
        return new >= self.settings.batch or (new > 0 and self._fitted_on < self.settings.seeds)

    # ------------------------------------------------------------------ data

    def observe(self, points: npt.ArrayLike, spectra: Iterable[npt.ArrayLike]) -> Observation:
        """Add measured raw spectra at grid ``points`` (``m x 2``), scored by the campaign's
        scalarizer. Points that are not candidates, and spectra whose length differs from
        the campaign's, are skipped and reported."""
        pts = np.asarray(points, dtype=np.int64).reshape(-1, 2)
        rows = [np.asarray(s, dtype=np.float64).reshape(-1) for s in spectra]
        if len(rows) != len(pts):
            raise CandidateError(f"{len(pts)} points but {len(rows)} spectra")
        keep_idx, keep_rows, skipped = [], [], []
        why = {"not a candidate point": 0, f"not {self.spectrum_length} values": 0,
               "not finite": 0}
        for point, row in zip(pts.tolist(), rows, strict=True):
            index = self._candidate(point)
            if self.spectrum_length is None:
                self.spectrum_length = row.size
            problem = ("not a candidate point" if index is None else
                       f"not {self.spectrum_length} values" if row.size != self.spectrum_length
                       else "" if np.all(np.isfinite(row)) else "not finite")
            if problem or index is None:
                why[problem] += 1
                skipped.append(point)
                continue
            keep_idx.append(index)
            keep_rows.append(row)
        reasons = [f"{n} spectra skipped: {problem}" for problem, n in why.items() if n]
        values, failures = self._score(keep_rows)
        reasons += failures
        self._indices += keep_idx
        self._spectra += keep_rows
        self._scalars += values.tolist()
        good = np.isfinite(values)
        self.learner.observe(np.asarray(keep_idx, np.int64)[good], values[good])
        unscored = self.candidates.coords[np.asarray(keep_idx, np.int64)[~good]]
        return Observation(len(keep_idx), unscored.astype(np.int64),
                           np.asarray(skipped, np.int64).reshape(-1, 2), reasons)

    def set_objective(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        """Change the scalarizer: every raw spectrum is re-scored; the next plan refits."""
        changed = replace(self.settings, scalarizer=name, scalarizer_params=dict(params or {}))
        changed.validate()
        self.settings = changed
        values, _ = self._score(self._spectra)
        self._scalars = values.tolist()
        good = np.isfinite(values)
        self.learner.reset_observations(self.measured_indices[good], values[good])
        self._refit = True

    def set_policy(self, policy: AcquisitionPolicy) -> None:
        """Change the acquisition policy: the next plan re-ranks with the same model."""
        changed = replace(self.settings, acquisition=policy)
        changed.validate()
        self.settings = changed
        self.learner.policy = policy

    # ------------------------------------------------------------------ decisions

    def plan(self, exclude: npt.ArrayLike | None = None, reason: str = "") -> Decision:
        """The next plan: ``plan_size`` points, best first, never measured or in ``exclude``
        (``k x 2`` grid points: vetoed or pending). Seed points until the first model."""
        excluded = self._exclusions(exclude)
        if self.learner.model.version == 0 and not self.needs_fit:
            decision = self._seed_decision(excluded, reason or "seed")
        else:
            decision = self._model_decision(excluded, reason)
        self.decisions.append(decision)
        return decision

    def _seed_decision(self, excluded: IntArray, reason: str) -> Decision:
        taken = np.union1d(self.measured_indices, excluded)
        order = self._seed_order[~np.isin(self._seed_order, taken)]
        # the seed plan is fixed: the microscope measures down it while the first model
        # trains; it is extended only as far as the seeds still missing (vetoes, unscorable)
        want = max(self.settings.seeds - self.n_scored, 1)
        if order.size < want:  # the seed plan ran out: continue space-filling
            more = self.learner.seed_points(want - order.size + taken.size, np.random.default_rng(
                [self.settings.acquisition.seed, 7, taken.size]))
            more = more[~np.isin(more, np.union1d(taken, order))]
            order = np.concatenate([order, more])[:want]
        order = order[: self.settings.plan_size].astype(np.int64)
        return Decision(self.version_base, "seed", reason, self.n_observed, 0, order,
                        self.candidates.coords[order], np.zeros(order.size), "seed")

    def _model_decision(self, excluded: IntArray, reason: str) -> Decision:
        fit = None
        fit_s = 0.0
        if self.needs_fit:
            t0 = time.perf_counter()
            fit = self.learner.update(cold=self._refit)
            fit_s = time.perf_counter() - t0
            reason = reason or ("objective changed" if self._refit else "new data")
            self._refit = False
            self._fitted_on = self.n_scored
        s = self.settings
        rng = np.random.default_rng([s.acquisition.seed, self.version, self.n_observed])
        ranked = self.learner.rank(q=s.plan_size, pending=excluded, rng=rng)
        return Decision(self.version, "model", reason or "re-rank", self.n_observed,
                        self._fitted_on, ranked.indices, ranked.coords, ranked.scores,
                        ranked.acquisition, ranked.mean, ranked.variance, ranked.values,
                        fit, fit_s, ranked.seconds)

    # ------------------------------------------------------------------ helpers

    def _candidate(self, point: list[int]) -> int | None:
        try:
            return int(self.candidates.index_of([point])[0])
        except CandidateError:
            return None

    def _exclusions(self, exclude: npt.ArrayLike | None) -> IntArray:
        """Candidate indices of unscored measurements and of ``exclude``'s candidate points
        (points between candidates, with a stride > 1, exclude nothing)."""
        out = [self.measured_indices[~np.isfinite(self.scalars)]] if self._indices else []
        if exclude is not None:
            for point in np.asarray(exclude, dtype=np.int64).reshape(-1, 2).tolist():
                index = self._candidate(point)
                if index is not None:
                    out.append(np.asarray([index], np.int64))
        return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def _score(self, rows: list[FloatArray]) -> tuple[FloatArray, list[str]]:
        s = self.settings
        values = score_spectra(s.scalarizer, s.scalarizer_params, np.stack(rows) if rows
                               else np.zeros((0, 1)), self.axis)
        bad = int(np.isnan(values).sum())
        reasons = [f"{bad} spectra not scored by {s.scalarizer}; kept, not used for training"
                   ] if bad else []
        return values, reasons
