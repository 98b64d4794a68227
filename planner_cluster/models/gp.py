"""The gpytorch module behind :class:`~planner_cluster.models.dkl.DKLModel`."""

from __future__ import annotations

import math
from typing import Any

import gpytorch
import torch
from gpytorch.priors import LogNormalPrior

from planner_cluster.models.config import DKLConfig

__all__ = ["DeepKernelGP"]


class DeepKernelGP(gpytorch.models.ExactGP):  # type: ignore[misc]
    """Exact GP whose inputs pass through ``extractor`` first."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        likelihood: gpytorch.likelihoods.GaussianLikelihood,
        extractor: torch.nn.Module,
        config: DKLConfig,
    ) -> None:
        super().__init__(x, y, likelihood)
        self.feature_extractor = extractor
        self.mean_module = gpytorch.means.ZeroMean()
        self.hyper_priors = config.hyper_priors
        prior = LogNormalPrior(0.0, 1.0) if config.hyper_priors else None
        base: gpytorch.kernels.Kernel
        if config.kernel == "rbf":
            base = gpytorch.kernels.RBFKernel(
                ard_num_dims=config.latent_dim, lengthscale_prior=prior
            )
        elif config.kernel == "matern52":
            base = gpytorch.kernels.MaternKernel(
                nu=2.5, ard_num_dims=config.latent_dim, lengthscale_prior=prior
            )
        else:
            raise ValueError(f"unknown kernel {config.kernel!r}")
        outputscale_prior = LogNormalPrior(0.0, 1.0) if config.hyper_priors else None
        self.kernel = config.kernel
        self.covar_module = gpytorch.kernels.ScaleKernel(base, outputscale_prior=outputscale_prior)
        self.covar_module.outputscale = 1.0
        base.lengthscale = 1.0
        self.optimizer: torch.optim.Optimizer | None = None  # kept across warm fits

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        z = self.feature_extractor(x)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, jitter: float) -> torch.Tensor:
        """gpytorch's ``-ExactMarginalLogLikelihood(x, y)``: the negative log evidence plus
        the kernel's LogNormal(0, 1) hyper-priors, over ``n``; the same value and gradients
        (tested), computed in plain torch with the evidence's gradient in closed form
        (:class:`_NegLogEvidence`): gpytorch's lazy tensors and prior closures, and torch's
        generic Cholesky backward, cost more than the algebra at the sizes a campaign trains
        on. ``jitter`` is added to the diagonal only if the Cholesky factorisation fails, up
        to three times with 10x more each (as gpytorch)."""
        n = x.shape[0]
        covar = self.covar_module
        lengthscale = covar.base_kernel.lengthscale.reshape(-1)
        outputscale = covar.outputscale.reshape(1)
        noise = self.likelihood.noise.reshape(1)
        z = self.feature_extractor(x) / lengthscale
        sq = sum((z[:, j, None] - z[None, :, j]) ** 2 for j in range(z.shape[1]))
        if self.kernel == "rbf":
            k = torch.exp(-0.5 * sq)
        else:  # matern52; distances clamped as gpytorch does, so the diagonal has a gradient
            r = math.sqrt(5.0) * sq.clamp_min(1e-30).sqrt()
            k = (1.0 + r + r * r / 3.0) * torch.exp(-r)
        eye = torch.eye(n, dtype=z.dtype, device=z.device)
        cov = outputscale * k + noise * eye
        neg_log_evidence: torch.Tensor = _NegLogEvidence.apply(  # type: ignore[no-untyped-call]
            cov, y, jitter)
        if self.hyper_priors:
            for value in (lengthscale, outputscale, noise):
                log_v = torch.log(value)
                neg_log_evidence = neg_log_evidence - (
                    -log_v - 0.5 * math.log(2.0 * math.pi) - 0.5 * log_v * log_v).sum()
        return neg_log_evidence / n


class _NegLogEvidence(torch.autograd.Function):
    """``0.5 y' K^-1 y + 0.5 log|K| + 0.5 n log 2 pi`` with the gradient in closed form,
    ``0.5 (K^-1 - a a')`` for ``a = K^-1 y``: one Cholesky inverse instead of back-propagating
    through the factorisation and the solve (several triangular solves and matrix products
    per step, and most of a step's time from ~200 training points)."""

    @staticmethod
    def forward(ctx: Any, cov: torch.Tensor, y: torch.Tensor, jitter: float) -> torch.Tensor:
        n = cov.shape[0]
        eye = torch.eye(n, dtype=cov.dtype, device=cov.device)
        chol, info = torch.linalg.cholesky_ex(cov)
        for tries in range(3):
            if not bool(info.any()):
                break
            chol, info = torch.linalg.cholesky_ex(cov + jitter * 10.0**tries * eye)
        if bool(info.any()):
            raise RuntimeError("covariance is not positive definite, even with jitter")
        alpha = torch.cholesky_solve(y.reshape(-1, 1), chol)
        ctx.save_for_backward(chol, alpha)
        return (0.5 * (y.reshape(1, -1) @ alpha).reshape(())
                + torch.log(torch.diagonal(chol)).sum() + 0.5 * n * math.log(2.0 * math.pi))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        chol, alpha = ctx.saved_tensors
        return grad * 0.5 * (torch.cholesky_inverse(chol) - alpha @ alpha.T), None, None
