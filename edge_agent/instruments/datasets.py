"""Recorded datasets the replay microscope plays back (and the planner's replay benchmark scores).

Each loader returns a :class:`ReplayDataset`: a structural image plus the raw spectrum measured
at every point of a spectroscopy grid. Only numpy is needed at import time; ``h5py`` (BEPS) and
``rsciio`` (EELS) are imported inside the loaders that need them.

Files live in a data folder: the ``data_dir`` a loader is given (the edge's ``data_dir``
setting, ``AUTOPILOT_DATA``, ``--data-dir``), else the workspace's ``shared/data`` when running
from a source checkout; see its README for provenance. The loaders here read MIT-licensed data
from the pycroscopy project; the SEM-EDS and ``particles`` loaders live in
:mod:`edge_agent.instruments.datasets_extra`. A 24 x 24 crop of BEPS ships inside the package
(``beps_crop``, :mod:`edge_agent.instruments.packaged`), and the replay driver's ``beps`` falls
back to it, so a wheel installed anywhere can replay real data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DATASETS",
    "WORKSPACE_DATA_DIR",
    "ReplayDataset",
    "dataset",
    "load_beps",
    "load_dataset",
    "load_eels",
    "load_sts",
]

logger = logging.getLogger(__name__)

#: The data folder of a source checkout (``REPO/../shared/data``); used only if it exists.
WORKSPACE_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"

_PYCROSCOPY = "MIT licence, pycroscopy project"


@dataclass(frozen=True, eq=False)
class ReplayDataset:
    """A structural image and a raw spectrum at every spectroscopy grid point.

    Attributes:
        name: dataset key (``beps``, ``eels``, ``sts``, ``procedural``...).
        image: ``H x W`` or ``H x W x C`` float32 structural image.
        spectra: ``H_s x W_s x n`` float32 raw spectra, ``H_s = H // patch_scale`` (and W).
        axis: ``n`` float64 spectral axis (bias, energy loss...).
        axis_name: what the axis is, e.g. ``"voltage"``.
        axis_units: its units, e.g. ``"V"``.
        signal_units: units of the spectra values.
        patch_scale: structural pixels per spectroscopy grid point along each axis.
        attribution: where the data come from and under which licence.
        image_name: what the structural image shows.
        scalar: optional ``H_s x W_s`` float64 precomputed target (e.g. the exact ground truth
            of a synthetic sample), so a benchmark need not derive one from the spectra.
    """

    name: str
    image: npt.NDArray[np.float32]
    spectra: npt.NDArray[np.float32]
    axis: npt.NDArray[np.float64]
    axis_name: str
    axis_units: str
    signal_units: str
    patch_scale: int
    attribution: str
    image_name: str = ""
    scalar: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        h, w = self.image.shape[:2]
        hs, ws, n = self.spectra.shape
        if (h // self.patch_scale, w // self.patch_scale) != (hs, ws):
            raise ValueError(
                f"{self.name}: image {self.image.shape} at scale {self.patch_scale} "
                f"does not cover spectra grid {(hs, ws)}"
            )
        if self.axis.shape != (n,):
            raise ValueError(f"{self.name}: axis {self.axis.shape} does not match spectra {n}")
        if self.scalar is not None and self.scalar.shape != (hs, ws):
            raise ValueError(
                f"{self.name}: scalar {self.scalar.shape} does not match spectra grid {(hs, ws)}"
            )

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(rows, cols) of the spectroscopy grid."""
        return (int(self.spectra.shape[0]), int(self.spectra.shape[1]))

    def spectrum(self, row: int, col: int) -> npt.NDArray[np.float32]:
        """The raw spectrum (``n``) at grid point ``(row, col)``."""
        return np.asarray(self.spectra[row, col])


Loader = Callable[..., ReplayDataset]
DATASETS: dict[str, Loader] = {}


