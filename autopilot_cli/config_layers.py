"""The layered config loader the planner's and the monitor's configs share:
defaults < TOML file < ``<PREFIX>*`` environment variables < flags, each layer checked for
unknown names and coerced to the field's type with a clear :class:`ConfigError`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport, a base dependency there
    import tomli as tomllib

T = TypeVar("T")
Coerce = Callable[[str, Any, Any], Any]


def coerce_scalar(name: str, kind: Any, value: Any) -> Any:
    """``value`` (from TOML, an environment variable or a flag) as a bool, int, float or str."""
    try:
        if kind in (bool, "bool"):
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes")
            return bool(value)
        if kind in (int, "int"):
            return int(value)
        if kind in (float, "float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r} must be {kind}, got {value!r}") from None


def read_secret(path: str) -> bytes:
    """A secret from a file (keys and passwords are never given inline)."""
    try:
        return Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None


def load_layers(defaults: T, *, table: str, env_prefix: str, file: str | Path | None,
                environ: Mapping[str, str] | None, overrides: Mapping[str, Any] | None,
                coerce: Coerce = coerce_scalar, skip: frozenset[str] = frozenset(),
                extra_env: Mapping[str, Any] | None = None) -> T:
    """``defaults`` (a frozen dataclass) with each layer applied in turn.

    The file's settings sit in table ``[table]`` or at its top level; ``extra_env`` is one more
    environment layer (settings known under other names); ``None`` flags are skipped; ``skip``
    names fields no layer may set.
    """
    known = {f.name: f.type for f in fields(defaults)  # type: ignore[arg-type]
             if f.name not in skip}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {file}: {exc}") from None
        layers.append((str(file), data.get(table, data)))
    env = os.environ if environ is None else environ
    layers.append(("environment", {k[len(env_prefix):].lower(): v for k, v in env.items()
                                   if k.startswith(env_prefix)}))
    if extra_env:
        layers.append(("environment", extra_env))
    layers.append(("flags", {k: v for k, v in (overrides or {}).items() if v is not None}))
    config = defaults
    for source, layer in layers:
        unknown = set(layer) - set(known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)} in {source}")
        config = replace(config, **{k: coerce(k, known[k], v)  # type: ignore[type-var]
                                    for k, v in layer.items()})
    return config
