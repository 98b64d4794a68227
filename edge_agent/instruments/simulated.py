"""The simulated microscope: a procedural sample of any size, deterministic by seed.

``sim:loops`` (alias ``sim:ferroelectric``): ferroelectric domains with hysteresis loops;
``sim:peaks`` (alias ``sim:particles``): particles with EELS-like plasmon peaks. Parameters:
``size`` (default 256), ``seed`` (sample and noise), ``dwell`` / ``dwell_s``, ``noise``,
``dose_per_point``. The sample comes from :mod:`edge_agent.instruments.procedural`; this
driver only plays it back, exactly like the replay microscope.
"""

from __future__ import annotations

from edge_agent.instruments.procedural import procedural
from edge_agent.instruments.registry import driver
from edge_agent.instruments.replay import ReplayMicroscope

KINDS = {"loops": "loops", "ferroelectric": "loops", "peaks": "peaks", "particles": "peaks",
         "eels": "peaks"}


class SimulatedMicroscope(ReplayMicroscope):
    """A :class:`ReplayMicroscope` over a generated sample (``info.kind == "simulated"``)."""


@driver("sim", help="simulated sample: sim:loops|peaks?size=256&seed=0")
def make_simulated(target: str = "loops", size: int = 256, seed: int = 0,
                   dwell_s: float | None = None, noise: float = 0.0,
                   dose_per_point: float | None = None,
                   dwell: float | None = None) -> SimulatedMicroscope:
    """Simulated microscope factory."""
    kind = KINDS.get(target or "loops")
    if kind is None:
        raise ValueError(f"unknown sample {target!r}; choose from {sorted(KINDS)}")
    dataset = procedural(size=int(size), seed=int(seed), kind=kind)
    chosen = dwell_s if dwell_s is not None else (dwell if dwell is not None else 0.0)
    return SimulatedMicroscope(
        dataset, name=f"sim:{target}?size={size}&seed={seed}", dwell_s=float(chosen),
        noise=float(noise), seed=int(seed), dose_per_point=dose_per_point, kind="simulated")
