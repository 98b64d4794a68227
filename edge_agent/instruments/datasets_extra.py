"""More replay datasets: real SEM-EDS spectrum images and the synthetic ``particles`` sample.

- ``sem_eds`` / ``sem_eds_hitachi``: Bruker ``.bcf`` files from the rosettasciio test data
  (GPL-3.0), read from ``data_dir`` with ``rsciio`` (imported inside the loader) and never
  copied into this package.
- ``particles``: a polycrystal with a few dozen particles whose spectra light up only where a
  particle touches a grain boundary (~1-3 % of points); numpy only, deterministic from ``seed``,
  with the exact noise-free peak amplitude as the dataset's ``scalar``.

:mod:`edge_agent.instruments.datasets` imports this module, so the registry always holds these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from edge_agent.instruments.datasets import ReplayDataset, _file, dataset

__all__ = ["Microstructure", "load_particles", "load_sem_eds", "load_sem_eds_hitachi",
           "microstructure"]

FloatArray = npt.NDArray[np.float64]

_ROSETTA = (
    "rosettasciio test data (hyperspy/rosettasciio rsciio/tests/data/bruker, GPL-3.0); "
    "read from shared/data, never copied into the package"
)


def _read_bcf(path: Path) -> tuple[npt.NDArray[Any], npt.NDArray[Any], FloatArray, str]:
    """(grid image, EDS cube rows x cols x channels, energy axis, its units) of a ``.bcf``."""
    from rsciio.bruker import file_reader  # optional dependency (planner extra)

    signals = file_reader(str(path))
    eds = next((s for s in signals if np.ndim(s["data"]) == 3), None)
    if eds is None:
        raise ValueError(f"{path}: no EDS spectrum image in the file")
    cube = np.asarray(eds["data"])
    names = [str(a.get("name", "")).lower() for a in eds["axes"]]
    at = names.index("energy") if "energy" in names else cube.ndim - 1
    energy = eds["axes"][at]
    cube = np.moveaxis(cube, at, -1)
    # The image recorded on the same grid as the EDS map (Bruker also stores an overview).
    image = next((
        np.asarray(s["data"]) for s in signals
        if np.ndim(s["data"]) == 2 and np.shape(s["data"]) == cube.shape[:2]
    ), None)
    if image is None:
        raise ValueError(f"{path}: no image on the EDS grid {cube.shape[:2]}")
    axis = float(energy.get("offset", 0.0)) + float(energy.get("scale", 1.0)) * np.arange(
        cube.shape[-1], dtype=np.float64
    )
    return image, cube, axis, str(energy.get("units", "keV"))


@dataset("sem_eds")
def load_sem_eds(data_dir: Path | str | None = None) -> ReplayDataset:
    """Bruker Esprit SEM-EDS map: 50 x 50 grid, 2048-channel spectra (~380 counts per point)."""
    name = "bcf_v2_50x50px.bcf"
    image, cube, axis, units = _read_bcf(_file(data_dir, name))
    return ReplayDataset(
        name="sem_eds", image=image.astype(np.float32),
        spectra=np.ascontiguousarray(cube, dtype=np.float32), axis=axis, axis_name="energy",
        axis_units=units, signal_units="counts", patch_scale=1,
        attribution=f"{name}, {_ROSETTA}", image_name="SEM image",
    )


@dataset("sem_eds_hitachi")
def load_sem_eds_hitachi(data_dir: Path | str | None = None, binning: int = 8) -> ReplayDataset:
    """Hitachi TM3030Plus SEM-EDS map (240 x 320 pixels, ~2 counts each) binned ``binning`` x
    ``binning`` (summed) to a 30 x 40 grid under the full-resolution SEM image."""
    name = "Hitachi_TM3030Plus.bcf"
    image, cube, axis, units = _read_bcf(_file(data_dir, name))
    rows, cols = cube.shape[0] // binning, cube.shape[1] // binning
    # Sum in float: the counts are uint8.
    binned = (
        cube[: rows * binning, : cols * binning]
        .astype(np.float32)
        .reshape(rows, binning, cols, binning, -1)
        .sum(axis=(1, 3))
    )
    return ReplayDataset(
        name="sem_eds_hitachi", image=image.astype(np.float32), spectra=binned, axis=axis,
        axis_name="energy", axis_units=units, signal_units=f"counts per {binning}x{binning} px",
        patch_scale=binning, attribution=f"{name}, {_ROSETTA}", image_name="SEM image",
    )


class Microstructure(NamedTuple):
    """The hidden structure of a ``particles`` sample, per pixel (``size x size``)."""

    grain: npt.NDArray[np.int64]  # grain index
    boundary_distance: FloatArray  # px to the nearest grain boundary (Voronoi bisector)
    particle_distance: FloatArray  # px to the nearest particle edge, < 0 inside one


def microstructure(size: int = 64, seed: int = 0) -> Microstructure:
    """Voronoi grains and round particles of the ``particles`` sample ``(size, seed)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((size, size), dtype=np.float64)
    # One pass per seed / particle keeps memory at a few images whatever the size.
    seeds = rng.uniform(0, size, (max(4, size * size // 150), 2))
    near = np.full((size, size), np.inf)  # squared distance to the own grain's seed
    grain = np.zeros((size, size), dtype=np.int64)
    for k, (y, x) in enumerate(seeds):
        d2 = (yy - y) ** 2 + (xx - x) ** 2
        grain = np.where(d2 < near, k, grain)
        near = np.minimum(d2, near)
    own = seeds[grain]
    boundary = np.full((size, size), np.inf)
    for k, (y, x) in enumerate(seeds):
        # Distance to the bisector between the own seed and seed k (exact Voronoi geometry).
        gap = np.hypot(own[..., 0] - y, own[..., 1] - x)
        with np.errstate(divide="ignore", invalid="ignore"):
            to_bisector = ((yy - y) ** 2 + (xx - x) ** 2 - near) / (2.0 * gap)
        boundary = np.where(grain == k, boundary, np.minimum(boundary, to_bisector))
    centres = rng.uniform(0, size, (max(3, size * size // 160), 2))
    radii = rng.uniform(1.2, 2.6, (centres.shape[0],))
    particle = np.full((size, size), np.inf)
    for (y, x), r in zip(centres, radii, strict=True):
        particle = np.minimum(particle, np.hypot(yy - y, xx - x) - r)
    return Microstructure(grain=grain, boundary_distance=boundary, particle_distance=particle)


@dataset("particles")
def load_particles(
    size: int = 64, seed: int = 0, data_dir: Path | str | None = None
) -> ReplayDataset:
    """Synthetic polycrystal with particles; the signal is at particle/boundary contacts.

    The image shows grains (one intensity each), darker boundaries ~3 px wide and bright
    particles. Each spectrum (128 channels, 0.5-10.5 keV, counts with Poisson noise) is a
    continuum plus a matrix line (Fe K-alpha, 6.40 keV) everywhere plus a segregation line
    (Cu K-alpha, 8.05 keV) whose amplitude, the ``scalar``, is large only where a particle meets
    a grain boundary: particles inside grains and bare boundaries look alike in the image but
    stay dark in this line.
    """
    del data_dir  # generated, not read
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    s = microstructure(size, seed)
    rng = np.random.default_rng([seed, 1])  # noise stream apart from the structure's
    brightness = rng.uniform(0.35, 0.85, int(s.grain.max()) + 1)[s.grain]
    boundary = np.exp(-0.5 * (s.boundary_distance / 1.2) ** 2)
    coverage = np.clip(0.5 - s.particle_distance, 0.0, 1.0)  # anti-aliased disc
    image = brightness * (1.0 - 0.45 * boundary)
    image = image * (1.0 - coverage) + 1.4 * coverage + 0.03 * rng.standard_normal(image.shape)

    # Sharp on purpose: the contact patches are what makes the sites rare (~2 % of points).
    contact = np.exp(-0.5 * (np.maximum(s.particle_distance, 0.0) / 0.45) ** 2) * np.exp(
        -0.5 * (s.boundary_distance / 0.45) ** 2
    )
    scalar = 1.0 + 0.5 * coverage + 40.0 * contact  # counts at the line's centre
    energy = np.linspace(0.5, 10.5, 128)
    e = energy[None, None, :]
    continuum = 12.0 * np.exp(-e / 2.5)
    matrix = (20.0 * brightness * (1.0 - coverage))[..., None] * np.exp(
        -0.5 * ((e - 6.40) / 0.12) ** 2
    )
    line = scalar[..., None] * np.exp(-0.5 * ((e - 8.05) / 0.12) ** 2)
    spectra = rng.poisson(continuum + matrix + line).astype(np.float32)
    return ReplayDataset(
        name="particles", image=image.astype(np.float32), spectra=spectra, axis=energy,
        axis_name="energy", axis_units="keV", signal_units="counts", patch_scale=1,
        attribution="synthetic polycrystal with particles (edge_agent.instruments."
        "datasets_extra, seeded)", image_name="synthetic SEM (BSE-like)",
        scalar=scalar.astype(np.float64),
    )
