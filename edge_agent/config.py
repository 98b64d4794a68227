"""The edge agent's one configuration object, built once at the entry point.

Precedence, each later source overriding the earlier: defaults < TOML file (``--config``;
top-level keys or an ``[edge]`` table, plus an optional ``[campaign]`` table passed verbatim
into the campaign config) < environment (``AUTOPILOT_EDGE_<FIELD>``, read only here) < flags.
The data folder for replay data sets is ``data_dir``; ``AUTOPILOT_DATA`` sets it too (the name
the whole project uses), below ``AUTOPILOT_EDGE_DATA_DIR``.
Secrets are never values here, only paths to files (``signing_key_file``, CURVE key files).

TOML needs ``tomllib`` (Python >= 3.11); on 3.10 install ``tomli``, which is used instead.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopilot_cli.addresses import endpoints_problem
from edge_agent.errors import ConfigError
from protocol.signing import DEFAULT_SCHEME, SCHEMES

ENV_PREFIX = "AUTOPILOT_EDGE_"
#: The project-wide data folder variable (replay data sets).
DATA_ENV = "AUTOPILOT_DATA"


@dataclass(frozen=True)
class EdgeConfig:
    """Everything an edge agent run needs. See ``autopilot edge run --help`` for each field."""

    campaign: str
    planner: str = "tcp://127.0.0.1:5555"
    instrument: str = "replay:beps"
    data_dir: Path | None = None
    dwell_s: float | None = None
    noise: float = 0.0
    seed: int = 0
    edge_id: str = field(default_factory=lambda: f"edge-{socket.gethostname()}")
    spool: Path = Path("edge-spool")
    resume: bool = False
    signing_key_file: Path | None = None
    signing_scheme: str = DEFAULT_SCHEME
    curve_secret_file: Path | None = None
    curve_server_public_file: Path | None = None
    max_points: int | None = None
    budget_s: float | None = None
    max_dose: float | None = None
    batch: int | None = None
    scalarizer: str | None = None
    acquisition: str | None = None
    campaign_config: dict[str, Any] = field(default_factory=dict)
    window: int = 32
    heartbeat_s: float = 2.0
    resend_after_s: float = 5.0
    hello_timeout_s: float = 5.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    drain_timeout_s: float = 30.0
    spool_max_count: int = 100_000
    spool_max_bytes: int = 1 << 30
    log_level: str = "INFO"
    progress: str = "auto"
    service: bool = False

    def __post_init__(self) -> None:
        if not self.campaign:
            raise ConfigError("campaign id is required (--campaign)", field="campaign")
        for name in ("window", "spool_max_count", "spool_max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1", field=name)
        for name in ("heartbeat_s", "resend_after_s", "hello_timeout_s", "backoff_initial_s",
                     "backoff_max_s", "drain_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0", field=name)
        for name in ("max_points", "budget_s", "max_dose", "batch", "dwell_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0", field=name)
        if self.progress not in ("auto", "on", "off"):
            raise ConfigError("progress must be auto, on or off", field="progress")
        if self.signing_scheme not in SCHEMES:
            raise ConfigError(f"signing_scheme must be one of {SCHEMES}", field="signing_scheme")
        if (self.curve_secret_file is None) != (self.curve_server_public_file is None):
            raise ConfigError("CURVE needs both curve_secret_file and curve_server_public_file",
                              field="curve_secret_file")
        problem = endpoints_problem(self.planner)
        if problem:  # a wrong address would otherwise wait for a planner forever
            raise ConfigError(f"planner: {problem}", field="planner")
        for name in ("signing_key_file", "curve_secret_file", "curve_server_public_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name}: no such file {path}", field=name)

    def campaign_settings(self) -> dict[str, Any]:
        """The ``campaign_start.config`` map: the file's ``[campaign]`` table, then flags."""
        out = dict(self.campaign_config)
        if self.batch is not None:
            out["batch"] = self.batch
        if self.scalarizer:
            out["scalarizer"] = {"name": self.scalarizer}
        if self.acquisition:
            out["acquisition"] = {"name": self.acquisition}
        budget = dict(out.get("budget", {}))
        if self.max_points is not None:
            budget["points"] = self.max_points
        if self.budget_s is not None:
            budget["seconds"] = self.budget_s
        if budget:
            out["budget"] = budget
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(EdgeConfig)}


def _kind(name: str) -> str:
    return str(_FIELDS[name].type).replace(" | None", "")


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert ``value`` (a string from the environment, or a TOML value) to the field type."""
    if name not in _FIELDS:
        raise ConfigError(f"unknown setting {name!r} in {source}; known: {sorted(_FIELDS)}",
                          field=name, source=source)
    kind = _kind(name)
    try:
        if isinstance(value, str) and value == "" and "None" in str(_FIELDS[name].type):
            return None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(value)
        if kind.startswith("dict"):
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} from {source}: {value!r} is not a valid {kind}",
                          field=name, source=source) from None


def read_file(path: Path) -> dict[str, Any]:
    """Settings from a TOML file (top level or ``[edge]``; ``[campaign]`` -> campaign_config)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", field="config",
                          source=str(path)) from exc
    settings = {k: v for k, v in data.items() if not isinstance(v, dict)}
    settings.update(data.get("edge", {}))
    if "campaign" in data and isinstance(data["campaign"], dict):
        settings["campaign_config"] = data["campaign"]
    return {k: _coerce(k, v, f"file {path}") for k, v in settings.items()}


def read_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``AUTOPILOT_EDGE_<FIELD>`` variables (the only environment reads)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    if env.get(DATA_ENV):
        out["data_dir"] = Path(env[DATA_ENV])  # AUTOPILOT_EDGE_DATA_DIR, below, wins
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX):].lower()
            if name == "config":
                out[name] = Path(value)
                continue
            out[name] = _coerce(name, value, f"environment {key}")
    return out


def data_dir_from_environment(environ: Mapping[str, str] | None = None) -> Path | None:
    """The data folder the environment names, for commands that build no :class:`EdgeConfig`
    (``export-dataset``, ``export-truth``, ``serve-twin``)."""
    value = read_environment(environ).get("data_dir")
    return value if isinstance(value, Path) else None


def load_config(flags: Mapping[str, Any], config_file: Path | None = None,
                environ: Mapping[str, str] | None = None) -> EdgeConfig:
    """Build the config: defaults < ``config_file`` < environment < ``flags`` (``None`` flag
    values mean "not given")."""
    merged: dict[str, Any] = {}
    env = read_environment(environ)
    file_path = config_file or env.pop("config", None)
    if file_path is not None:
        merged.update(read_file(Path(file_path)))
    merged.update(env)
    merged.update({k: _coerce(k, v, "command line") for k, v in flags.items() if v is not None})
    merged.pop("config", None)
    if "campaign" not in merged:
        raise ConfigError("campaign id is required (--campaign or AUTOPILOT_EDGE_CAMPAIGN)",
                          field="campaign")
    return EdgeConfig(**merged)
