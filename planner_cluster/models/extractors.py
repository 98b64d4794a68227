"""Feature extractors for deep kernel learning: patch features (``n x d``) -> latent (``n x k``).

Registered with :func:`extractor`; :func:`build_extractor` builds one by name with seeded
weights (a ``torch.Generator``, so building never touches the global RNG). Weights start like
haiku's (what gpax uses): ``Normal(0, 1 / fan_in)`` (truncated at 2 std), biases zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["EXTRACTORS", "build_extractor", "extractor"]

ExtractorFactory = Callable[..., nn.Module]
EXTRACTORS: dict[str, ExtractorFactory] = {}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
}


def extractor(name: str) -> Callable[[ExtractorFactory], ExtractorFactory]:
    """Register a feature-extractor factory under ``name``."""

    def register(fn: ExtractorFactory) -> ExtractorFactory:
        if name in EXTRACTORS:
            raise ValueError(f"extractor {name!r} registered twice")
        EXTRACTORS[name] = fn
        return fn

    return register


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


@extractor("mlp")
def _mlp(
    input_dim: int,
    latent_dim: int,
    hidden: Sequence[int],
    activation: str,
    patch_shape: tuple[int, int, int] | None = None,
) -> nn.Module:
    """``d -> hidden... -> latent`` with ``activation`` between layers (linear output)."""
    del patch_shape
    layers: list[nn.Module] = []
    width = input_dim
    for h in hidden:
        layers += [nn.Linear(width, h), _activation(activation)]
        width = h
    layers.append(nn.Linear(width, latent_dim))
    return nn.Sequential(*layers)


class _PatchCNN(nn.Module):
    """Two 3x3 convolutions (8 and 16 channels, 2x2 max-pool after each), then an MLP head.

    Input ``n x (p * p * C)`` (channel-last, as :class:`CandidateSet` stores it).
    """

    def __init__(
        self,
        latent_dim: int,
        hidden: Sequence[int],
        activation: str,
        patch_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        p, _, c = patch_shape
        self.patch_shape = patch_shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, 8, 3, padding=1),
            _activation(activation),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            _activation(activation),
            nn.MaxPool2d(2),
        )
        side = max(p // 4, 1) if p >= 4 else 0
        if side == 0:
            raise ValueError(f"cnn extractor needs patches of at least 4 px, got {p}")
        self.head = _mlp(16 * side * side, latent_dim, hidden, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, q, c = self.patch_shape
        img = x.reshape(-1, p, q, c).permute(0, 3, 1, 2)
        out: torch.Tensor = self.head(self.conv(img).flatten(1))
        return out


@extractor("cnn")
def _cnn(
    input_dim: int,
    latent_dim: int,
    hidden: Sequence[int],
    activation: str,
    patch_shape: tuple[int, int, int] | None = None,
) -> nn.Module:
    """A small CNN over the patch; needs ``patch_shape``."""
    if patch_shape is None or math.prod(patch_shape) != input_dim:
        raise ValueError(
            f"cnn extractor needs patch_shape matching input_dim {input_dim}, got {patch_shape}"
        )
    return _PatchCNN(latent_dim, hidden, activation, patch_shape)


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Haiku-style init in place: weights ``TruncNormal(0, 1/fan_in)``, biases zero."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                std = 1.0 / math.sqrt(fan_in)
                w = torch.randn(m.weight.shape, generator=generator, dtype=m.weight.dtype)
                m.weight.copy_(w.clamp_(-2.0, 2.0) * std)
                if m.bias is not None:
                    m.bias.zero_()


def build_extractor(
    name: str,
    *,
    input_dim: int,
    latent_dim: int,
    hidden: Sequence[int],
    activation: str,
    seed: int,
    patch_shape: tuple[int, int, int] | None = None,
) -> nn.Module:
    """Build the registered extractor ``name`` on CPU (float32) with seeded weights."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; known: {sorted(EXTRACTORS)}")
    module = EXTRACTORS[name](input_dim, latent_dim, hidden, activation, patch_shape)
    init_weights(module, torch.Generator().manual_seed(seed))
    return module
