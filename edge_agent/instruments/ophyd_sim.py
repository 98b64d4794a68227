"""A replay dataset as ``ophyd.sim`` devices: the rehearsal rig for the ophyd driver and the
bluesky agent.

Two ``SynAxis`` motors (``sample_y`` for rows, ``sample_x`` for columns), a ``SynSignal``
spectrum detector whose value is the recorded spectrum at the grid point nearest to the motors,
and a ``SynSignal`` camera whose value is the structural image. Moving the motors and
triggering the detector is all it takes, exactly as on a beamline.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_agent.instruments.datasets import ReplayDataset
from edge_agent.instruments.ophyd_driver import GridAxes, OphydDevices


def replay_devices(dataset: ReplayDataset, *, axes: GridAxes | None = None,
                   exposure_s: float = 0.0, noise: float = 0.0, seed: int = 0) -> OphydDevices:
    """Simulated devices over ``dataset``.

    Args:
        dataset: what the sample looks like.
        axes: grid index <-> motor position (default: one motor unit per grid point).
        exposure_s: the detector's exposure per trigger.
        noise: Gaussian noise std, relative to the spectra's std (0 = exact replay).
        seed: seeds the noise.
    """
    from ophyd.sim import SynAxis, SynSignal

    grid = GridAxes() if axes is None else axes
    rows, cols = dataset.grid_shape
    row_motor = SynAxis(name="sample_y", egu="")
    col_motor = SynAxis(name="sample_x", egu="")
    rng = np.random.default_rng(seed)
    noise_std = float(noise) * float(np.std(dataset.spectra)) if noise else 0.0

    def spectrum_here() -> npt.NDArray[np.float32]:
        # The nearest grid point, clamped to the sample like a real stage's soft limits.
        row, col = grid.index(row_motor.position, col_motor.position)
        row, col = min(max(row, 0), rows - 1), min(max(col, 0), cols - 1)
        spectrum = np.array(dataset.spectrum(row, col), dtype=np.float32, copy=True)
        if noise_std:
            spectrum += rng.normal(0.0, noise_std, spectrum.shape).astype(np.float32)
        return spectrum

    detector = SynSignal(func=spectrum_here, name="spectrum", exposure_time=exposure_s)
    camera = SynSignal(func=lambda: np.asarray(dataset.image, dtype=np.float32), name="image")
    return OphydDevices(
        row_motor=row_motor, col_motor=col_motor, detector=detector, camera=camera,
        grid_shape=(rows, cols), axes=grid, spectral_axis=np.asarray(dataset.axis, np.float64),
        name=f"ophyd:sim?dataset={dataset.name}", kind="ophyd-sim",
        attribution=dataset.attribution, axis_name=dataset.axis_name,
        axis_units=dataset.axis_units, signal_units=dataset.signal_units)