def dataset(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under ``name``."""

    def register(fn: Loader) -> Loader:
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        DATASETS[name] = fn
        return fn

    return register


def load_dataset(name: str, **kwargs: Any) -> ReplayDataset:
    """Load the registered dataset ``name`` (``KeyError`` lists the known ones)."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](**kwargs)


def _file(data_dir: Path | str | None, filename: str) -> Path:
    folder = Path(data_dir) if data_dir is not None else WORKSPACE_DATA_DIR
    path = folder / filename
    if not path.is_file():
        hint = "" if data_dir is not None else (
            " (no data folder given: set data_dir in the edge config, AUTOPILOT_DATA, or "
            "--data-dir)")
        raise FileNotFoundError(f"dataset file not found: {path}{hint}")
    return path


def _clip_percentiles(
    image: npt.NDArray[Any], lo: float = 0.5, hi: float = 99.5
) -> npt.NDArray[np.float32]:
    low, high = np.percentile(image, [lo, hi])
    return np.asarray(np.clip(image, low, high), dtype=np.float32)


BEPS_FILE = "BEPS_PTO_50x50.h5"
BEPS_ATTRIBUTION = f"{BEPS_FILE}, pycroscopy/DTMicroscope data/AFM ({_PYCROSCOPY})"


def read_beps_loops(path: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The raw loops (rows x cols x 64, rows = the file's Y) and the bias axis of a BEPS file."""
    import h5py  # the edge's optional [hdf5] extra

    with h5py.File(path, "r") as f:
        loops = np.asarray(f["Channel_000/generic/generic"][()], dtype=np.float64)
        volts = np.asarray(f["Channel_000/generic/Voltage"][()], dtype=np.float64)
    return loops.transpose(1, 0, 2), volts  # the file's dims are (X, Y, voltage)


def beps_dataset(name: str, loops: npt.NDArray[Any], volts: npt.NDArray[np.float64],
                 attribution: str) -> ReplayDataset:
    """BEPS loops as a replay dataset (the full file and the packaged crop alike).

    The structural image is the response at zero bias on the first leg of the sweep (what a
    PFM image shows), clipped to its 0.5-99.5 percentiles because ~1% of the SHO-fitted values
    are outliers up to 1000x off. Spectra are returned raw (outliers included).
    """
    first_leg_end = int(np.argmax(volts))
    zero = int(np.argmin(np.abs(volts[: first_leg_end + 1])))
    return ReplayDataset(
        name=name,
        image=_clip_percentiles(loops[:, :, zero]),
        spectra=np.asarray(loops, dtype=np.float32),
        axis=np.asarray(volts, dtype=np.float64),
        axis_name="voltage",
        axis_units="V",
        signal_units="a.u. (piezoresponse)",
        patch_scale=1,
        attribution=attribution,
        image_name="piezoresponse at zero bias",
    )


@dataset("beps")
def load_beps(data_dir: Path | str | None = None) -> ReplayDataset:
    """Band-excitation piezoresponse loops of a PbTiO3 film, 50 x 50 grid, 64 bias steps."""
    loops, volts = read_beps_loops(_file(data_dir, BEPS_FILE))
    return beps_dataset("beps", loops, volts, BEPS_ATTRIBUTION)


@dataset("eels")
def load_eels(data_dir: Path | str | None = None) -> ReplayDataset:
    """STEM-EELS spectrum image of a titanate (49 x 6 spectra, 350-861.5 eV) under its HAADF.

    The HAADF image (1568 x 192) has 32 x 32 sub-pixels per spectrum: spectrum (iy, ix) sits on
    ``haadf[32 iy : 32 iy + 32, 32 ix : 32 ix + 32]``.
    """
    from rsciio.digitalmicrograph import file_reader  # planner-side / optional dependency

    eels = file_reader(str(_file(data_dir, "SI-EELS_Spectrum_Image.dm3")))[0]
    haadf = file_reader(str(_file(data_dir, "SI-HAADF.dm3")))[0]
    cube = np.asarray(eels["data"], dtype=np.float32)
    names = [str(a.get("name", "")) for a in eels["axes"]]
    energy_at = next((i for i, a in enumerate(names) if "energy" in a.lower()), cube.ndim - 1)
    energy_axis = eels["axes"][energy_at]
    cube = np.moveaxis(cube, energy_at, -1)
    n = cube.shape[-1]
    axis = float(energy_axis.get("offset", 0.0)) + float(energy_axis.get("scale", 1.0)) * np.arange(
        n
    )
    image = np.asarray(haadf["data"], dtype=np.float32)
    scale = image.shape[0] // cube.shape[0]
    if image.shape != (cube.shape[0] * scale, cube.shape[1] * scale):
        raise ValueError(
            f"HAADF {image.shape} is not an exact multiple of the EELS grid {cube.shape[:2]}"
        )
    return ReplayDataset(
        name="eels",
        image=image,
        spectra=np.ascontiguousarray(cube),
        axis=axis.astype(np.float64),
        axis_name="energy loss",
        axis_units=str(energy_axis.get("units", "eV")),
        signal_units="counts",
        patch_scale=scale,
        attribution=(
            f"SI-EELS_Spectrum_Image.dm3 + SI-HAADF.dm3, pycroscopy/SciFiReaders ({_PYCROSCOPY})"
        ),
        image_name="HAADF",
    )


def _nanonis_header(raw: bytes) -> tuple[dict[str, str], int]:
    marker = b":HEADER_END:"
    end = raw.find(marker)
    if end < 0:
        raise ValueError("not a Nanonis .3ds file: no :HEADER_END:")
    header: dict[str, str] = {}
    for line in raw[:end].decode("latin-1").splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            header[key.strip()] = value.strip().strip('"')
    start = end + len(marker)
    while raw[start : start + 1] in (b"\r", b"\n"):
        start += 1
    return header, start


@dataset("sts")
def load_sts(data_dir: Path | str | None = None, channel: str = "LockinX (V)") -> ReplayDataset:
    """Nanonis STS grid (30 x 30 points, 200 bias points); structural image = height Z.

    Spectra are ``channel`` (default the lock-in X output, i.e. dI/dV) at each point.
    """
    raw = _file(data_dir, "STS_grid_lockin.3ds").read_bytes()
    header, start = _nanonis_header(raw)
    cols, rows = (int(v) for v in header["Grid dim"].split("x"))
    n_params = int(header["# Parameters (4 byte)"])
    n_points = int(header["Points"])
    channels = header["Channels"].split(";")
    fixed = header.get("Fixed parameters", "").split(";")
    experiment = header.get("Experiment parameters", "").split(";")
    param_names = [p for p in fixed + experiment if p]
    if channel not in channels:
        raise ValueError(f"channel {channel!r} not in {channels}")
    per_point = n_params + len(channels) * n_points
    body = np.frombuffer(raw, dtype=">f4", offset=start)
    if body.size < rows * cols * per_point:
        raise ValueError(f"STS grid truncated: {body.size} values, need {rows * cols * per_point}")
    block = body[: rows * cols * per_point].reshape(rows, cols, per_point).astype(np.float32)
    params = block[:, :, :n_params]
    c = channels.index(channel)
    spectra = block[:, :, n_params + c * n_points : n_params + (c + 1) * n_points]
    z = params[:, :, param_names.index("Z (m)")]
    sweep = np.linspace(float(params[0, 0, 0]), float(params[0, 0, 1]), n_points)
    return ReplayDataset(
        name="sts",
        image=z.astype(np.float32),
        spectra=np.ascontiguousarray(spectra),
        axis=sweep,
        axis_name="bias",
        axis_units="V",
        signal_units=channel,
        patch_scale=1,
        attribution=f"STS_grid_lockin.3ds, pycroscopy/SciFiReaders ({_PYCROSCOPY})",
        image_name="height Z (m)",
    )


@dataset("procedural")
def load_procedural(
    size: int = 256, seed: int = 0, kind: str = "loops", data_dir: Path | str | None = None
) -> ReplayDataset:
    """A deterministic synthetic sample (see :mod:`edge_agent.instruments.procedural`)."""
    from edge_agent.instruments.procedural import procedural

    del data_dir  # generated, not read
    return procedural(size=size, seed=seed, kind=kind)


# The rest of the registry (SEM-EDS, particles, the packaged crop); imported last because they
# register with ``dataset`` above, so that every importer of this module sees every dataset.
from edge_agent.instruments import datasets_extra as _extra  # noqa: E402, F401
from edge_agent.instruments import packaged as _packaged  # noqa: E402, F401
