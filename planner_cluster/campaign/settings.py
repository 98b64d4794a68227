"""A campaign's science settings: the one schema, with its defaults, that a live campaign, an
offline replay and every benchmark use.

Read from the config map the edge sent in ``campaign_start`` (and changed at run time by
controls), checked by the strict wire schema of :mod:`.schema`; bad settings are a
:class:`~planner_cluster.errors.CampaignConfigError` that names the key path. Torch-free:
the gateway and the monitor import it without the model stack.

Defaults were chosen with ``benchmarks/replay.py`` (see benchmarks/README.md, "Replay"):
image-wide patch normalisation (levels matter: per-patch normalisation left the model near
random on real spectrum images), one measurement per model update, eight space-filling seed
points before the first model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from planner_cluster.campaign.model_settings import DKLConfig

__all__ = ["ACQUISITION_NAMES", "AcquisitionPolicy", "CampaignSettings", "Normalization"]

Normalization = Literal["image", "patch", "none"]

#: The acquisition functions a campaign may name; the registry in
#: :mod:`planner_cluster.acquisition.functions` implements exactly these (checked at import).
ACQUISITION_NAMES = ("ei", "ucb", "pi", "max_variance", "thompson")

#: Each acquisition's parameters and defaults. Units: ``xi`` (ei, pi) is the improvement asked
#: for, in standard deviations of the values observed so far; ``beta`` (ucb) weighs the
#: posterior standard deviation as ``mean + sqrt(beta) * std``.
ACQUISITION_PARAMS: dict[str, dict[str, float]] = {
    "ei": {"xi": 0.0}, "pi": {"xi": 0.0}, "ucb": {"beta": 4.0}, "max_variance": {},
    "thompson": {},
}
#: The parameter the operator's exploration weight sets, per acquisition (none: no weight).
EXPLORATION_PARAM: dict[str, str] = {
    name: next(iter(params)) for name, params in ACQUISITION_PARAMS.items() if params}


@dataclass(frozen=True)
class AcquisitionPolicy:
    """How to rank: the acquisition, its parameters and the batch rules.

    Attributes:
        name: one of :data:`ACQUISITION_NAMES`.
        maximize: whether larger scalars are better.
        params: acquisition parameters (``xi`` for EI/PI, ``beta`` for UCB; units above).
        diversity: ``believer`` (exact GP kriging believer) or ``penalize`` (local
            penalisation on the grid) for plans of more than one point.
        travel_weight: travel penalty per field-of-view diagonal (0: none).
        seed: seeds stochastic acquisitions and the seed plan.
    """

    name: str = "ei"
    maximize: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)
    diversity: str = "believer"
    travel_weight: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class CampaignSettings:
    """Everything that decides where a campaign measures.

    Attributes:
        scalarizer / scalarizer_params: the physics reward applied to each raw spectrum.
        acquisition: the ranking policy.
        patch: patch side (structural pixels); stride: grid stride between candidates;
            patch_scale: structural pixels per spectroscopy grid point.
        normalize: patch normalisation (``image``: one mean and std per channel over the
            whole scan; ``patch``: each patch on its own; ``none``).
        seeds: space-filling points measured before the first model is fitted.
        batch: measurements per model update (1: refit after every measurement).
        plan_size: points in each plan sent to the edge (the microscope keeps measuring
            down the plan while the next model trains).
        ensemble: DKL models averaged (1: a single model).
        model: the DKL model and its training.
    """

    scalarizer: str = "loop_area"
    scalarizer_params: Mapping[str, Any] = field(default_factory=dict)
    acquisition: AcquisitionPolicy = AcquisitionPolicy()
    patch: int = 8
    stride: int = 1
    patch_scale: int = 1
    normalize: Normalization = "image"
    seeds: int = 8
    batch: int = 1
    plan_size: int = 16
    ensemble: int = 1
    model: DKLConfig = DKLConfig()

    @classmethod
    def from_config(cls, config: Mapping[str, Any],
                    spectral_axis: Sequence[float] | None = None) -> CampaignSettings:
        """Settings from a campaign config map, checked by the wire schema
        (:mod:`.schema`); missing keys take the defaults above."""
        from planner_cluster.campaign.schema import validate_config

        return validate_config(config, spectral_axis).settings()

    def validate(self) -> None:
        """Raise :class:`CampaignConfigError` unless every setting is usable (the same rules
        as a config map at the gateway's door)."""
        from planner_cluster.campaign.schema import validate_config

        validate_config(self.to_config())

    def to_config(self) -> dict[str, Any]:
        """The config map these settings are read from (JSON values only)."""
        pol = self.acquisition
        return {
            "scalarizer": {"name": self.scalarizer, "params": dict(self.scalarizer_params or {})},
            "acquisition": {"name": pol.name, "maximize": pol.maximize, "params": dict(pol.params),
                            "diversity": pol.diversity, "travel_weight": pol.travel_weight},
            "model": json.loads(json.dumps(asdict(self.model))),
            "patch": self.patch, "stride": self.stride, "patch_scale": self.patch_scale,
            "normalize": self.normalize, "seeds": self.seeds, "batch": self.batch,
            "plan_size": self.plan_size, "ensemble": self.ensemble, "seed": pol.seed,
        }
