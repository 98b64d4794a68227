"""The monitor's one validated config: defaults < TOML file < ``AUTOPILOT_MONITOR_*`` < flags.

Built at the entry point and passed down; nothing else in the monitor reads ``os.environ``.
The Redis password is read from a file and never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopilot_cli.config_layers import load_layers, read_secret

from ..errors import ConfigError

ENV_PREFIX = "AUTOPILOT_MONITOR_"


@dataclass(frozen=True)
class MonitorConfig:
    """Everything a monitor process needs.

    Attributes:
        redis_url: ``redis://`` or ``rediss://`` of the planner's state.
        redis_prefix: the planner's key prefix.
        redis_password_file: the Redis password, read from this file.
        bind: ``HOST:PORT`` to serve on.
        users_file: TOML of users to create or update at start (``docs/monitor.md``).
        session_ttl_s: lifetime of a password (or token) login session.
        token_ttl_s: default lifetime of API tokens made by ``add-user`` and the API.
        pbkdf2_iterations: work factor for new password hashes.
        cookie_secure: send cookies with ``Secure`` (set it behind HTTPS).
        metrics_public: serve ``/metrics`` without a token (a closed network only).
        keepalive_s: SSE comment interval, so proxies keep idle streams open.
        max_image: maps and images are sent at most this many pixels a side.
        log_level: DEBUG, INFO, WARNING.
        login_max_failures: failed logins allowed per client address and per user name in
            ``login_window_s``; more get HTTP 429 until the window ends.
        login_window_s: the failed-login window (shared by every monitor on the same Redis).
        trusted_proxies: comma-separated addresses of reverse proxies in front of the monitor;
            for requests from them (and only them) the client address is read from
            ``X-Forwarded-For``.
        max_body_bytes: larger request bodies are refused (413) before they are read.
        max_live_clients: live-update streams open at once, all users together; more get 503.
    """

    redis_url: str = ""
    redis_prefix: str = "autopilot"
    redis_password_file: str = ""
    bind: str = "127.0.0.1:8765"
    users_file: str = ""
    session_ttl_s: float = 12 * 3600.0
    token_ttl_s: float = 90 * 86400.0
    pbkdf2_iterations: int = 310_000
    cookie_secure: bool = False
    metrics_public: bool = False
    keepalive_s: float = 15.0
    max_image: int = 256
    log_level: str = "INFO"
    login_max_failures: int = 10
    login_window_s: float = 300.0
    trusted_proxies: str = ""
    max_body_bytes: int = 1 << 20
    max_live_clients: int = 100

    @property
    def proxies(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.bind.rpartition(":")
        return host or "127.0.0.1", int(port)

    def redis_password(self) -> str | None:
        if not self.redis_password_file:
            return None
        return read_secret(self.redis_password_file, ConfigError).decode()


def load_monitor_config(file: str | Path | None = None, *,
                        environ: Mapping[str, str] | None = None,
                        overrides: Mapping[str, Any] | None = None) -> MonitorConfig:
    """Defaults, then ``file`` (TOML, table ``[monitor]`` or top level), then
    ``AUTOPILOT_MONITOR_*`` variables, then ``overrides`` (flags; None values skipped)."""
    config = load_layers(MonitorConfig(), table="monitor", env_prefix=ENV_PREFIX, file=file,
                         environ=environ, overrides=overrides, error=ConfigError)
    try:
        host, port = config.host_port
    except ValueError:
        raise ConfigError(f"bind must be HOST:PORT, got {config.bind!r}") from None
    if not 0 <= port < 65536:
        raise ConfigError(f"bind port out of range: {config.bind!r}")
    if min(config.session_ttl_s, config.token_ttl_s, config.keepalive_s,
           config.login_window_s) <= 0:
        raise ConfigError("session_ttl_s, token_ttl_s, keepalive_s and login_window_s must "
                          "be > 0")
    if config.login_max_failures < 1:
        raise ConfigError("login_max_failures must be >= 1")
    if config.max_body_bytes < 1024 or config.max_live_clients < 1:
        raise ConfigError("max_body_bytes must be >= 1024 and max_live_clients >= 1")
    if config.pbkdf2_iterations < 1000 or config.max_image < 8:
        raise ConfigError("pbkdf2_iterations must be >= 1000 and max_image >= 8")
    return config
