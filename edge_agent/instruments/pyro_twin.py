"""A microscope served over Pyro5 with the interface of pycroscopy's DTMicroscope digital twin.

Spec: ``twin:HOST:PORT`` (object ``microscope.server``, DTMicroscope's name) or
``twin:PYRO:OBJECT@HOST:PORT``. Parameters: ``dwell`` / ``dwell_s`` (waited here, between
``go_to`` and ``get_spectrum``; interruptible by :meth:`ServedMicroscope.stop`), ``grid``
(``ROWSxCOLS``, the spectroscopy grid when the server does not report one), ``timeout``
(seconds per remote call), and for a DTMicroscope server that must first load its data:
``microscope`` (``AFM``, ``STEM``...), ``data_path``, ``data_source``.

The remote calls used are DTMicroscope's: ``initialize_microscope``, ``setup_microscope``,
``get_dataset_info`` (a list of ``(name, values)`` pairs), the properties ``x_min``,
``x_max``, ``y_min``, ``y_max``, ``get_scan()`` -> ``(values, shape, dtype)`` of a
``channels x H x W`` stack, ``go_to(x, y)`` and ``get_spectrum()`` -> ``((axis...),
(spectrum...))`` at the probe. Grid rows run along y, columns along x, evenly spaced over
``[min, max]``. A server that also reports ``grid_shape``, ``attribution`` and ``axis`` pairs in its
dataset info (``autopilot edge serve-twin`` does) describes its grid itself.

Pyro5 is imported when a driver is made (``pip install 'microscope-autopilot[twin]'``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.errors import AcquisitionStopped, ConfigError, InstrumentError
from edge_agent.instruments.base import InstrumentInfo, ReportingBase
from edge_agent.instruments.registry import driver

#: The object id DTMicroscope's servers register their microscope under.
OBJECT_ID = "microscope.server"


def served_array(triple: Any) -> npt.NDArray[Any]:
    """DTMicroscope's wire form of an array, ``(nested lists, shape, dtype)``, as an array."""
    values, shape, dtype = triple
    return np.asarray(values, dtype=np.dtype(dtype)).reshape([int(n) for n in shape])


def twin_uri(target: str) -> str:
    """``HOST:PORT`` or a full ``PYRO:`` URI -> the URI."""
    if target.startswith("PYRO:"):
        return target
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"twin:{target}: expected twin:HOST:PORT or twin:PYRO:OBJECT@HOST:PORT",
                          field="instrument")
    return f"PYRO:{OBJECT_ID}@{host}:{port}"


