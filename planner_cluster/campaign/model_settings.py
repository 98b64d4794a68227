"""The DKL model's settings: part of a campaign's settings, so torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

__all__ = ["DKLConfig"]


@dataclass(frozen=True)
class DKLConfig:
    """Everything that defines a DKL model and how it is trained.

    Attributes:
        latent_dim: latent (GP input) dimension.
        hidden: hidden layer widths of the MLP (or the CNN's head).
        activation: ``relu`` (gpax's choice), ``tanh`` or ``silu``.
        extractor: ``mlp`` or ``cnn`` (needs ``patch_shape``).
        patch_shape: (p, p, C) of the candidates' patches, for ``cnn``.
        kernel: ``rbf`` or ``matern52`` (ARD over the latent dims).
        lr: Adam learning rate (gpax uses 0.05; at 0.05 our exact-GP fits oscillate and
            most end far above their best objective: benchmarks/README.md, "Tuning log").
        adam_beta1: Adam's first-moment decay (gpax uses 0.5).
        iterations: Adam steps for a cold fit (new weights).
        warm_iterations: Adam steps for a warm fit (previous weights).
        cold_restart_every: every k-th fit also trains from fresh weights and keeps the better
            (0: never after the first).
        cold_starts: fresh initialisations tried by a cold fit; the best objective is kept.
        keep_best_iterate: keep the iterate of each training run with the lowest training
            objective (the starting weights included) instead of the last one, so a fit
            never leaves the model worse on its own objective (benchmarks/README.md,
            "Tuning log, fifth pass").
        weight_prior_std: std of the Normal(0, s) prior on network weights; ``None`` disables it.
        hyper_priors: LogNormal(0, 1) priors on lengthscale, output scale and noise (as gpax).
        noise_floor: lower bound of the noise variance (standardised units).
        max_attempts: fit attempts (later ones cold, with more jitter) before ModelFittingError.
        seed: seeds weight initialisation (restart ``r`` uses ``seed + r``).
        device: torch device string (``cpu``, ``cuda``, ``cuda:1``).
        dtype: ``float64`` (default, robust on CPU) or ``float32`` (faster on GPUs).
        predict_batch: rows per chunk when embedding / predicting.
    """

    # read by the campaign schema (planner_cluster.campaign.schema): unknown keys are refused
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    latent_dim: Annotated[int, Field(ge=1, le=64)] = 2
    hidden: tuple[Annotated[int, Field(ge=1, le=4096)], ...] = (64, 64)
    activation: Literal["relu", "tanh", "silu"] = "relu"
    extractor: Literal["mlp", "cnn"] = "mlp"
    patch_shape: tuple[int, int, int] | None = None
    kernel: Literal["rbf", "matern52"] = "rbf"
    lr: Annotated[float, Field(gt=0, le=10)] = 0.01
    adam_beta1: Annotated[float, Field(ge=0, lt=1)] = 0.5
    iterations: Annotated[int, Field(ge=1, le=100_000)] = 100
    warm_iterations: Annotated[int, Field(ge=1, le=100_000)] = 30
    cold_restart_every: Annotated[int, Field(ge=0)] = 10
    cold_starts: Annotated[int, Field(ge=1, le=32)] = 2
    keep_best_iterate: bool = True
    weight_prior_std: Annotated[float, Field(gt=0)] | None = 1.0
    hyper_priors: bool = True
    noise_floor: Annotated[float, Field(gt=0, lt=1)] = 1e-4
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    seed: Annotated[int, Field(ge=0)] = 0
    device: str = "cpu"
    dtype: Literal["float32", "float64"] = "float64"
    predict_batch: Annotated[int, Field(ge=1)] = 1024
