"""Serve a replay dataset over Pyro5 as a DTMicroscope-style digital twin, so that a facility
can rehearse a campaign across two machines: ``autopilot edge serve-twin beps`` on one, the
edge with ``--instrument twin:HOST:PORT`` on the other.

The served object answers the calls :mod:`edge_agent.instruments.pyro_twin` makes (the
DTMicroscope interface), with arrays in DTMicroscope's wire form ``(lists, shape, dtype)``.
Grid point ``(row, col)`` sits at ``x = col / (cols - 1)``, ``y = row / (rows - 1)`` (the unit
square, DTMicroscope's default when a dataset has no coordinates); ``go_to`` clamps to it and
``get_spectrum`` returns the spectrum at the nearest grid point. ``get_dataset_info`` adds
``grid_shape``, ``attribution`` and ``axis`` (name, units, signal units) pairs to
DTMicroscope's list. One microscope is shared by every connection.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import Pyro5.api

from edge_agent.errors import ConfigError
from edge_agent.instruments.datasets import ReplayDataset
from edge_agent.instruments.pyro_twin import OBJECT_ID

log = logging.getLogger(__name__)


def wire_array(array: npt.NDArray[Any]) -> tuple[list[Any], tuple[int, ...], str]:
    """An array in DTMicroscope's wire form."""
    return array.tolist(), tuple(int(n) for n in array.shape), str(array.dtype)


@Pyro5.api.expose
class ReplayTwin:
    """The replay microscope behind DTMicroscope's remote interface.

    Args:
        dataset: what to serve.
        noise: Gaussian noise std, relative to the spectra's std (0 = exact replay).
        seed: seeds the noise.
    """

    def __init__(self, dataset: ReplayDataset, *, noise: float = 0.0, seed: int = 0) -> None:
        self.dataset = dataset
        self._rows, self._cols = dataset.grid_shape
        self._x_coords = np.linspace(0.0, 1.0, self._cols)
        self._y_coords = np.linspace(0.0, 1.0, self._rows)
        self._noise_std = float(noise) * float(np.std(dataset.spectra)) if noise else 0.0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # Pyro5 serves each connection on its own thread
        self._x = float(self._x_coords[self._cols // 2])  # the probe starts in the middle
        self._y = float(self._y_coords[self._rows // 2])

    def initialize_microscope(self, microscope: str = "AFM",
                              data_path: str | None = None) -> None:
        log.info("initialize_microscope(%s, %s): this twin serves %s, chosen at start",
                 microscope, data_path, self.dataset.name)

    def setup_microscope(self, data_source: str | None = None,
                         dset_subset: str | None = None) -> None:
        log.info("setup_microscope(%s): nothing to load", data_source)

    def get_dataset_info(self) -> list[tuple[str, list[Any]]]:
        image_name = self.dataset.image_name or "image"
        return [
            ("channels", [image_name, "spectra"]),
            ("signals", [image_name, self.dataset.axis_name or "spectrum"]),
            ("units", ["", self.dataset.signal_units]),
            ("scans", [0]),
            ("spectra", [1]),
            ("point_clouds", []),
            ("grid_shape", [self._rows, self._cols]),
            ("attribution", [self.dataset.attribution]),
            ("axis", [self.dataset.axis_name, self.dataset.axis_units,
                      self.dataset.signal_units]),
        ]

    @property
    def x_min(self) -> float:
        return 0.0

    @property
    def x_max(self) -> float:
        return 1.0

    @property
    def y_min(self) -> float:
        return 0.0

    @property
    def y_max(self) -> float:
        return 1.0

    @property
    def x(self) -> float:
        return self._x

    @property
    def y(self) -> float:
        return self._y

    def get_scan(self, channels: list[str] | None = None, modification: Any = None,
                 scan_rate: float | None = None) -> tuple[list[Any], tuple[int, ...], str]:
        image = np.asarray(self.dataset.image, dtype=np.float32)
        stack = image[np.newaxis] if image.ndim == 2 else np.moveaxis(image, -1, 0)
        return wire_array(stack)

    def go_to(self, x: float, y: float) -> bool:
        with self._lock:
            self._x = min(max(float(x), 0.0), 1.0)
            self._y = min(max(float(y), 0.0), 1.0)
        return True

    def get_spectrum(self) -> tuple[tuple[list[Any], tuple[int, ...], str],
                                    tuple[list[Any], tuple[int, ...], str]]:
        with self._lock:
            col = int(np.argmin(np.abs(self._x_coords - self._x)))
            row = int(np.argmin(np.abs(self._y_coords - self._y)))
            spectrum = np.array(self.dataset.spectrum(row, col), dtype=np.float32, copy=True)
            if self._noise_std:
                spectrum += self._rng.normal(0.0, self._noise_std,
                                             spectrum.shape).astype(np.float32)
        return wire_array(np.asarray(self.dataset.axis, np.float64)), wire_array(spectrum)


class TwinServer:
    """A Pyro5 daemon serving one :class:`ReplayTwin` on ``host:port`` (0: a free port).

    ``serve()`` blocks until :meth:`shutdown` (from any thread); ``uri`` is known at once.
    """

    def __init__(self, twin: ReplayTwin, host: str = "127.0.0.1", port: int = 9092) -> None:
        self.twin = twin
        self.daemon = Pyro5.api.Daemon(host=host, port=port)
        self.uri = str(self.daemon.register(twin, objectId=OBJECT_ID))
        self._running = True

    @property
    def spec(self) -> str:
        """The edge's instrument spec for this server."""
        host, port = self.daemon.locationStr.rsplit(":", 1)
        return f"twin:{host}:{port}"

    def serve(self) -> None:
        log.info("serving %s at %s", self.twin.dataset.name, self.uri)
        self.daemon.requestLoop(loopCondition=lambda: self._running)
        self.daemon.close()

    def shutdown(self) -> None:
        self._running = False
        self.daemon.shutdown()


def load_served_dataset(text: str, data_dir: str | None = None) -> ReplayDataset:
    """What ``serve-twin`` serves: a ``replay:``/``sim:`` spec, a dataset name or a file."""
    from edge_agent.instruments.registry import make_instrument
    from edge_agent.instruments.replay import ReplayMicroscope, load_target

    kind = text.partition(":")[0]
    if kind not in ("replay", "sim"):
        return load_target(text, data_dir)
    instrument = make_instrument(text, dwell_s=0.0,
                                 data_dir=data_dir if kind == "replay" else None)
    if not isinstance(instrument, ReplayMicroscope):
        raise ConfigError(f"{text} is not a replay", field="dataset")
    return instrument.dataset


def serve_until_stopped(server: TwinServer) -> None:
    """Serve on a thread until SIGINT or SIGTERM (the main thread only waits for them)."""
    stopped = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopped.set())
                for signum in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve, name="twin-server", daemon=True)
    thread.start()
    try:
        while not stopped.wait(0.5) and thread.is_alive():
            pass
    finally:
        server.shutdown()
        thread.join(10)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
