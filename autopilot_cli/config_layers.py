"""The one layered configuration loader every process builds its config with (the edge, the
planner, the monitor): defaults < TOML file < environment variables < flags.

Each layer is checked for unknown names and its values coerced to the field's type; a mistake
raises the calling package's own config error (``error``) with a message that names the
setting and where it came from. Secrets are never values here, only paths to files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport, a base dependency there
    import tomli as tomllib

T = TypeVar("T")
ErrorType = Callable[[str], Exception]
#: (name, field type, value, source) -> the value as the field's type
Coerce = Callable[[str, Any, Any, str], Any]
Layer = tuple[str, Mapping[str, Any]]

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce_scalar(name: str, kind: Any, value: Any, source: str,
                  error: ErrorType = ValueError) -> Any:
    """``value`` (from TOML, an environment variable or a flag) as a bool, int, float or str;
    ``kind`` is the field's type or its name."""
    kind = getattr(kind, "__name__", kind)
    try:
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() not in TRUE + FALSE:
                    raise ValueError(value)
                return value.lower() in TRUE
            return bool(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise error(f"setting {name!r} must be {kind}, got {value!r} (from {source})"
                    ) from None


def read_secret(path: str | Path, error: ErrorType = ValueError) -> bytes:
    """A secret from a file (keys and passwords are never given inline)."""
    try:
        return Path(path).read_bytes().strip()
    except OSError as exc:
        raise error(f"cannot read secret file {path}: {exc.strerror}") from None


def read_toml(path: str | Path, error: ErrorType = ValueError) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"cannot read config file {path}: {exc}") from None


def environment_layers(environ: Mapping[str, str], prefix: str) -> list[Layer]:
    """One layer per ``<prefix><NAME>`` variable (so a mistake names the variable)."""
    return [(f"environment {key}", {key[len(prefix):].lower(): value})
            for key, value in environ.items() if key.startswith(prefix)]


def merge_layers(known: Mapping[str, Any], layers: Iterable[Layer], coerce: Coerce,
                 error: ErrorType = ValueError) -> dict[str, Any]:
    """The settings of ``layers`` (each later one wins), coerced with ``coerce``; ``known``
    maps each settable name to its type. ``None`` values mean "not given" and are skipped."""
    merged: dict[str, Any] = {}
    for source, layer in layers:
        given = {k: v for k, v in layer.items() if v is not None}
        unknown = set(given) - set(known)
        if unknown:
            raise error(f"unknown setting(s) {sorted(unknown)} in {source}; known: "
                        f"{', '.join(sorted(known))}")
        merged.update({k: coerce(k, known[k], v, source) for k, v in given.items()})
    return merged


def load_layers(defaults: T, *, table: str, env_prefix: str, file: str | Path | None,
                environ: Mapping[str, str] | None, overrides: Mapping[str, Any] | None,
                error: ErrorType, coerce: Coerce | None = None,
                skip: Collection[str] = (), extra_env: Mapping[str, Any] | None = None) -> T:
    """``defaults`` (a frozen dataclass) with each layer applied in turn.

    The file's settings sit in table ``[table]`` or at its top level; ``extra_env`` is one more
    environment layer (settings known under other names); ``skip`` names fields no layer may
    set.
    """
    known = {f.name: f.type for f in fields(defaults)  # type: ignore[arg-type]
             if f.name not in skip}
    layers: list[Layer] = []
    if file is not None:
        data = read_toml(file, error)
        layers.append((f"file {file}", data.get(table, data)))
    layers += environment_layers(os.environ if environ is None else environ, env_prefix)
    if extra_env:
        layers.append(("environment", extra_env))
    layers.append(("flags", overrides or {}))
    merged = merge_layers(known, layers, coerce or (
        lambda name, kind, value, source: coerce_scalar(name, kind, value, source, error)),
        error)
    return replace(defaults, **merged)  # type: ignore[type-var]
