"""A small deep ensemble of DKL models: same data, different seeds, mixture predictions.

Members differ only in their weight initialisation (``seed + 7919 * member``). Predictions are
the equal-weight Gaussian mixture: ``mean = avg(mu_i)``, ``var = avg(var_i + mu_i^2) - mean^2``;
the posterior covariance used by batch selection is the mixture's exact covariance,
``avg(cov_i) + cov over members of (mu_i(x), mu_i(j))``. It costs ``members`` times one model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import torch

from planner_cluster.models.config import DKLConfig, FitReport
from planner_cluster.models.dkl import DKLModel

__all__ = ["DKLEnsemble", "EnsembleEmbedding"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class EnsembleEmbedding:
    """Each member's latents (``N x latent_dim``) and posterior means (``N``)."""

    latents: list[torch.Tensor]
    means: list[FloatArray]
    variances: list[FloatArray]


class DKLEnsemble:
    """``members`` DKL models trained on the same data; same interface as :class:`DKLModel`."""

    def __init__(
        self,
        config: DKLConfig | None = None,
        *,
        members: int = 3,
        reference: npt.ArrayLike | None = None,
    ) -> None:
        if members < 1:
            raise ValueError(f"an ensemble needs at least one member, got {members}")
        base = config if config is not None else DKLConfig()
        self.config = base
        self.members = [
            DKLModel(replace(base, seed=base.seed + 7919 * i), reference=reference)
            for i in range(members)
        ]

    @property
    def version(self) -> int:
        """Number of completed ensemble fits."""
        return min(m.version for m in self.members)

    def fit(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        iterations: int | None = None,
        cold: bool = False,
    ) -> FitReport:
        """Fit every member (see :meth:`DKLModel.fit`); one report for the ensemble."""
        started = time.perf_counter()
        reports = [m.fit(x, y, iterations=iterations, cold=cold) for m in self.members]
        return FitReport(
            version=self.version,
            n_train=reports[0].n_train,
            iterations=reports[0].iterations,
            warm=all(r.warm for r in reports),
            attempts=max(r.attempts for r in reports),
            loss=float(np.mean([r.loss for r in reports])),
            seconds=time.perf_counter() - started,
            hyperparameters={"members": [r.hyperparameters for r in reports]},
        )

    def embed(self, x: npt.ArrayLike, batch_size: int | None = None) -> EnsembleEmbedding:
        """Every member's latents and marginal posterior at ``x`` (``N x d``)."""
        latents = [m.embed(x, batch_size) for m in self.members]
        preds = [m.predict_embedded(z) for m, z in zip(self.members, latents, strict=True)]
        return EnsembleEmbedding(latents, [p[0] for p in preds], [p[1] for p in preds])

    def predict_embedded(self, emb: EnsembleEmbedding) -> tuple[FloatArray, FloatArray]:
        """Mixture mean and variance (``N`` each)."""
        means = np.stack(emb.means)
        mean = means.mean(axis=0)
        second = (np.stack(emb.variances) + means**2).mean(axis=0)
        return mean, np.maximum(second - mean**2, 0.0)

    def covariance_embedded(self, emb: EnsembleEmbedding, j: int) -> FloatArray:
        """Mixture posterior covariance (``N``) of every embedded row with row ``j``."""
        means = np.stack(emb.means)
        centred = means - means.mean(axis=0)
        spread = (centred * centred[:, j : j + 1]).mean(axis=0)
        cols = [m.covariance_embedded(z, j) for m, z in zip(self.members, emb.latents, strict=True)]
        return np.asarray(np.mean(cols, axis=0) + spread, dtype=np.float64)

    @property
    def noise_variance(self) -> float:
        """Mean observation noise variance of the members (target units)."""
        return float(np.mean([m.noise_variance for m in self.members]))

    def predict(
        self, x: npt.ArrayLike, batch_size: int | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Mixture mean and variance at ``x`` (``N x d``)."""
        return self.predict_embedded(self.embed(x, batch_size))
