"""The driver registry: instrument spec strings -> instruments.

A spec is ``KIND:TARGET[?key=value&...]``, for example ``replay:beps``,
``replay:/data/run7.npz?dwell=0.5&noise=0.02`` or ``sim:loops?size=256&seed=1``. Drivers
register a factory under ``KIND`` with :func:`driver`; the factory receives ``TARGET`` and the
parameters (query values parsed as int, float or bool where they look like one; keyword
arguments to :func:`make_instrument` override the query).

Built-in drivers live in :data:`BUILTIN_MODULES`. Installed packages add drivers through the
``microscope_autopilot.drivers`` entry-point group (docs/edge.md, "Driver plug-ins"): the entry
point's name is the driver kind, its value a factory (``pkg.module:make_thing``) or a module
whose ``@driver`` decorators register it (``pkg.module``). A plug-in is imported only when its
kind is asked for (or when every driver is listed), so a broken one breaks nothing else.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any
from urllib.parse import parse_qsl

from edge_agent.errors import ConfigError, InstrumentError, UnknownDriverError
from edge_agent.instruments.base import Instrument

log = logging.getLogger(__name__)

Factory = Callable[..., Instrument]
DRIVERS: dict[str, Factory] = {}
_HELP: dict[str, str] = {}

#: Modules whose ``@driver`` decorators register the built-in drivers (one line per module).
BUILTIN_MODULES: tuple[str, ...] = (
    "edge_agent.instruments.replay",
    "edge_agent.instruments.simulated",
    "edge_agent.instruments.ophyd_driver",
    "edge_agent.instruments.pyro_twin",
)
#: The entry-point group installed packages register their drivers in.
ENTRY_POINT_GROUP = "microscope_autopilot.drivers"


@dataclass(frozen=True)
class DriverEntry:
    """One driver kind for listings: its help line and where it comes from."""

    kind: str
    help: str
    origin: str  # "built-in", or "plug-in DIST VERSION (VALUE)"
    error: str = ""  # why a plug-in could not be loaded


def driver(kind: str, help: str = "") -> Callable[[Factory], Factory]:
    """Class or function decorator: register a driver factory under ``kind``."""

    def register(factory: Factory) -> Factory:
        if kind in DRIVERS:
            raise ValueError(f"driver {kind!r} registered twice")
        DRIVERS[kind] = factory
        _HELP[kind] = help or (inspect.getdoc(factory) or "").split("\n")[0]
        return factory

    return register


def _load_builtin() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)  # runs the module's @driver decorators


def plugin_entry_points() -> list[EntryPoint]:
    """The installed packages' driver entry points, sorted by name."""
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _origin(ep: EntryPoint) -> str:
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown package"
    return f"plug-in {dist} ({ep.value})"


def _load_plugin(ep: EntryPoint) -> None:
    """Register the driver ``ep`` names (a no-op once it is registered).

    Raises:
        InstrumentError: the plug-in failed to import, or it registers no driver ``ep.name``.
    """
    if ep.name in DRIVERS:
        return
    try:
        loaded = ep.load()
    except Exception as exc:  # a third party's import can fail in any way: say which
        raise InstrumentError(f"driver plug-in {ep.name!r} ({_origin(ep)}) failed to load: "
                              f"{type(exc).__name__}: {exc}", kind=ep.name) from exc
    if ep.name in DRIVERS:  # a module, or a factory decorated with @driver(ep.name)
        return
    if inspect.ismodule(loaded) or not callable(loaded):
        raise InstrumentError(f"driver plug-in {ep.name!r} ({_origin(ep)}) registers no "
                              f"driver {ep.name!r}: point the entry point at a factory or "
                              f"decorate one with @driver({ep.name!r})", kind=ep.name)
    driver(ep.name)(loaded)


def driver_entries() -> list[DriverEntry]:
    """Every driver kind, built-in and plug-in, with its help line and origin (plug-ins that
    fail to load are listed with the reason)."""
    _load_builtin()
    builtin = set(DRIVERS)
    out = [DriverEntry(kind, _HELP[kind], "built-in") for kind in sorted(builtin)]
    for ep in plugin_entry_points():
        if ep.name in builtin:
            out.append(DriverEntry(ep.name, "", _origin(ep), "a built-in driver has this name"))
            continue
        try:
            _load_plugin(ep)
        except InstrumentError as exc:
            out.append(DriverEntry(ep.name, "", _origin(ep), exc.message))
            continue
        out.append(DriverEntry(ep.name, _HELP[ep.name], _origin(ep)))
    return out


def drivers() -> dict[str, str]:
    """Registered driver kinds (built-in and loadable plug-ins) and a one-line description."""
    return {e.kind: e.help for e in driver_entries() if not e.error}


def _find(kind: str) -> Factory:
    """The factory for ``kind``: a built-in, else the plug-in of that name."""
    _load_builtin()
    if kind not in DRIVERS:
        for ep in plugin_entry_points():
            if ep.name == kind:
                _load_plugin(ep)
                break
    if kind not in DRIVERS:
        known = sorted(set(DRIVERS) | {ep.name for ep in plugin_entry_points()})
        raise UnknownDriverError(f"no instrument driver {kind!r}; known: {', '.join(known)}",
                                 kind=kind, known=known)
    return DRIVERS[kind]


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``"replay:beps?dwell=0.5"`` -> ``("replay", "beps", {"dwell": 0.5})``."""
    kind, sep, rest = spec.partition(":")
    if not sep or not kind or not rest:
        raise ConfigError(
            f"instrument spec {spec!r} must look like KIND:TARGET, e.g. replay:beps or "
            "sim:loops?size=256", field="instrument", value=spec,
        )
    target, _, query = rest.partition("?")
    params = {k: _value(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    return kind, target, params


def make_instrument(spec: str, **overrides: Any) -> Instrument:
    """Build the instrument described by ``spec``.

    Args:
        spec: ``KIND:TARGET[?key=value...]``.
        overrides: driver parameters (``dwell_s``, ``noise``, ``seed``, ...); they win over
            the spec's query. ``None`` values, and parameters the driver does not take, are
            left out (so callers can pass their optional settings to any driver).

    Raises:
        UnknownDriverError: no driver ``KIND``.
        InstrumentError: the plug-in for ``KIND`` failed to load.
        ConfigError: a parameter the driver does not take, or a bad value.
    """
    kind, target, params = parse_spec(spec)
    factory = _find(kind)
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    given = {k: v for k, v in overrides.items() if v is not None}
    # The agent passes its generic settings (dwell_s, noise, seed) to every driver; one that
    # has no such setting (real hardware has no noise) simply does not get it.
    ignored = [] if takes_any else sorted(set(given) - set(accepted))
    if ignored:
        log.info("driver %r takes no %s: not passed", kind, ", ".join(ignored))
    params.update({k: v for k, v in given.items() if k not in ignored})
    unknown = [] if takes_any else sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"instrument {kind!r} takes no parameter(s) {unknown}; it takes "
            f"{sorted(p for p in accepted if p != 'target')}", field="instrument", value=spec,
        )
    try:
        return factory(target, **params)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"instrument {spec!r}: {exc}", field="instrument",
                          value=spec) from exc
