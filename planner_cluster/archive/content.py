"""What a campaign archive holds, in memory: :class:`ArchiveData` and its records.

Torch-free: the exporter (:mod:`.from_store`), the demo and ``autopilot replay`` share these
types; the file layout is :mod:`.nexus_write` and docs/archive.md. Times are Unix seconds
here and ISO 8601 in the file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ArchiveData", "Calibration", "ControlRecord", "LogEntry", "ModelTable",
           "settings_record"]

Array = npt.NDArray[Any]


def settings_record(settings: Any) -> dict[str, Any]:
    """Resolved campaign settings (a ``CampaignSettings``) as JSON-ready data: with them a
    later version of the code, whose defaults may have changed, still trains the same model
    (``planner_cluster.demo.recompute.settings_from_record`` reads them back)."""
    record: dict[str, Any] = _json_ready(asdict(settings))
    return record


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


@dataclass(frozen=True)
class Calibration:
    """Units and spatial calibration, read from the campaign config's ``metadata`` table
    (keys of the same names; docs/archive.md). Unknown ones stay generic: grid steps in
    ``pixel`` and spectra in arbitrary units."""

    technique: str = "spm"
    axis_name: str = "channel"
    axis_units: str = ""
    signal_units: str = "a.u."
    pixel_size: float = 1.0
    pixel_units: str = "pixel"
    sample: str = ""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Calibration:
        meta = config.get("metadata") or {}
        if not isinstance(meta, dict):
            return cls()
        d = cls()
        return cls(technique=str(meta.get("technique", d.technique)),
                   axis_name=str(meta.get("axis_name", d.axis_name)),
                   axis_units=str(meta.get("axis_units", d.axis_units)),
                   signal_units=str(meta.get("signal_units", d.signal_units)),
                   pixel_size=float(meta.get("pixel_size", d.pixel_size)),
                   pixel_units=str(meta.get("pixel_units", d.pixel_units)),
                   sample=str(meta.get("sample", d.sample)))


@dataclass
class ControlRecord:
    """One operator action as the campaign recorded it.

    Attributes:
        time: when it was recorded; ``action``/``args``: what was sent (``requested``: what
            the user asked for, e.g. ``set_exploration`` sent as ``set_acquisition``).
        origin: ``dashboard`` or ``edge``; ``user``: who.
        status: ``recorded``, then what the edge or planner answered (``accepted``,
            ``refused``), ``applied`` once the planner applied it.
        plan_index: the first plan (index into the schedule) made with it in effect; -1 when
            the planner has no part in it (pause, resume) or has not applied it yet.
        model_version: the model version of that plan; for controls the planner does not
            apply, the newest model version when it was recorded.
        changes / previous: the setting changes it made and the values they replaced.
    """

    time: float
    action: str
    args: dict[str, Any]
    control_id: str = ""
    requested: str = ""
    origin: str = ""
    user: str = ""
    status: str = "recorded"
    plan_index: int = -1
    model_version: int = 0
    changes: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.plan_index >= 0


@dataclass(frozen=True)
class LogEntry:
    """One campaign event other than a measurement or a plan: status and setting changes,
    controls and their results, errors. ``model_version``: the newest model then."""

    time: float
    kind: str
    data: dict[str, Any]
    model_version: int


@dataclass(eq=False)
class ModelTable:
    """Every model version's outputs on the candidates (``V`` versions, ``N`` candidates,
    plan size ``q``): ``mean``, ``variance``, ``acquisition`` ``V x N``; ``plan_points``
    ``V x q x 2``; ``plan_scores`` ``V x q``; ``loss``, ``best``, ``n_train`` ``V``."""

    version: Array
    n_train: Array
    mean: Array
    variance: Array
    acquisition: Array
    plan_points: Array
    plan_scores: Array
    loss: Array
    best: Array
    seed_points: Array


@dataclass(eq=False)
class ArchiveData:
    """The contents of one archive.

    ``n`` measurements in stream order: ``coords`` ``n x 2`` (grid row, col), ``spectra``
    ``n x L`` on ``axis`` (``L``), ``source``, ``plan_version``, ``received``, ``dwell_s``,
    ``scalars`` (under the final scalarizer). ``config`` is the campaign config as it
    started (controls applied later are in ``controls``), ``final_config`` as it ended;
    ``settings`` the resolved starting settings. ``schedule`` holds every plan the planner
    wrote, in order (``version``, ``n_train``, ``n_observed``, ``time``, ``loss``, ``best``,
    ``fit_s``, ``rank_s``). ``candidates`` holds ``coords`` (``N x 2``) and ``grid_shape``,
    ``stride``, ``scale``, ``patch``.
    """

    campaign_id: str
    dataset: str
    config: dict[str, Any]
    image: Array
    coords: Array
    spectra: Array
    axis: Array | None
    source: list[str]
    plan_version: Array
    received: Array
    dwell_s: Array
    schedule: dict[str, Array]
    settings: dict[str, Any] = field(default_factory=dict)
    final_config: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    planner: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    vetoed: Array = field(default_factory=lambda: np.zeros((0, 2), np.int32))
    scalars: Array | None = None
    recorded_plans: dict[int, tuple[Array, Array]] = field(default_factory=dict)
    recorded_predictions: dict[int, tuple[Array, Array]] = field(default_factory=dict)
    candidates: dict[str, Any] = field(default_factory=dict)
    controls: list[ControlRecord] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    status: str = ""
    owner: str = ""
    edge_id: str = ""
    started: float = 0.0
    ended: float = 0.0
    models: ModelTable | None = None
    truth: Array | None = None
    top: Array | None = None
    found: Any = None  # demo: Discovery (best, top) of this campaign
    random: Any = None  # demo: Discovery of the random baseline, seeds x n
    created: float = field(default_factory=time.time)

    @property
    def calibration(self) -> Calibration:
        return Calibration.from_config(self.config)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Rows and columns of the spectroscopy grid."""
        grid = self.candidates.get("grid_shape")
        if grid is not None:
            return int(grid[0]), int(grid[1])
        scale = int(self.candidates.get("scale", 1) or 1)
        return self.image.shape[0] // scale, self.image.shape[1] // scale

    @property
    def stride(self) -> int:
        return max(1, int(self.candidates.get("stride", 1) or 1))

    @property
    def map_shape(self) -> tuple[int, int]:
        """Rows and columns of the candidate lattice (the grid at ``stride``)."""
        rows, cols = self.grid_shape
        return -(-rows // self.stride), -(-cols // self.stride)
