"""The replay microscope: a recorded dataset played back as an instrument.

The structural scan comes first; a spectrum is revealed only at a requested point, after the
dwell time (configurable: about 0.5 s is realistic for BEPS, 0 in tests), with optional
Gaussian noise. Points outside the field of view are refused with :class:`OutOfBoundsError`.

Targets: a registered dataset name (``beps``, ``eels``, ``sts``, ``sem_eds``, ``particles``...;
see :mod:`edge_agent.instruments.datasets`), or a file: an ``.npz`` written by
:func:`export_truth` (keys ``image``, ``spectra``, ``axis``), ``BEPS_PTO_50x50.h5`` anywhere,
or a replay file ``.h5``/``.hdf5`` (:mod:`edge_agent.instruments.replay_file`; h5py needed).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.errors import AcquisitionStopped, InstrumentError
from edge_agent.instruments.base import InstrumentInfo, ReportingBase
from edge_agent.instruments.datasets import (
    BEPS_ATTRIBUTION,
    BEPS_FILE,
    DATASETS,
    ReplayDataset,
    beps_dataset,
    load_dataset,
    read_beps_loops,
)
from edge_agent.instruments.registry import driver
from edge_agent.instruments.replay_file import read_replay_h5

log = logging.getLogger(__name__)

#: Realistic dwell per spectrum when none is given (seconds).
DEFAULT_DWELL_S = {"beps": 0.5, "beps_crop": 0.5, "eels": 0.05, "sts": 0.3}


class ReplayMicroscope(ReportingBase):
    """Plays back ``dataset``; implements :class:`~edge_agent.instruments.base.Instrument`.

    Args:
        dataset: what to replay.
        name: the spec it was made from (reported in ``info.name``).
        dwell_s: seconds each spectrum takes (interruptible by :meth:`stop`).
        noise: Gaussian noise std, relative to the dataset's spectra std (0 = exact replay).
        seed: seeds the noise.
        dose_per_point: dose reported per spectrum (``None``: this instrument reports none).
        kind: ``replay`` (or ``simulated`` for procedural samples).
    """

    def __init__(self, dataset: ReplayDataset, *, name: str, dwell_s: float = 0.0,
                 noise: float = 0.0, seed: int = 0, dose_per_point: float | None = None,
                 kind: str = "replay") -> None:
        if dwell_s < 0 or noise < 0:
            raise ValueError(f"dwell_s and noise must be >= 0 (got {dwell_s}, {noise})")
        self.dataset = dataset
        self._rng = np.random.default_rng(seed)
        self._noise_std = float(noise) * float(np.std(dataset.spectra)) if noise else 0.0
        self._stop = threading.Event()
        self._scanned = False
        image = dataset.image
        channels = (dataset.image_name or "image",) if image.ndim == 2 else tuple(
            f"channel_{i}" for i in range(image.shape[2]))
        self._info = InstrumentInfo(
            name=name, kind=kind, grid_shape=dataset.grid_shape,
            image_shape=tuple(int(s) for s in image.shape), patch_scale=dataset.patch_scale,
            spectrum_length=int(dataset.spectra.shape[2]),
            spectrum_dtype=np.dtype(np.float32).str, dwell_s=float(dwell_s),
            dose_per_point=dose_per_point, axis_name=dataset.axis_name,
            axis_units=dataset.axis_units, signal_units=dataset.signal_units,
            channels=channels, attribution=dataset.attribution,
        )

    @property
    def spectral_axis(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.dataset.axis, dtype=np.float64)

    def scan(self) -> npt.NDArray[np.float32]:
        self._scanned = True
        return np.array(self.dataset.image, dtype=np.float32, copy=True)

    def move_to(self, row: int, col: int) -> None:
        self._info.check_bounds(row, col)
        self._position = (row, col)

    def acquire(self, row: int, col: int) -> npt.NDArray[np.float32]:
        if not self._scanned:
            raise InstrumentError("acquire before scan: take the structural scan first")
        self.move_to(row, col)
        if self._stop.wait(self._info.dwell_s) or self._stop.is_set():
            self._stop.clear()
            raise AcquisitionStopped(f"acquisition at ({row}, {col}) stopped", row=row, col=col)
        spectrum = np.array(self.dataset.spectrum(row, col), dtype=np.float32, copy=True)
        if self._noise_std:
            spectrum += self._rng.normal(0.0, self._noise_std, spectrum.shape).astype(np.float32)
        return spectrum

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()

    def export_truth(self, path: str | Path) -> Path:
        """Write the ground truth (every spectrum, axis, image) to ``path`` (see module doc)."""
        return export_truth(self.dataset, path)


def export_truth(dataset: ReplayDataset, path: str | Path) -> Path:
    """Save ``dataset`` as an ``.npz``: ``image``, ``spectra`` (rows x cols x n), ``axis``,
    ``scalar`` if the dataset has one, and metadata (``name``, ``axis_name``, ``axis_units``,
    ``signal_units``, ``patch_scale``, ``attribution``). The replay driver reads the file back
    (``replay:PATH.npz``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {} if dataset.scalar is None else {"scalar": dataset.scalar}
    with out.open("wb") as fh:
        np.savez_compressed(
            fh, image=dataset.image, spectra=dataset.spectra, axis=dataset.axis,
            name=np.str_(dataset.name), axis_name=np.str_(dataset.axis_name),
            axis_units=np.str_(dataset.axis_units), signal_units=np.str_(dataset.signal_units),
            patch_scale=np.int64(dataset.patch_scale), attribution=np.str_(dataset.attribution),
            image_name=np.str_(dataset.image_name),
            **extra,
        )
    return out


def _from_arrays(name: str, arrays: Any) -> ReplayDataset:
    def text(key: str, default: str = "") -> str:
        return str(arrays[key][()]) if key in arrays else default

    return ReplayDataset(
        name=text("name", name), image=np.asarray(arrays["image"], dtype=np.float32),
        spectra=np.asarray(arrays["spectra"], dtype=np.float32),
        axis=np.asarray(arrays["axis"], dtype=np.float64), axis_name=text("axis_name"),
        axis_units=text("axis_units"), signal_units=text("signal_units"),
        patch_scale=int(arrays["patch_scale"][()]) if "patch_scale" in arrays else 1,
        attribution=text("attribution", name), image_name=text("image_name"),
        scalar=np.asarray(arrays["scalar"], dtype=np.float64) if "scalar" in arrays else None,
    )


def load_file(path: Path) -> ReplayDataset:
    """Read a replay file (see the module doc for the formats)."""
    if not path.is_file():
        raise InstrumentError(f"replay file not found: {path}", path=str(path))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            return _from_arrays(path.stem, arrays)
    if path.suffix in (".h5", ".hdf5"):
        try:
            if path.name == BEPS_FILE:
                return beps_dataset("beps", *read_beps_loops(path), BEPS_ATTRIBUTION)
            return read_replay_h5(path)
        except ImportError as exc:
            raise InstrumentError("replaying HDF5 needs h5py: pip install "
                                  "'microscope-autopilot[hdf5]'") from exc
    raise InstrumentError(f"cannot replay {path}: expected .npz or .h5", path=str(path))


#: Dataset -> the packaged dataset replayed when its files (or its reader) are missing.
FALLBACKS = {"beps": "beps_crop"}


def load_target(target: str, data_dir: str | None = None) -> ReplayDataset:
    """A dataset name or a file path -> the dataset (see :data:`FALLBACKS`)."""
    if target in DATASETS:
        try:
            return load_dataset(target, data_dir=data_dir)
        except (FileNotFoundError, ImportError) as exc:
            if target not in FALLBACKS:
                raise _unavailable(target, exc) from exc
            log.warning("%s: %s; replaying the packaged %s instead", target, exc,
                        FALLBACKS[target])
            return load_dataset(FALLBACKS[target])
    return load_file(Path(target))


def _unavailable(target: str, exc: Exception) -> InstrumentError:
    if isinstance(exc, FileNotFoundError):
        return InstrumentError(f"dataset {target!r}: {exc}", target=target)
    return InstrumentError(f"dataset {target!r} needs an optional package: {exc}",
                           target=target)


@driver("replay", help="replay a recorded dataset: replay:NAME|PATH.npz|PATH.h5")
def make_replay(target: str, dwell_s: float | None = None, noise: float = 0.0, seed: int = 0,
                dose_per_point: float | None = None, data_dir: str | None = None,
                dwell: float | None = None) -> ReplayMicroscope:
    """Replay microscope factory (``dwell`` is the spec-string spelling of ``dwell_s``)."""
    dataset = load_target(target, data_dir)
    chosen = dwell_s if dwell_s is not None else dwell
    if chosen is None:
        chosen = DEFAULT_DWELL_S.get(target, 0.0)
    log.info("replaying %s (%s); dwell %.3g s", target, dataset.attribution, chosen)
    return ReplayMicroscope(dataset, name=f"replay:{target}", dwell_s=float(chosen),
                            noise=float(noise), seed=int(seed), dose_per_point=dose_per_point)
