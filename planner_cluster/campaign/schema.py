"""The wire form of a campaign's settings: the ``campaign_start.config`` map, checked strictly.

Types are strict (``batch: "2"`` is refused, not coerced), ranges are checked, unknown keys
are refused at every level, and acquisitions, scalarizers and their parameters must be known
names. The defaults are :class:`~.settings.CampaignSettings`'s own (one owner): this module
only says what a valid map looks like. A refusal is a :class:`CampaignConfigError` whose
``field`` is the key path (``acquisition.params.xi``), so the gateway can answer an edge with
``bad_field`` naming it before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planner_cluster.campaign.model_settings import DKLConfig
from planner_cluster.campaign.settings import (
    ACQUISITION_NAMES,
    ACQUISITION_PARAMS,
    AcquisitionPolicy,
    CampaignSettings,
    Normalization,
)
from planner_cluster.errors import CampaignConfigError

__all__ = ["CampaignConfig", "validate_config"]

_D = CampaignSettings()
_A = AcquisitionPolicy()
ParamValue = bool | int | float | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ScalarizerSection(_Strict):
    """``scalarizer``: the physics reward (``name`` alone may be given as a string)."""

    name: str = _D.scalarizer
    params: dict[str, ParamValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> ScalarizerSection:
        from planner_cluster.scalarizers import SCALARIZERS  # numpy only

        spec = SCALARIZERS.get(self.name)
        if spec is None:
            raise ValueError(f"unknown scalarizer {self.name!r}; known: {sorted(SCALARIZERS)}")
        for key, value in self.params.items():
            if key not in spec.params:
                raise ValueError(f"scalarizer {self.name} has no parameter {key!r}; "
                                 f"allowed: {sorted(spec.params)}")
            default = spec.params[key]
            kind = float if type(default) is int else type(default)
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  if kind is float else type(value) is kind)
            if not ok:
                raise ValueError(f"scalarizer parameter {key} must be {kind.__name__}, "
                                 f"got {type(value).__name__}")
        return self


class AcquisitionSection(_Strict):
    """``acquisition``: the ranking policy (units of the parameters: docs/planning.md)."""

    name: Literal[ACQUISITION_NAMES] = _A.name  # type: ignore[valid-type]
    maximize: bool = _A.maximize
    params: dict[str, float] = Field(default_factory=dict)
    diversity: Literal["believer", "penalize"] = _A.diversity  # type: ignore[assignment]
    travel_weight: float = Field(default=_A.travel_weight, ge=0)

    @model_validator(mode="after")
    def _known_params(self) -> AcquisitionSection:
        allowed = ACQUISITION_PARAMS[self.name]
        for key, value in self.params.items():
            if key not in allowed:
                raise ValueError(f"acquisition {self.name} has no parameter {key!r}; "
                                 f"allowed: {sorted(allowed) or 'none'}")
            if not value >= 0:
                raise ValueError(f"acquisition parameter {key} must be >= 0")
        return self


class BudgetSection(_Strict):
    """``budget``: when the planner finishes the campaign (absent: the edge decides)."""

    points: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, gt=0)
    dose: float | None = Field(default=None, gt=0)


class CampaignConfig(_Strict):
    """The ``campaign_start.config`` map (docs/protocol.md, "Campaign settings")."""

    scalarizer: ScalarizerSection = ScalarizerSection()
    acquisition: AcquisitionSection = AcquisitionSection()
    model: DKLConfig = DKLConfig()
    patch: int = Field(default=_D.patch, ge=1, le=256)
    stride: int = Field(default=_D.stride, ge=1, le=256)
    patch_scale: int = Field(default=_D.patch_scale, ge=1, le=1024)
    normalize: Normalization = _D.normalize
    seeds: int = Field(default=_D.seeds, ge=1, le=10_000)
    batch: int = Field(default=_D.batch, ge=1, le=1024)
    plan_size: int = Field(default=_D.plan_size, ge=1, le=1024)
    ensemble: int = Field(default=_D.ensemble, ge=1, le=16)
    seed: int = Field(default=_A.seed, ge=0, lt=2**32)
    budget: BudgetSection = BudgetSection()
    owner: str = Field(default="", max_length=128)
    #: free-form, JSON-only notes (sample, operator, ...), kept with the campaign
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: set by the gateway: the message that created the campaign (sender:session:seq)
    origin: str = ""

    @model_validator(mode="before")
    @classmethod
    def _name_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("scalarizer", "acquisition"):
                if isinstance(data.get(key), str):
                    data = {**data, key: {"name": data[key]}}
        return data

    def settings(self) -> CampaignSettings:
        """The planning core's settings (defaults already filled in)."""
        return CampaignSettings(
            scalarizer=self.scalarizer.name, scalarizer_params=dict(self.scalarizer.params),
            acquisition=AcquisitionPolicy(
                name=self.acquisition.name, maximize=self.acquisition.maximize,
                params=dict(self.acquisition.params), diversity=self.acquisition.diversity,
                travel_weight=self.acquisition.travel_weight, seed=self.seed),
            patch=self.patch, stride=self.stride, patch_scale=self.patch_scale,
            normalize=self.normalize, seeds=self.seeds, batch=self.batch,
            plan_size=self.plan_size, ensemble=self.ensemble, model=self.model)


def validate_config(config: Mapping[str, Any],
                    spectral_axis: Sequence[float] | None = None) -> CampaignConfig:
    """Check a campaign config map; :class:`CampaignConfigError` names the first bad key path.

    With ``spectral_axis``, the scalarizer is also tried on one flat spectrum over it, so a
    window outside the axis is refused at the door rather than on the first measurement.
    """
    try:
        text = json.dumps(dict(config), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CampaignConfigError(f"campaign config must hold JSON values only: {exc}") from None
    try:
        parsed = CampaignConfig.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            reason = f"unknown setting; known here: {_known_keys(first['loc'][:-1])}"
        raise CampaignConfigError(f"bad campaign setting {path or '(config)'}: {reason}",
                                  field=path) from None
    if spectral_axis is not None and len(spectral_axis) > 1:
        _try_scalarizer(parsed.scalarizer, spectral_axis)
    return parsed


def _known_keys(loc: Sequence[int | str]) -> list[str]:
    """The setting names allowed at a key path (for an "unknown setting" message)."""
    kind: Any = CampaignConfig
    for part in loc:
        hint = getattr(kind, "model_fields", {}).get(part)
        kind = hint.annotation if hint is not None else DKLConfig
    if kind is DKLConfig:
        return sorted(f.name for f in fields(DKLConfig))
    return sorted(getattr(kind, "model_fields", {}))


def _try_scalarizer(section: ScalarizerSection, axis: Sequence[float]) -> None:
    import numpy as np

    from planner_cluster.errors import ScalarizerError
    from planner_cluster.scalarizers import scalarize

    flat = np.ones((1, len(axis)))
    try:
        scalarize(section.name, flat, np.asarray(axis, dtype=float), **section.params)
    except ScalarizerError as exc:
        if "non-finite" not in str(exc):  # a flat spectrum may have no loop: not the config's
            raise CampaignConfigError(f"bad campaign setting scalarizer.params: {exc}",
                                      field="scalarizer.params") from None
