"""Controls from the monitor: validated here, then recorded with ``push_control``; the gateway
forwards them to the edge as protocol ``control`` messages and the campaign worker applies
the planner's part. Anything the planner or edge would choke on is refused here (422) with a
reason, so a typo never reaches a running campaign.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from protocol.lifecycle import is_final

from ..campaign.settings import ACQUISITION_PARAMS, EXPLORATION_PARAM
from ..errors import PlannerError
from ..scalarizers import SCALARIZERS, scalarize
from ..state import CampaignRecord, StateStore
from .views import grid_of, stride_of

#: Acquisition functions and the parameters each accepts (the campaign schema's, torch-free).
ACQUISITIONS: dict[str, tuple[str, ...]] = {
    name: tuple(params) for name, params in ACQUISITION_PARAMS.items()}
ACTIONS = ("pause", "resume", "stop", "abort", "veto", "add_point", "set_acquisition",
           "set_scalarizer", "set_exploration")
MAX_VETO_CELLS = 100_000


class ControlRequest(BaseModel):
    """A control as the API takes it; ``args`` depend on ``action`` (docs/monitor.md)."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="one of " + ", ".join(ACTIONS))
    args: dict[str, Any] = Field(default_factory=dict)


class ControlRefused(PlannerError, ValueError):
    """A control that cannot be sent: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ControlRefused(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _point(value: Any, grid: tuple[int, int], stride: int, what: str) -> list[int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ControlRefused(f"{what} must be [row, col] integers, got {value!r}")
    row, col = value
    if not (0 <= row < grid[0] and 0 <= col < grid[1]):
        raise ControlRefused(f"{what} ({row}, {col}) is outside the {grid[0]} x {grid[1]} grid")
    if row % stride or col % stride:
        raise ControlRefused(f"{what} ({row}, {col}) is not a candidate (stride {stride})")
    return [row, col]


def _veto(args: dict[str, Any], grid: tuple[int, int], stride: int) -> dict[str, Any]:
    if set(args) - {"points", "region"} or not args:
        raise ControlRefused("veto takes points [[row, col], ...] and/or region "
                             "[row0, col0, row1, col1]")
    out: dict[str, Any] = {}
    points = args.get("points")
    if points is not None:
        if not isinstance(points, list) or not points or len(points) > MAX_VETO_CELLS:
            raise ControlRefused("veto points must be a non-empty list of [row, col]")
        out["points"] = [_point(p, grid, 1, "veto point") for p in points]
    region = args.get("region")
    if region is not None:
        if (not isinstance(region, list) or len(region) != 4
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in region)):
            raise ControlRefused("veto region must be [row0, col0, row1, col1] integers")
        r0, c0, r1, c1 = region
        _point([r0, c0], grid, 1, "region corner")
        _point([r1, c1], grid, 1, "region corner")
        if r0 > r1 or c0 > c1:
            raise ControlRefused("veto region needs row0 <= row1 and col0 <= col1")
        if (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_VETO_CELLS:
            raise ControlRefused("veto region too large")
        out["region"] = [r0, c0, r1, c1]
    if stride > 1:  # the planner vetoes candidates only: send the lattice points inside
        cells = [tuple(p) for p in out.get("points", [])]
        if "region" in out:
            r0, c0, r1, c1 = out["region"]
            cells += [(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
        kept = sorted({(r, c) for r, c in cells if r % stride == 0 and c % stride == 0})
        if not kept:
            raise ControlRefused(f"the veto covers no candidate point (stride {stride})")
        out = {"points": [list(p) for p in kept]}
    return out


def _params(params: Any, allowed: tuple[str, ...], name: str) -> dict[str, float]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ControlRefused(f"params of {name} must be a map")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ControlRefused(f"{name} takes no parameter(s) {unknown}; allowed: {list(allowed)}")
    return {k: _number(v, f"{name}.{k}") for k, v in params.items()}


def _current_acquisition(record: CampaignRecord) -> tuple[str, bool, dict[str, Any]]:
    acq = record.config.get("acquisition") or {}
    if isinstance(acq, str):
        acq = {"name": acq}
    return (str(acq.get("name", "ei")), bool(acq.get("maximize", True)),
            dict(acq.get("params", {}) or {}))


def _scalarizer(store: StateStore, record: CampaignRecord,
                args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name")
    if not isinstance(name, str) or name not in SCALARIZERS:
        raise ControlRefused(f"unknown scalarizer {name!r}; known: {sorted(SCALARIZERS)}")
    if set(args) - {"name", "params"}:
        raise ControlRefused("set_scalarizer takes name and params")
    params = _params(args.get("params"), tuple(SCALARIZERS[name].params), name)
    last = store.read_measurements(record.campaign_id)[-1:]
    if last:  # score one real spectrum now rather than break the planner later
        spectrum = np.asarray(last[0].spectrum, dtype=np.float64).reshape(-1)
        axis = store.spectral_axis(record.campaign_id)
        if axis is None or axis.shape[0] != spectrum.shape[0]:
            axis = np.arange(spectrum.shape[0], dtype=np.float64)
        try:
            scalarize(name, spectrum, axis, **params)
        except PlannerError as exc:
            raise ControlRefused(f"{name} cannot score this campaign's spectra: {exc}") from None
    return {"name": name, "params": params}


def validate(store: StateStore, record: CampaignRecord,
             req: ControlRequest) -> tuple[str, dict[str, Any]]:
    """The (action, args) to send for ``req``; :class:`ControlRefused` if it cannot be."""
    action, args = req.action, req.args
    if action not in ACTIONS:
        raise ControlRefused(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if is_final(record.status):
        raise ControlRefused(f"campaign {record.campaign_id} is {record.status}", 409)
    if action in ("pause", "resume", "stop", "abort"):
        if args:
            raise ControlRefused(f"{action} takes no args")
        return action, {}
    grid = grid_of(record)
    if action in ("veto", "add_point"):
        if grid is None:
            raise ControlRefused("the campaign has no scan yet", 409)
        if action == "veto":
            return action, _veto(args, grid, stride_of(record))
        if set(args) != {"point"}:
            raise ControlRefused("add_point takes point [row, col]")
        return action, {"point": _point(args["point"], grid, stride_of(record), "point")}
    if action == "set_scalarizer":
        return action, _scalarizer(store, record, args)
    name, maximize, current = _current_acquisition(record)
    if action == "set_acquisition":
        new = args.get("name")
        if not isinstance(new, str) or new not in ACQUISITIONS:
            raise ControlRefused(f"unknown acquisition {new!r}; known: {sorted(ACQUISITIONS)}")
        if set(args) - {"name", "params", "maximize"}:
            raise ControlRefused("set_acquisition takes name, params and maximize")
        if not isinstance(args.get("maximize", maximize), bool):
            raise ControlRefused("maximize must be true or false")
        return action, {"name": new, "params": _params(args.get("params"), ACQUISITIONS[new], new),
                        "maximize": args.get("maximize", maximize)}
    # set_exploration: sent as the acquisition with its exploration parameter changed
    if set(args) != {"weight"}:
        raise ControlRefused("set_exploration takes weight")
    weight = _number(args["weight"], "weight")
    if weight < 0:
        raise ControlRefused("weight must be >= 0")
    param = EXPLORATION_PARAM.get(name)  # the one parameter each acquisition has, if any
    if param is None:
        raise ControlRefused(f"acquisition {name} has no exploration weight")
    kept = {k: v for k, v in current.items() if k in ACQUISITIONS.get(name, ())}
    return "set_acquisition", {"name": name, "params": {**kept, param: weight},
                               "maximize": maximize, "exploration_weight": weight}


def send(store: StateStore, record: CampaignRecord, req: ControlRequest,
         user: str) -> dict[str, Any]:
    """Validate and record the control; returns what was sent with its ``control_id``."""
    action, args = validate(store, record, req)
    control_id = uuid.uuid4().hex
    store.push_control(record.campaign_id, {"action": action, "args": args, "user": user,
                                            "control_id": control_id,
                                            "requested": req.action}, origin="dashboard")
    return {"control_id": control_id, "action": action, "args": args,
            "requested": req.action, "user": user}
