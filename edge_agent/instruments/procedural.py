"""A deterministic procedural sample whose spectra depend on what the structural image shows.

Two kinds, both ``size x size`` with a spectrum at every pixel:

- ``"loops"``: a ferroelectric film. A smooth random field's sign gives up/down domains; the
  structural (PFM-like) image shows the domains, darker domain walls and a few bright pinning
  defects. Each pixel's hysteresis loop (64-step triangle sweep 0 -> +V -> 0 -> -V -> 0) has a
  coercive bias raised near defects and lowered at walls, an amplitude reduced at walls, an
  imprint set by the domain, noise and ~1% fit-failure outliers like real SHO fits.
- ``"peaks"``: particles in a matrix (HAADF-like image: bright discs). Each spectrum is a
  power-law background plus a plasmon-like peak whose energy and intensity depend on the
  particle's size and on the distance to its edge.

Same ``(size, seed, kind)``, same arrays, on any machine (numpy ``default_rng`` + FFT).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_agent.instruments.datasets import ReplayDataset

__all__ = ["procedural"]

FloatArray = npt.NDArray[np.float64]


def _smooth_field(rng: np.random.Generator, size: int, corr: float) -> FloatArray:
    """Unit-variance Gaussian random field with correlation length ``corr`` pixels."""
    noise = rng.standard_normal((size, size))
    k = np.fft.fftfreq(size)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    field = np.fft.ifft2(np.fft.fft2(noise) * np.exp(-2.0 * (np.pi * corr) ** 2 * k2)).real
    return np.asarray((field - field.mean()) / (field.std() + 1e-12), dtype=np.float64)


def _discs(
    rng: np.random.Generator, size: int, count: int, r_min: float, r_max: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Random discs: (signed distance to nearest disc edge, that disc's radius, inside mask)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dist = np.full((size, size), np.inf)
    radius = np.zeros((size, size))
    for _ in range(count):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(r_min, r_max)
        d = np.hypot(yy - cy, xx - cx) - r
        closer = d < dist
        dist = np.where(closer, d, dist)
        radius = np.where(closer, r, radius)
    return dist, radius, (dist < 0).astype(np.float64)


def _loops(rng: np.random.Generator, size: int) -> ReplayDataset:
    phi = _smooth_field(rng, size, corr=size / 14)
    gy, gx = np.gradient(phi)
    wall_dist = np.abs(phi) / (np.hypot(gy, gx) + 1e-6)
    wall = np.exp(-0.5 * (wall_dist / 1.5) ** 2)
    domain = np.sign(phi)
    defect_dist, _, _ = _discs(rng, size, count=max(3, size * size // 2500), r_min=1.5, r_max=4.0)
    pin = np.exp(-0.5 * (np.maximum(defect_dist, 0.0) / 4.0) ** 2)
    image = 0.8 * domain - 0.6 * wall + 1.2 * pin + 0.05 * rng.standard_normal((size, size))

    amplitude = 1.0 - 0.5 * wall + 0.3 * pin
    coercive = 3.0 + 2.5 * pin - 1.5 * wall + 0.3 * _smooth_field(rng, size, corr=size / 6)
    imprint = 0.6 * domain
    v_max = 8.5
    up = np.linspace(0.0, v_max, 17)
    volts = np.concatenate([up[:-1], up[::-1][:-1], -up[:-1], -up[::-1][:-1]])
    rising = np.diff(np.concatenate([volts, volts[:1]])) > 0
    width = 0.8
    v = volts[None, None, :]
    centre = (
        np.where(rising[None, None, :], coercive[..., None], -coercive[..., None])
        + imprint[..., None]
    )
    loops = amplitude[..., None] * np.tanh((v - centre) / width)
    loops += 0.03 * rng.standard_normal(loops.shape)
    outliers = rng.random(loops.shape) < 0.01
    loops = np.where(outliers, loops * rng.uniform(-300.0, 300.0, loops.shape), loops)
    return ReplayDataset(
        name="procedural",
        image=image.astype(np.float32),
        spectra=loops.astype(np.float32),
        axis=volts,
        axis_name="voltage",
        axis_units="V",
        signal_units="a.u.",
        patch_scale=1,
        attribution="procedural ferroelectric sample (edge_agent.instruments.procedural, seeded)",
        image_name="synthetic piezoresponse",
    )


def _peaks(rng: np.random.Generator, size: int) -> ReplayDataset:
    dist, radius, inside = _discs(
        rng, size, count=max(4, size * size // 900), r_min=3.0, r_max=12.0
    )
    image = inside * (0.6 + 0.04 * radius) + 0.1 * _smooth_field(rng, size, corr=size / 8)
    image += 0.03 * rng.standard_normal((size, size))
    energy = np.linspace(0.5, 4.5, 128)
    edge = np.exp(-0.5 * (dist / 2.0) ** 2)  # the edge mode lives at the particle boundary
    centre = 3.5 - 0.12 * radius - 0.6 * edge  # bigger particles and edges: lower energy
    strength = 0.2 + inside * (0.6 + 0.03 * radius) + 0.8 * edge
    e = energy[None, None, :]
    peak = strength[..., None] * np.exp(-0.5 * ((e - centre[..., None]) / 0.25) ** 2)
    background = 2.0 * e ** (-2.5)
    spectra = background + peak + 0.02 * rng.standard_normal((size, size, energy.size))
    return ReplayDataset(
        name="procedural",
        image=image.astype(np.float32),
        spectra=spectra.astype(np.float32),
        axis=energy,
        axis_name="energy loss",
        axis_units="eV",
        signal_units="a.u.",
        patch_scale=1,
        attribution="procedural particle sample (edge_agent.instruments.procedural, seeded)",
        image_name="synthetic HAADF",
    )


def procedural(size: int = 256, seed: int = 0, kind: str = "loops") -> ReplayDataset:
    """Generate the procedural sample ``kind`` (``"loops"`` or ``"peaks"``), ``size x size``."""
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    rng = np.random.default_rng(seed)
    if kind == "loops":
        return _loops(rng, size)
    if kind == "peaks":
        return _peaks(rng, size)
    raise ValueError(f"kind must be 'loops' or 'peaks', got {kind!r}")
