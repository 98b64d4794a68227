"""A campaign's science settings: the one schema, with its defaults, that a live campaign, an
offline replay and every benchmark use.

Read from the config map the edge sent in ``campaign_start`` (and changed at run time by
controls), validated once; bad settings are a :class:`CampaignConfigError` that names the
setting. Torch-free: the gateway and the monitor import it without the model stack.

Defaults were chosen with ``benchmarks/replay.py`` (see benchmarks/README.md, "Replay"):
image-wide patch normalisation (levels matter: per-patch normalisation left the model near
random on real spectrum images), one measurement per model update, eight space-filling seed
points before the first model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from planner_cluster.campaign.model_settings import DKLConfig
from planner_cluster.errors import CampaignConfigError

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
    scalarizer_params: Mapping[str, Any] | None = None
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
    def from_config(cls, config: Mapping[str, Any]) -> CampaignSettings:
        """Settings from a campaign config map (missing keys take the defaults)."""
        try:
            settings = _parse(cls, config)
        except CampaignConfigError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise CampaignConfigError(f"bad campaign config: {exc}") from None
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`CampaignConfigError` unless every setting is usable."""
        from planner_cluster.scalarizers import SCALARIZERS  # numpy only

        if self.scalarizer not in SCALARIZERS:
            raise CampaignConfigError(
                f"unknown scalarizer {self.scalarizer!r}; known: {sorted(SCALARIZERS)}")
        pol = self.acquisition
        if pol.name not in ACQUISITION_NAMES:
            raise CampaignConfigError(
                f"unknown acquisition {pol.name!r}; known: {sorted(ACQUISITION_NAMES)}")
        unknown = sorted(set(pol.params) - set(ACQUISITION_PARAMS[pol.name]))
        if unknown:
            raise CampaignConfigError(f"acquisition {pol.name} has no parameter(s) {unknown}; "
                                      f"allowed: {sorted(ACQUISITION_PARAMS[pol.name])}")
        for key, value in pol.params.items():
            if not isinstance(value, int | float) or not value >= 0:
                raise CampaignConfigError(f"acquisition parameter {key} must be a number >= 0")
        if pol.diversity not in ("believer", "penalize"):
            raise CampaignConfigError("acquisition diversity must be believer or penalize")
        if self.normalize not in get_args(Normalization):
            raise CampaignConfigError(f"normalize must be one of {get_args(Normalization)}")
        if min(self.patch, self.stride, self.patch_scale, self.batch, self.plan_size,
               self.ensemble, self.seeds) < 1:
            raise CampaignConfigError("patch, stride, patch_scale, seeds, batch, plan_size and "
                                      "ensemble must be >= 1")


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    raw = config.get(key, {}) or {}
    return {"name": raw} if isinstance(raw, str) else dict(raw)


def _parse(cls: type[CampaignSettings], config: Mapping[str, Any]) -> CampaignSettings:
    scal = _section(config, "scalarizer")
    acq = _section(config, "acquisition")
    model_raw = dict(config.get("model", {}) or {})
    unknown = set(model_raw) - {f.name for f in fields(DKLConfig)}
    if unknown:
        raise CampaignConfigError(f"unknown model setting(s) {sorted(unknown)}")
    if "hidden" in model_raw:
        model_raw["hidden"] = tuple(int(h) for h in model_raw["hidden"])
    d = cls()
    return cls(
        scalarizer=str(scal.get("name", d.scalarizer)),
        scalarizer_params=dict(scal.get("params", {}) or {}),
        acquisition=AcquisitionPolicy(
            name=str(acq.get("name", d.acquisition.name)),
            maximize=bool(acq.get("maximize", True)),
            params=dict(acq.get("params", {}) or {}),
            diversity=str(acq.get("diversity", d.acquisition.diversity)),
            travel_weight=float(acq.get("travel_weight", 0.0)),
            seed=int(config.get("seed", 0))),
        patch=int(config.get("patch", d.patch)), stride=int(config.get("stride", d.stride)),
        patch_scale=int(config.get("patch_scale", d.patch_scale)),
        normalize=str(config.get("normalize", d.normalize)),  # type: ignore[arg-type]
        seeds=int(config.get("seeds", d.seeds)), batch=int(config.get("batch", d.batch)),
        plan_size=int(config.get("plan_size", d.plan_size)),
        ensemble=int(config.get("ensemble", d.ensemble)),
        model=replace(DKLConfig(), **model_raw),
    )
