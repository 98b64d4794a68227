"""The driver registry: instrument spec strings -> instruments.

A spec is ``KIND:TARGET[?key=value&...]``, for example ``replay:beps``,
``replay:/data/run7.npz?dwell=0.5&noise=0.02`` or ``sim:loops?size=256&seed=1``. Drivers
register a factory under ``KIND`` with :func:`driver`; the factory receives ``TARGET`` and the
parameters (query values parsed as int, float or bool where they look like one; keyword
arguments to :func:`make_instrument` override the query).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from edge_agent.errors import ConfigError, UnknownDriverError
from edge_agent.instruments.base import Instrument

Factory = Callable[..., Instrument]
DRIVERS: dict[str, Factory] = {}
_HELP: dict[str, str] = {}


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
    # Importing the modules runs their @driver decorators.
    from edge_agent.instruments import ophyd_driver, pyro_twin, replay, simulated  # noqa: F401


def drivers() -> dict[str, str]:
    """Registered driver kinds and a one-line description of each."""
    _load_builtin()
    return dict(sorted(_HELP.items()))


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
            the spec's query. ``None`` values are ignored (so callers can pass optional flags).

    Raises:
        UnknownDriverError: no driver ``KIND``.
        ConfigError: a parameter the driver does not take, or a bad value.
    """
    _load_builtin()
    kind, target, params = parse_spec(spec)
    if kind not in DRIVERS:
        raise UnknownDriverError(
            f"no instrument driver {kind!r}; known: {', '.join(sorted(DRIVERS))}",
            kind=kind, known=sorted(DRIVERS),
        )
    params.update({k: v for k, v in overrides.items() if v is not None})
    factory = DRIVERS[kind]
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(params) - set(accepted))
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
