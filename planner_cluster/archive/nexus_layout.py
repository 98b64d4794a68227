"""What the writer and the reader of the NeXus archive share: names, the format tag, time and
grid conversions. The layout itself is described in docs/archive.md."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .content import ArchiveData, Array

__all__ = ["DEFINITIONS", "FORMAT", "FORMAT_VERSION", "from_iso", "from_lattice", "iso",
           "lattice_index", "to_lattice"]

FORMAT = "microscope-autopilot campaign archive"
FORMAT_VERSION = 2

#: The FAIRmat application definition each technique follows (as far as it fits).
DEFINITIONS = {"spm": "NXspm", "afm": "NXafm", "sts": "NXsts", "stm": "NXstm", "em": "NXem",
               "eels": "NXem", "eds": "NXem"}


def iso(t: float | Array) -> Any:
    """Unix seconds as ISO 8601 with microseconds and the UTC offset (arrays: a list)."""
    if np.ndim(t):
        return [iso(float(x)) for x in np.asarray(t).reshape(-1)]
    if not np.isfinite(t):
        return ""
    return datetime.fromtimestamp(float(t), UTC).isoformat(timespec="microseconds")


def from_iso(values: Any) -> Array:
    """Inverse of :func:`iso` for a sequence of byte or text strings (empty: NaN)."""
    out = []
    for v in np.asarray(values).reshape(-1):
        s = v.decode() if isinstance(v, bytes) else str(v)
        out.append(datetime.fromisoformat(s).timestamp() if s else np.nan)
    return np.array(out, np.float64)


def field_name(name: str) -> str:
    """A spectral axis name usable as an HDF5 dataset name."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    return cleaned if cleaned and cleaned not in ("measurement", "spectra") else "channel"


def lattice_index(a: ArchiveData, coords: Array) -> tuple[Array, Array]:
    """Map rows and columns on the candidate lattice of grid points ``coords`` (``k x 2``)."""
    xy = np.asarray(coords, np.int64).reshape(-1, 2)
    return xy[:, 0] // a.stride, xy[:, 1] // a.stride


def to_lattice(a: ArchiveData, coords: Array, values: Array) -> Array:
    """Values at candidate grid points as maps on the lattice (NaN elsewhere); ``values``
    ``... x k`` becomes ``... x rows x cols``."""
    values = np.asarray(values, np.float64)
    out = np.full((*values.shape[:-1], *a.map_shape), np.nan)
    rows, cols = lattice_index(a, coords)
    out[..., rows, cols] = values
    return out


def from_lattice(a: ArchiveData, coords: Array, maps: Array) -> Array:
    """Inverse of :func:`to_lattice`."""
    rows, cols = lattice_index(a, coords)
    return np.asarray(maps)[..., rows, cols]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True)


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted attribute names with HDF5-friendly values."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_settings(value, f"{name}."))
        elif value is None:
            out[name] = "none"
        elif isinstance(value, list | tuple):
            out[name] = dumps(list(value))
        else:
            out[name] = value
    return out
