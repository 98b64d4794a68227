"""The edge agent's one configuration object, built once at the entry point.

Precedence, each later source overriding the earlier: defaults < TOML file (``--config``;
top-level keys or an ``[edge]`` table, plus an optional ``[campaign]`` table passed verbatim
into the campaign config) < environment (``AUTOPILOT_EDGE_<FIELD>``, read only here) < flags.
The data folder for replay data sets is ``data_dir``; ``AUTOPILOT_DATA`` sets it too (the name
the whole project uses), below ``AUTOPILOT_EDGE_DATA_DIR``.
Secrets are never values here, only paths to files (``signing_key_file``, CURVE key files).

The layering itself is the project's one loader, :mod:`autopilot_cli.config_layers`.
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
from autopilot_cli.config_layers import (
    Layer,
    coerce_scalar,
    environment_layers,
    merge_layers,
    read_toml,
)
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
_TYPES = {name: str(f.type).replace(" | None", "") for name, f in _FIELDS.items()}


def _coerce(name: str, kind: str, value: Any, source: str) -> Any:
    """``value`` (a string from the environment, a TOML value, a flag) as the field's type:
    the shared scalars, plus paths, tables and "" for "none" where a field may be None."""
    if isinstance(value, str) and value == "" and "None" in str(_FIELDS[name].type):
        return None
    if kind == "Path":
        return Path(value)
    if kind.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"setting {name!r} must be a table, got {value!r} (from "
                              f"{source})", field=name, source=source)
        return value
    return coerce_scalar(name, kind, value, source, ConfigError)


def _file_layer(path: Path) -> Layer:
    """A TOML file's settings: top-level keys or an ``[edge]`` table; ``[campaign]`` is passed
    verbatim as ``campaign_config``."""
    data = read_toml(path, ConfigError)
    settings = {k: v for k, v in data.items() if not isinstance(v, dict)}
    settings.update(data.get("edge", {}))
    if isinstance(data.get("campaign"), dict):
        settings["campaign_config"] = data["campaign"]
    return f"file {path}", settings


def _environment(environ: Mapping[str, str] | None) -> tuple[list[Layer], Path | None]:
    """The environment's layers (``AUTOPILOT_DATA``, then ``AUTOPILOT_EDGE_*``) and the config
    file ``AUTOPILOT_EDGE_CONFIG`` names."""
    env = os.environ if environ is None else environ
    layers = environment_layers(env, ENV_PREFIX)
    named = [layer for layer in layers if "config" in layer[1]]
    layers = [layer for layer in layers if "config" not in layer[1]]
    if env.get(DATA_ENV):  # the project-wide name, below AUTOPILOT_EDGE_DATA_DIR
        layers.insert(0, (f"environment {DATA_ENV}", {"data_dir": env[DATA_ENV]}))
    return layers, Path(named[0][1]["config"]) if named else None


def data_dir_from_environment(environ: Mapping[str, str] | None = None) -> Path | None:
    """The data folder the environment names, for commands that build no :class:`EdgeConfig`
    (``export-dataset``, ``export-truth``, ``serve-twin``)."""
    layers, _ = _environment(environ)
    value = merge_layers(_TYPES, layers, _coerce, ConfigError).get("data_dir")
    return value if isinstance(value, Path) else None


def load_config(flags: Mapping[str, Any], config_file: Path | None = None,
                environ: Mapping[str, str] | None = None) -> EdgeConfig:
    """Build the config: defaults < ``config_file`` (or ``AUTOPILOT_EDGE_CONFIG``) <
    environment < ``flags`` (``None`` flag values mean "not given")."""
    env_layers, env_file = _environment(environ)
    file = config_file or env_file
    layers = [_file_layer(Path(file))] if file is not None else []
    layers += [*env_layers, ("command line", flags)]
    merged = merge_layers(_TYPES, layers, _coerce, ConfigError)
    if "campaign" not in merged:
        raise ConfigError("campaign id is required (--campaign or AUTOPILOT_EDGE_CAMPAIGN)",
                          field="campaign")
    return EdgeConfig(**merged)
