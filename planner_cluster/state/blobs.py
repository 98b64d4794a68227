"""Large arrays (big scans, 4D frames) live in a per-campaign HDF5 file; Redis keeps a
reference ``h5:<campaign>/<name>``. Written before the Redis reference, so no reference
ever dangles; rewriting the same name is idempotent (a resent measurement)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import PlannerError


class BlobStoreError(PlannerError, OSError):
    """The archive folder is missing, unwritable, or a reference points nowhere."""


class BlobStore:
    """HDF5 files under ``root``, one per campaign."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()  # h5py handles are not shared across threads

    def _path(self, campaign_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in campaign_id)
        return self.root / f"{safe}.h5"

    def put(self, campaign_id: str, name: str, array: NDArray[Any]) -> str:
        import h5py

        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock, h5py.File(self._path(campaign_id), "a") as f:
            if name in f:
                del f[name]
            f.create_dataset(name, data=np.asarray(array))
            f.flush()
        return f"h5:{campaign_id}/{name}"

    def get(self, reference: str) -> NDArray[Any]:
        import h5py

        if not reference.startswith("h5:") or "/" not in reference:
            raise BlobStoreError(f"not a blob reference: {reference!r}")
        campaign_id, name = reference[3:].split("/", 1)
        path = self._path(campaign_id)
        try:
            with self._lock, h5py.File(path, "r") as f:
                return np.asarray(f[name][()])
        except (OSError, KeyError) as exc:
            raise BlobStoreError(f"blob {reference!r} is missing from {path}: {exc}") from None
