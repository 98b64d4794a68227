"""Typed records read from and written to the state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class CampaignRecord:
    campaign_id: str
    edge_id: str
    owner: str
    status: str
    config: dict[str, Any]
    model_version: int
    n_measured: int
    created: float
    updated: float
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredMeasurement:
    """One measurement as stored: ``stream_id`` orders them; ``key`` is (sender, session, seq)."""

    stream_id: str
    key: str
    row: int
    col: int
    spectrum: NDArray[Any]
    source: str
    plan_version: int
    dwell_s: float
    received: float


@dataclass(frozen=True)
class PlanRecord:
    """The latest plan of a campaign: ``points`` is ``q x 2`` (row, col), best first."""

    model_version: int
    points: NDArray[np.int32]
    scores: NDArray[np.float32]
    acquisition: str
    created: float
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """An entry of the events stream that monitors and the gateway follow."""

    event_id: str
    campaign_id: str
    kind: str
    time: float
    data: dict[str, Any]
