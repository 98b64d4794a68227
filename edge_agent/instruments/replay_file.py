"""The replay dataset file: one :class:`ReplayDataset` in an HDF5 file (``.h5``).

Layout (``docs/datasets.md`` has the full description):

- datasets ``image`` (``H x W`` or ``H x W x C`` float32), ``spectra`` (``h x w x L`` float32),
  ``axis`` (``L`` float64) and, optionally, ``scalar`` (``h x w`` float64, a precomputed
  target);
- root attributes ``name``, ``patch_scale`` (int), ``axis_name``, ``axis_units``,
  ``signal_units``, ``attribution``, ``image_name``, ``format`` and ``format_version``.

``(h, w) == (H // patch_scale, W // patch_scale)``: grid point ``(i, j)`` sits on structural
pixel ``(patch_scale * i + patch_scale // 2, patch_scale * j + patch_scale // 2)``.

Both directions validate shapes and finiteness and raise ``ValueError`` naming the file. A
hand-made file may leave out the attributes (text defaults to ``""``, ``name`` to the file's
stem, ``patch_scale`` to 1), but one declaring another format or a newer version is refused.
h5py is imported inside the functions: the edge needs it only to replay such files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.instruments.datasets import ReplayDataset

__all__ = ["FORMAT", "FORMAT_VERSION", "read_replay_h5", "write_replay_h5"]

FORMAT = "microscope-autopilot replay"
FORMAT_VERSION = 1
_TEXT = ("axis_name", "axis_units", "signal_units", "attribution", "image_name")


def _validate(
    source: Path,
    image: npt.NDArray[Any],
    spectra: npt.NDArray[Any],
    axis: npt.NDArray[Any],
    scalar: npt.NDArray[Any] | None,
    patch_scale: int,
) -> None:
    """Raise ``ValueError`` naming ``source`` and the first problem found."""

    def fail(problem: str) -> None:
        raise ValueError(f"replay file {source}: {problem}")

    arrays = {"image": image, "spectra": spectra, "axis": axis}
    if scalar is not None:
        arrays["scalar"] = scalar
    for key, arr in arrays.items():
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            fail(f"{key} has dtype {arr.dtype}; expected real numbers")
    if image.ndim not in (2, 3):
        fail(f"image must be H x W or H x W x C, got shape {image.shape}")
    if spectra.ndim != 3:
        fail(f"spectra must be rows x cols x channels, got shape {spectra.shape}")
    if patch_scale < 1:
        fail(f"patch_scale must be >= 1, got {patch_scale}")
    grid = (image.shape[0] // patch_scale, image.shape[1] // patch_scale)
    if spectra.shape[:2] != grid:
        fail(
            f"spectra grid {spectra.shape[:2]} != image {image.shape[:2]} // patch_scale "
            f"{patch_scale} = {grid}"
        )
    if axis.shape != (spectra.shape[2],):
        fail(f"axis shape {axis.shape} does not match {spectra.shape[2]} spectrum channels")
    if scalar is not None and scalar.shape != grid:
        fail(f"scalar shape {scalar.shape} does not match the spectra grid {grid}")
    for key, arr in arrays.items():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            fail(f"{key} holds {bad} non-finite value(s) (NaN or inf)")


def write_replay_h5(dataset: ReplayDataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` (gzip-compressed; replaced atomically) and return it."""
    import h5py  # the edge's optional [hdf5] extra

    out = Path(path)
    _validate(out, dataset.image, dataset.spectra, dataset.axis, dataset.scalar,
              dataset.patch_scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    arrays: dict[str, npt.NDArray[Any]] = {
        "image": np.asarray(dataset.image, dtype=np.float32),
        "spectra": np.asarray(dataset.spectra, dtype=np.float32),
        "axis": np.asarray(dataset.axis, dtype=np.float64),
    }
    if dataset.scalar is not None:
        arrays["scalar"] = np.asarray(dataset.scalar, dtype=np.float64)
    try:
        with h5py.File(tmp, "w") as f:
            for key, arr in arrays.items():
                f.create_dataset(key, data=arr, compression="gzip", shuffle=True)
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["name"] = dataset.name
            f.attrs["patch_scale"] = int(dataset.patch_scale)
            for key in _TEXT:
                f.attrs[key] = str(getattr(dataset, key))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _text(attrs: Any, key: str, default: str) -> str:
    value = attrs.get(key, default)
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_replay_h5(path: str | Path) -> ReplayDataset:
    """Read and validate a replay file written by :func:`write_replay_h5` (or by hand)."""
    import h5py  # the edge's optional [hdf5] extra

    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"replay file not found: {src}")
    try:
        f = h5py.File(src, "r")
    except OSError as exc:
        raise ValueError(f"replay file {src}: not a readable HDF5 file ({exc})") from exc
    with f:
        fmt = _text(f.attrs, "format", FORMAT)
        if fmt != FORMAT:
            raise ValueError(f"replay file {src}: format is {fmt!r}, expected {FORMAT!r}")
        version = int(f.attrs.get("format_version", FORMAT_VERSION))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"replay file {src}: format_version {version} is newer than this reader "
                f"({FORMAT_VERSION}); upgrade microscope-autopilot"
            )
        required = ("image", "spectra", "axis")
        missing = [k for k in required if not isinstance(f.get(k), h5py.Dataset)]
        if missing:
            raise ValueError(f"replay file {src}: missing dataset(s) {', '.join(missing)}")
        image, spectra, axis = (np.asarray(f[k][()]) for k in required)
        scalar = np.asarray(f["scalar"][()]) if "scalar" in f else None
        raw_scale = f.attrs.get("patch_scale", 1)
        if np.ndim(raw_scale) != 0 or int(raw_scale) != raw_scale:
            raise ValueError(f"replay file {src}: patch_scale {raw_scale!r} is not an integer")
        scale = int(raw_scale)
        texts = {k: _text(f.attrs, k, "") for k in _TEXT}
        name = _text(f.attrs, "name", src.stem)
    _validate(src, image, spectra, axis, scalar, scale)
    return ReplayDataset(
        name=name, image=image.astype(np.float32, copy=False),
        spectra=spectra.astype(np.float32, copy=False), axis=axis.astype(np.float64, copy=False),
        patch_scale=scale, scalar=None if scalar is None else scalar.astype(np.float64, copy=False),
        **texts,
    )
