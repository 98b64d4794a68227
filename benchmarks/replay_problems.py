"""Replay problems: a field of view with the true scalar at every grid point.

A problem is a replay data set (a built-in name or a ``.h5`` file in the format of
``docs/datasets.md``), a target (a scalarizer over the raw spectra, or the file's precomputed
``scalar``) and a patch size. The suite is every problem the discovery targets are checked on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.instruments.datasets import ReplayDataset, load_dataset
from edge_agent.instruments.replay_file import read_replay_h5
from planner_cluster.discovery import top_mask
from planner_cluster.planning.scoring import score_spectra

FloatArray = npt.NDArray[np.float64]

PRECOMPUTED = "precomputed"


@dataclass(frozen=True)
class ProblemSpec:
    """Where the data come from and what counts as interesting."""

    dataset: str
    scalarizer: str
    params: dict[str, Any] = field(default_factory=dict)
    patch: int = 8
    note: str = ""
    load: dict[str, Any] = field(default_factory=dict)  # the loader's arguments


#: The discovery suite (benchmarks/README.md, "Replay").
SUITE: dict[str, ProblemSpec] = {
    "beps:loop_area": ProblemSpec("beps", "loop_area", note="real PbTiO3 BEPS, 50 x 50"),
    "beps:coercive": ProblemSpec("beps", "coercive_width", note="real BEPS, coercive width"),
    "eels:ti_l": ProblemSpec("eels", "band_integral",
                             {"lo": 450.0, "hi": 475.0, "background": "linear"}, 32,
                             "real titanate STEM-EELS under HAADF, 49 x 6"),
    "sts:zero_bias": ProblemSpec("sts", "band_integral",
                                 {"lo": -0.05, "hi": 0.05, "background": "none"}, 5,
                                 "real Nanonis STS grid, dI/dV near zero bias, 30 x 30"),
    "sem_eds:3kev": ProblemSpec("sem_eds", "band_integral",
                                {"lo": 2.85, "hi": 3.15, "background": "linear"}, 8,
                                "real Bruker SEM-EDS, the minor peak near 3 keV, 50 x 50"),
    "sem_eds_hitachi:cu_k": ProblemSpec("sem_eds_hitachi", "band_integral",
                                        {"lo": 7.85, "hi": 8.25, "background": "linear"}, 32,
                                        "real Hitachi SEM-EDS binned 8 x 8, Cu K, 30 x 40"),
    "procedural:loop_area": ProblemSpec("procedural", "loop_area", patch=9,
                                        note="procedural ferroelectric, 64 x 64",
                                        load={"size": 64, "seed": 0}),
    "particles:contact": ProblemSpec("particles", PRECOMPUTED, patch=8,
                                     note="synthetic: a peak only where a particle meets a "
                                          "grain boundary, 64 x 64"),
}


@dataclass(frozen=True, eq=False)
class Problem:
    """A loaded problem: the data the replay microscope plays and the truth to score against.

    Attributes:
        name: suite key or file name.
        image / axis / spectra: what the microscope shows (``h x w x L`` spectra; a
            one-value spectrum holding the scalar for precomputed targets).
        scalarizer / params: the campaign's objective.
        truth: ``h x w`` true scalar (NaN where a spectrum cannot be scored).
        top: ``h x w`` the top-1% sites.
        patch / patch_scale: candidate settings.
    """

    name: str
    image: npt.NDArray[np.float32]
    axis: FloatArray
    spectra: npt.NDArray[np.float32]
    scalarizer: str
    params: dict[str, Any]
    truth: FloatArray
    top: npt.NDArray[np.bool_]
    patch: int
    patch_scale: int
    description: str

    @property
    def grid_shape(self) -> tuple[int, int]:
        return int(self.truth.shape[0]), int(self.truth.shape[1])


def _load(spec: ProblemSpec, data_dir: Path | None) -> ReplayDataset:
    if spec.dataset.endswith((".h5", ".hdf5")):
        return read_replay_h5(Path(spec.dataset))
    return load_dataset(spec.dataset, **spec.load, **({"data_dir": data_dir} if data_dir else {}))


def load_problem(name: str, spec: ProblemSpec, data_dir: Path | None = None) -> Problem:
    """Load ``spec``'s data and score every grid point with its target."""
    data = _load(spec, data_dir)
    h, w, length = data.spectra.shape
    if spec.scalarizer == PRECOMPUTED:
        if data.scalar is None:
            raise SystemExit(f"{spec.dataset} has no precomputed scalar")
        truth = np.asarray(data.scalar, np.float64)
        spectra = truth[:, :, None].astype(np.float32)
        axis, scalarizer, params = np.zeros(1), "value", {}
    else:
        spectra, axis = data.spectra, data.axis
        scalarizer, params = spec.scalarizer, dict(spec.params)
        truth = score_spectra(scalarizer, params, spectra.reshape(-1, length), axis).reshape(h, w)
    top = top_mask(truth)
    desc = (f"{spec.note or data.name}: {spec.scalarizer}{spec.params or ''}, maximise; "
            f"{h * w} points, patch {spec.patch}, top-1% = {int(top.sum())} sites")
    return Problem(name, data.image, np.asarray(axis, np.float64), spectra, scalarizer, params,
                   truth, top, spec.patch, data.patch_scale, desc)
