"""A campaign's science settings, read from the config map the edge sent in campaign_start
(and changed at run time by controls). Validated once; bad settings are a clear error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .acquisition.functions import get_acquisition
from .errors import PlannerError
from .learner import AcquisitionPolicy
from .models import DKLConfig
from .scalarizers import get_scalarizer


class CampaignConfigError(PlannerError, ValueError):
    """A campaign setting is unknown or invalid."""


@dataclass(frozen=True)
class CampaignSettings:
    scalarizer: str = "loop_area"
    scalarizer_params: Mapping[str, Any] | None = None
    acquisition: AcquisitionPolicy = AcquisitionPolicy()
    patch: int = 8
    stride: int = 1
    patch_scale: int = 1
    seeds: int = 5
    batch: int = 4
    plan_size: int = 8
    model: DKLConfig = DKLConfig()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CampaignSettings:
        try:
            scal = config.get("scalarizer", {}) or {}
            if isinstance(scal, str):
                scal = {"name": scal}
            acq = config.get("acquisition", {}) or {}
            if isinstance(acq, str):
                acq = {"name": acq}
            model_fields = {f.name for f in fields(DKLConfig)}
            model_raw = dict(config.get("model", {}) or {})
            unknown = set(model_raw) - model_fields
            if unknown:
                raise CampaignConfigError(f"unknown model setting(s) {sorted(unknown)}")
            if "hidden" in model_raw:
                model_raw["hidden"] = tuple(model_raw["hidden"])
            batch = int(config.get("batch", 4))
            settings = cls(
                scalarizer=str(scal.get("name", "loop_area")),
                scalarizer_params=dict(scal.get("params", {}) or {}),
                acquisition=AcquisitionPolicy(
                    name=str(acq.get("name", "ei")), maximize=bool(acq.get("maximize", True)),
                    params=dict(acq.get("params", {}) or {}),
                    travel_weight=float(acq.get("travel_weight", 0.0)),
                    seed=int(config.get("seed", 0))),
                patch=int(config.get("patch", 8)), stride=int(config.get("stride", 1)),
                patch_scale=int(config.get("patch_scale", 1)),
                seeds=int(config.get("seeds", 5)), batch=batch,
                plan_size=int(config.get("plan_size", max(16, 4 * batch))),
                model=replace(DKLConfig(), **model_raw),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CampaignConfigError):
                raise
            raise CampaignConfigError(f"bad campaign config: {exc}") from None
        get_scalarizer(settings.scalarizer)
        get_acquisition(settings.acquisition.name)
        if min(settings.patch, settings.stride, settings.patch_scale, settings.batch,
               settings.plan_size) < 1 or settings.seeds < 0:
            raise CampaignConfigError("patch, stride, patch_scale, batch and plan_size must be "
                                      ">= 1 and seeds >= 0")
        return settings
