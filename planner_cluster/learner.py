"""The active learner: candidates, measurements, a DKL model and an acquisition policy.

One object per campaign, with no network code: the Ray campaign actor and the replay benchmark
both drive it the same way::

    learner = ActiveLearner(candidates, model_config=DKLConfig(), policy=AcquisitionPolicy())
    learner.observe(learner.seed_points(5, rng), values)
    learner.update()                   # warm-started fit
    plan = learner.rank(q=4, pending=in_flight)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from planner_cluster.acquisition import RowsCovarianceFn, evaluate, select_batch
from planner_cluster.acquisition.functions import get_acquisition
from planner_cluster.campaign import AcquisitionPolicy
from planner_cluster.candidates import CandidateSet
from planner_cluster.errors import CandidateError
from planner_cluster.models import DKLConfig, DKLEnsemble, DKLModel, FitReport
from planner_cluster.models.ensemble import EnsembleEmbedding
from planner_cluster.planning.seeds import space_filling

__all__ = ["AcquisitionPolicy", "ActiveLearner", "Plan"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Plan:
    """A ranked plan for one model version.

    Attributes:
        indices: ``q`` candidate indices, best first.
        coords: ``q x 2`` their grid coordinates.
        scores: ``q`` acquisition values.
        model_version: the model version the plan comes from.
        mean: ``N`` posterior mean at every candidate.
        variance: ``N`` posterior variance at every candidate.
        values: ``N`` acquisition value at every candidate (before batch selection).
        acquisition: the acquisition's name.
        seconds: time spent ranking (prediction + selection).
    """

    indices: IntArray
    coords: IntArray
    scores: FloatArray
    model_version: int
    mean: FloatArray
    variance: FloatArray
    values: FloatArray
    acquisition: str
    seconds: float = 0.0


class ActiveLearner:
    """Holds a campaign's candidates and measurements; fits, predicts and ranks.

    Args:
        candidates: the field of view's candidates.
        model_config: DKL settings (its ``patch_shape`` is filled in from the candidates).
        policy: acquisition policy.
        ensemble: number of DKL members (1: a single model; more: a deep ensemble whose
            mixture posterior is ranked, at ``ensemble`` times the cost).
    """

    def __init__(
        self,
        candidates: CandidateSet,
        *,
        model_config: DKLConfig | None = None,
        policy: AcquisitionPolicy | None = None,
        ensemble: int = 1,
    ) -> None:
        if len(candidates) == 0:
            raise CandidateError("no candidates")
        config = model_config if model_config is not None else DKLConfig()
        if config.patch_shape is None:
            config = replace(config, patch_shape=candidates.patch_shape)
        self.candidates = candidates
        self.inputs = candidates.features  # the model's inputs (N x d)
        self.policy = policy if policy is not None else AcquisitionPolicy()
        get_acquisition(self.policy.name)  # fail early on an unknown name
        self.model: DKLModel | DKLEnsemble
        if ensemble > 1:
            self.model = DKLEnsemble(config, members=ensemble, reference=self.inputs)
        else:
            self.model = DKLModel(config, reference=self.inputs)
        self._indices: list[int] = []
        self._values: list[float] = []
        self._latent: Any = None
        self._latent_version = -1
        self._rng = np.random.default_rng(self.policy.seed)

    # ------------------------------------------------------------------ data

    @property
    def measured(self) -> IntArray:
        """Indices of the measured candidates, in observation order."""
        return np.asarray(self._indices, dtype=np.int64)

    @property
    def values(self) -> FloatArray:
        """Their scalar values."""
        return np.asarray(self._values, dtype=np.float64)

    def observe(self, indices: Iterable[int], values: Iterable[float]) -> None:
        """Record scalars at candidate indices (a repeated index adds another sample there)."""
        idx = np.fromiter((int(i) for i in indices), dtype=np.int64)
        val = np.fromiter((float(v) for v in values), dtype=np.float64)
        if idx.shape != val.shape:
            raise CandidateError(f"{idx.size} indices but {val.size} values")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.candidates)):
            raise CandidateError(f"indices outside [0, {len(self.candidates)})")
        if not np.all(np.isfinite(val)):
            raise CandidateError("values contain NaN or infinite numbers")
        self._indices.extend(int(i) for i in idx)
        self._values.extend(float(v) for v in val)

    def reset_observations(self, indices: Iterable[int], values: Iterable[float]) -> None:
        """Replace every observation, e.g. after the scalarizer changed (the model is kept;
        the next :meth:`update` fits it to the new values)."""
        self._indices, self._values = [], []
        self.observe(indices, values)

    def seed_points(self, k: int, rng: np.random.Generator | None = None) -> IntArray:
        """``k`` space-filling candidates in feature space (:func:`~planner_cluster.planning.
        seeds.space_filling`); measured points count as chosen."""
        return space_filling(self.candidates.features, k,
                             rng if rng is not None else self._rng, self._indices)

    # ------------------------------------------------------------------ model

    def update(self, iterations: int | None = None, *, cold: bool = False) -> FitReport:
        """Fit the model to every observation (warm start unless ``cold``)."""
        if not self._indices:
            raise CandidateError("no observations to fit")
        x = self.inputs[self.measured]
        report = self.model.fit(x, self.values, iterations=iterations, cold=cold)
        self._latent = None
        return report

    def predict(self) -> tuple[FloatArray, FloatArray]:
        """Posterior mean and variance (``N`` each) at every candidate."""
        return self._predict_embedded(self._embedding())

    def _predict_embedded(self, emb: Any) -> tuple[FloatArray, FloatArray]:
        return self.model.predict_embedded(emb)

    def _embedding(self) -> Any:
        if self._latent is None or self._latent_version != self.model.version:
            self._latent = self.model.embed(self.inputs)
            self._latent_version = self.model.version
        return self._latent

    @property
    def exploration_scale(self) -> float:
        """The unit of the exploration parameters: the observed values' standard deviation."""
        vals = self.values
        spread = float(vals.std()) if vals.size > 1 else 0.0
        return spread if spread > 0 else 1.0

    def _rows_covariance(self, latent: Any) -> RowsCovarianceFn:
        """``cov(rows, k)``: posterior covariance of candidates ``rows`` with ``rows[k]``."""
        model = self.model
        if isinstance(model, DKLEnsemble):
            ensemble = model

            def ensemble_cov(rows: IntArray, k: int) -> FloatArray:
                sub = EnsembleEmbedding([z[torch_index(rows, z)] for z in latent.latents],
                                        [m[rows] for m in latent.means],
                                        [v[rows] for v in latent.variances])
                return ensemble.covariance_embedded(sub, k)

            return ensemble_cov
        single = model

        def single_cov(rows: IntArray, k: int) -> FloatArray:
            return single.covariance_embedded(latent[torch_index(rows, latent)], k)

        return single_cov

    def best_value(self) -> float:
        """The best observed value (max or min according to the policy)."""
        vals = self.values
        return float(vals.max() if self.policy.maximize else vals.min())

    def incumbent(self, mean: FloatArray) -> float:
        """What EI and PI improve on: the best posterior ``mean`` (``N``) at a measured
        candidate, not the best measured value. Spectral scalars are noisy; a lucky noisy
        maximum lies above every posterior mean, and EI then ranks by variance alone (in
        replay on EELS the picks went to the least-known region, away from the known high
        one). This is the plug-in incumbent of noisy EI (botorch's ``qNoisyExpectedImprovement``
        integrates over it instead)."""
        at_measured = mean[self.measured]
        return float(at_measured.max() if self.policy.maximize else at_measured.min())

    def rank(
        self, q: int = 1, pending: Iterable[int] = (), position: npt.ArrayLike | None = None,
        rng: np.random.Generator | None = None,
    ) -> Plan:
        """Rank the candidates and return the best ``q`` (never measured or ``pending`` ones).

        ``rng`` (default: the learner's own) drives stochastic acquisitions and tie-breaks;
        the planning core passes one derived from the decision, so replays reproduce."""
        started = time.perf_counter()
        latent = self._embedding()
        model = self.model
        mean, variance = self._predict_embedded(latent)
        exclude = np.union1d(self.measured, np.fromiter((int(i) for i in pending), dtype=np.int64))
        pol = self.policy
        generator = rng if rng is not None else self._rng
        best_f = self.incumbent(mean) if self._values else None
        believer = pol.diversity == "believer" and q > 1
        selection = select_batch(
            mean,
            variance,
            q=q,
            acquisition=pol.name,
            maximize=pol.maximize,
            best_f=best_f,
            exclude=exclude,
            coords=self.candidates.coords,
            position=position,
            travel_weight=pol.travel_weight,
            exploration_scale=self.exploration_scale,
            covariance_rows=self._rows_covariance(latent) if believer else None,
            noise=model.noise_variance,
            rng=generator,
            **dict(pol.params),
        )
        values = evaluate(pol.name, mean, variance, maximize=pol.maximize, best_f=best_f,
                          exploration_scale=self.exploration_scale,
                          rng=np.random.default_rng(0), **dict(pol.params))
        return Plan(
            indices=selection.indices,
            coords=self.candidates.coords[selection.indices],
            scores=selection.scores,
            model_version=self.model.version,
            mean=mean,
            variance=variance,
            values=values,
            acquisition=pol.name,
            seconds=time.perf_counter() - started,
        )


def torch_index(rows: IntArray, like: Any) -> Any:
    """``rows`` as an index tensor on ``like``'s device."""
    import torch

    return torch.as_tensor(rows, device=like.device)