class ServedMicroscope(ReportingBase):
    """Implements :class:`~edge_agent.instruments.base.Instrument` over a Pyro5 proxy.

    Connecting takes one scan (the image's shape is part of ``info``; the first :meth:`scan`
    returns that image) and reads the spectrum at the probe once (its axis and length).
    """

    def __init__(self, uri: str, *, dwell_s: float = 0.0, timeout_s: float = 30.0,
                 grid_shape: tuple[int, int] | None = None,
                 setup: dict[str, Any] | None = None) -> None:
        from Pyro5.api import Proxy

        self.uri = uri
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proxy = Proxy(uri)
        self._proxy._pyroTimeout = timeout_s
        setup = setup or {}
        if "microscope" in setup:
            self._call("initialize_microscope", **{k: setup[k] for k in ("microscope", "data_path")
                                                   if k in setup})
        if "data_source" in setup:
            self._call("setup_microscope", data_source=setup["data_source"])
        described = {str(pair[0]): list(pair[1]) for pair in self._call("get_dataset_info")}
        self._bounds = tuple(float(self._call(name)) for name in ("x_min", "x_max", "y_min",
                                                                    "y_max"))
        self._first_image: npt.NDArray[np.float32] | None = self._fetch_image()
        axis, spectrum = (served_array(t) for t in self._call("get_spectrum"))
        self._axis = np.asarray(axis, dtype=np.float64).reshape(-1)
        image_shape = self._first_image.shape
        rows, cols = (grid_shape or tuple(int(n) for n in described.get("grid_shape", []))
                      or image_shape[:2])
        scale = image_shape[0] // rows
        if scale < 1 or image_shape[0] != rows * scale or image_shape[1] != cols * scale:
            raise ConfigError(f"{uri}: image {image_shape} is not a whole multiple of the grid "
                              f"{rows} x {cols}", field="instrument")
        names = described.get("channels", [])
        channels = tuple(str(names[i]) for i in described.get("scans", []) if i < len(names))
        axis_name, axis_units, signal_units = [*map(str, described.get("axis", [])), "", "", ""][:3]
        self._info = InstrumentInfo(
            name=f"twin:{uri}", kind="twin", grid_shape=(rows, cols), image_shape=image_shape,
            patch_scale=scale, spectrum_length=int(spectrum.size),
            spectrum_dtype=np.dtype(np.float32).str, dwell_s=float(dwell_s),
            channels=channels, axis_name=axis_name, axis_units=axis_units,
            signal_units=signal_units,
            attribution=" ".join(str(a) for a in described.get("attribution", [])))

    def scan(self) -> npt.NDArray[np.float32]:
        image, self._first_image = self._first_image, None
        return image if image is not None else self._fetch_image()

    def move_to(self, row: int, col: int) -> None:
        self._info.check_bounds(row, col)
        self._call("go_to", *self._physical(row, col))
        self._position = (row, col)

    def acquire(self, row: int, col: int) -> npt.NDArray[np.float32]:
        self.move_to(row, col)
        if self._stop.wait(self._info.dwell_s) or self._stop.is_set():
            self._stop.clear()
            raise AcquisitionStopped(f"acquisition at ({row}, {col}) stopped", row=row, col=col)
        _, spectrum = self._call("get_spectrum")
        return served_array(spectrum).astype(np.float32).reshape(-1)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._proxy._pyroClaimOwnership()
            self._proxy._pyroRelease()

    def _physical(self, row: int, col: int) -> tuple[float, float]:
        """Grid point -> the server's (x, y)."""
        x_min, x_max, y_min, y_max = self._bounds
        rows, cols = self._info.grid_shape
        x = x_min + (x_max - x_min) * col / (cols - 1) if cols > 1 else x_min
        y = y_min + (y_max - y_min) * row / (rows - 1) if rows > 1 else y_min
        return x, y

    def _fetch_image(self) -> npt.NDArray[np.float32]:
        stack = served_array(self._call("get_scan")).astype(np.float32)
        if stack.ndim == 2:
            return stack
        # channels x H x W -> H x W (one channel) or H x W x C, the edge's layout.
        return stack[0] if stack.shape[0] == 1 else np.moveaxis(stack, 0, -1)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """One remote call or property read; the worker thread and the agent's thread take
        turns on the proxy (a Pyro5 proxy belongs to one thread at a time)."""
        from Pyro5.errors import CommunicationError

        with self._lock:
            self._proxy._pyroClaimOwnership()
            try:
                member = getattr(self._proxy, name)
                return member(*args, **kwargs) if callable(member) else member
            except CommunicationError as exc:
                raise InstrumentError(f"the served microscope at {self.uri} is unreachable: "
                                      f"{exc}", uri=self.uri, call=name) from exc
            except Exception as exc:  # raised on the server, re-raised here by Pyro5
                raise InstrumentError(f"the served microscope refused {name}: "
                                      f"{type(exc).__name__}: {exc}", uri=self.uri,
                                      call=name) from exc


def _grid(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    rows, sep, cols = str(text).lower().partition("x")
    if not sep or not rows.isdigit() or not cols.isdigit():
        raise ConfigError(f"grid {text!r}: expected ROWSxCOLS, e.g. 50x50", field="instrument")
    return int(rows), int(cols)


@driver("twin", help="a microscope served over Pyro5 (DTMicroscope): twin:HOST:PORT")
def make_twin(target: str, dwell_s: float | None = None, dwell: float | None = None,
              grid: str | None = None, timeout: float = 30.0, microscope: str | None = None,
              data_path: str | None = None, data_source: str | None = None,
              noise: float = 0.0, seed: int = 0) -> ServedMicroscope:
    """Served-microscope factory. ``seed`` is taken (every driver gets the common flags) and
    unused; ``noise`` belongs to the server (``serve-twin --noise``)."""
    if noise:
        raise ConfigError("a served microscope adds its own noise: serve-twin --noise",
                          field="instrument")
    setup = {k: v for k, v in (("microscope", microscope), ("data_path", data_path),
                               ("data_source", data_source)) if v is not None}
    chosen = dwell_s if dwell_s is not None else (dwell if dwell is not None else 0.0)
    return ServedMicroscope(twin_uri(target), dwell_s=float(chosen), timeout_s=float(timeout),
                            grid_shape=_grid(grid), setup=setup)
