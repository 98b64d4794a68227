"""Real data that ships inside the package, so that a wheel installed anywhere can replay.

``beps_crop``: the centre 24 x 24 points (rows and columns 13-36 of 50) of the BEPS
PbTiO3 loops (:func:`edge_agent.instruments.datasets.load_beps`), raw float32 loops and the
bias axis in ``data/beps_crop.npz`` (139 KB); ``data/README.md`` holds the attribution and how
the file was made. numpy reads it: no h5py, no data folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np

from edge_agent.instruments.datasets import (
    BEPS_ATTRIBUTION,
    ReplayDataset,
    beps_dataset,
    dataset,
)

#: The crop's place in the full 50 x 50 grid: rows and columns ``CROP_START : CROP_START + 24``.
CROP_START, CROP_SIZE = 13, 24
CROP_FILE = "beps_crop.npz"


def crop_file() -> Path:
    """Where the packaged crop is (inside the installed package)."""
    return Path(str(files("edge_agent.instruments") / "data" / CROP_FILE))


@dataset("beps_crop")
def load_beps_crop(data_dir: Path | str | None = None) -> ReplayDataset:
    """The packaged 24 x 24 crop of the BEPS loops (64 bias steps); needs numpy only."""
    del data_dir  # packaged, not read from a data folder
    with np.load(crop_file(), allow_pickle=False) as arrays:
        loops, volts = arrays["spectra"], arrays["axis"]
    return beps_dataset("beps_crop", loops, volts,
                        f"centre {CROP_SIZE} x {CROP_SIZE} crop of {BEPS_ATTRIBUTION}")
