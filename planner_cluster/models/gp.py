"""The gpytorch module behind :class:`~planner_cluster.models.dkl.DKLModel`."""

from __future__ import annotations

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
        self.covar_module = gpytorch.kernels.ScaleKernel(base, outputscale_prior=outputscale_prior)
        self.covar_module.outputscale = 1.0
        base.lengthscale = 1.0
        self.optimizer: torch.optim.Optimizer | None = None  # kept across warm fits

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        z = self.feature_extractor(x)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))
