"""The exact GP posterior in a DKL model's latent space, as a frozen snapshot after a fit.

Candidates are embedded once (``N x k`` latent, k = 2 typically), so predicting costs
``O(N n^2)`` and a posterior covariance column ``O(N n)``, in bounded-memory chunks; batch
selection needs columns over a shortlist of rows only
(:meth:`LatentPosterior.covariance_columns`). The kernel is the fitted gpytorch kernel module.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

__all__ = ["LatentPosterior"]

KernelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LatentPosterior:
    """GP posterior given training latents ``Z`` (``n x k``) and standardised targets.

    Args:
        kernel: ``kernel(A m x k, B p x k) -> m x p`` dense covariance (the fitted kernel).
        z_train: ``n x k`` training latents.
        y_train: ``n`` standardised targets.
        noise: observation noise variance (standardised units).
        prior_var: the kernel's prior variance ``k(z, z)`` (outputscale for stationary kernels).
        y_mean, y_std: to map predictions back to target units.
        chunk: rows per chunk.
    """

    def __init__(
        self,
        kernel: KernelFn,
        z_train: torch.Tensor,
        y_train: torch.Tensor,
        noise: float,
        prior_var: float,
        y_mean: float,
        y_std: float,
        chunk: int = 1024,
    ) -> None:
        self._kernel = kernel
        self.z_train = z_train
        self.noise = noise
        self.prior_var = prior_var
        self.y_mean = y_mean
        self.y_std = y_std
        self.chunk = chunk
        n = z_train.shape[0]
        k_train = kernel(z_train, z_train)
        eye = torch.eye(n, dtype=z_train.dtype, device=z_train.device)
        jitter = 1e-6 * prior_var
        chol, info = torch.linalg.cholesky_ex(k_train + (noise + jitter) * eye)
        while int(info) != 0 and jitter < prior_var:
            jitter *= 10.0
            chol, info = torch.linalg.cholesky_ex(k_train + (noise + jitter) * eye)
        self._chol = chol
        self._alpha = torch.cholesky_solve(y_train.reshape(-1, 1), chol).reshape(-1)

    def _chunks(self, z: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(z, self.chunk))

    @torch.no_grad()
    def predict(self, z: torch.Tensor) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Mean and latent-function variance (``N`` each, target units) at latents ``N x k``."""
        means, variances = [], []
        for part in self._chunks(z):
            k_star = self._kernel(part, self.z_train)  # c x n
            means.append(k_star @ self._alpha)
            v = torch.linalg.solve_triangular(self._chol, k_star.T, upper=False)  # n x c
            variances.append((self.prior_var - (v * v).sum(0)).clamp_min(1e-12 * self.prior_var))
        mean = torch.cat(means).double().cpu().numpy() * self.y_std + self.y_mean
        var = torch.cat(variances).double().cpu().numpy() * self.y_std**2
        return mean, var

    @torch.no_grad()
    def covariance_columns(
        self, z_rows: torch.Tensor, z_cols: torch.Tensor
    ) -> npt.NDArray[np.float64]:
        """Posterior covariance (``m x p``, target units squared) between latents ``z_rows``
        (``m x k``) and ``z_cols`` (``p x k``): ``k(r, c) - k(r, Z) K^-1 k(Z, c)``.

        Costs ``O(m n p)``: batch selection asks for a shortlist's rows only, not all ``N``.
        """
        w = torch.cholesky_solve(self._kernel(self.z_train, z_cols), self._chol)  # n x p
        cols = [
            self._kernel(part, z_cols) - self._kernel(part, self.z_train) @ w
            for part in self._chunks(z_rows)
        ]
        return torch.cat(cols).double().cpu().numpy() * self.y_std**2

    def covariance_column(self, z: torch.Tensor, j: int) -> npt.NDArray[np.float64]:
        """Posterior covariance between every latent row of ``z`` (``N x k``) and row ``j``
        (``N``, target units squared)."""
        return self.covariance_columns(z, z[j : j + 1])[:, 0]

    @property
    def noise_variance(self) -> float:
        """Observation noise variance in target units squared."""
        return self.noise * self.y_std**2
