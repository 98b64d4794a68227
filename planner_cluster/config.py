"""The planner's one validated config object: defaults < TOML file < environment < flags.

Built once at the entry point and passed down; nothing else reads ``os.environ``. Secrets
(signing key, Redis password) are read from files named here and never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopilot_cli.addresses import endpoint_problem, redis_url_problem
from autopilot_cli.config_layers import coerce_scalar, load_layers, read_secret

from .errors import ConfigError

__all__ = ["ConfigError", "PlannerConfig", "load_config"]

ENV_PREFIX = "AUTOPILOT_PLANNER_"


@dataclass(frozen=True)
class PlannerConfig:
    """Everything a planner process needs.

    Attributes:
        redis_url: ``redis://`` or ``rediss://`` (TLS). Empty: start an embedded server.
        redis_prefix: every key starts with it.
        redis_password_file: the Redis password, read from this file. For the embedded
            server too; without it the embedded server's random password is kept in
            ``DATA_DIR/redis/password`` (mode 0600).
        insecure_redis: accept an external Redis without a password (logged loudly).
        redis_ca_file / redis_cert_file / redis_key_file: TLS material for ``rediss://``.
        redis_server_bin: explicit server binary for the embedded server ($REDIS_SERVER_BIN).
        bind: the gateway's ROUTER endpoint.
        signing_key_file: the shared signing key; empty disables signing (loopback demos only).
        signing_scheme: ``hmac-sha256``, ``blake3`` or ``blake2b``.
        curve_secret_file / curve_authorized_dir: turn on CURVE; only keys in the folder enter.
        ray: ``local`` (start one on loopback, 127.0.0.2), ``auto`` (join the running cluster) or an
            address.
        ray_num_cpus / ray_memory_mb / ray_object_store_mb: limits for a ``local`` Ray.
        gpu_fraction: GPU share per campaign actor when the cluster has GPUs.
        actor_cpus: CPU reservation per campaign actor (where Ray places it; how many fit).
        training_slots: model fits that run at once on a node; the others queue, and a free
            slot goes to the campaign whose plan is most stale (0: one per CPU of the node, or
            per GPU where campaigns train on GPUs).
        actor_resources: custom Ray resources each campaign actor asks for, to place
            actors on chosen nodes (TOML table, or JSON in the environment / flags).
        heartbeat_s: what the gateway tells edges in ``welcome``.
        max_live_campaigns_per_edge: campaigns (each a Ray actor) one edge may run at once.
        require_edge_keys: refuse edges that were not issued a key of their own
            (``autopilot edges add``); off: such edges may use the shared signing key.
        max_edges: edges one gateway welcomes at once.
        max_active_campaigns: scanned campaigns (each with a worker) the planner holds at
            once; a scan beyond it gets ``no_capacity`` (0: Ray's CPUs / ``actor_cpus``).
        campaign_idle_s: a live campaign unchanged this long, with no edge connected to it,
            is aborted (and says so in its events).
        data_dir: campaign blobs (large arrays) and archives.
        large_arrays_in_redis: keep arrays over 4 MiB (scans, spectra) in Redis like the
            others instead of ``data_dir/blobs``: every node of the cluster (Ray workers on
            other machines, a second gateway) reaches them without shared storage.
        planner_id: this planner's name on the wire.
        train_iterations: optimiser steps per training round.
    """

    redis_url: str = ""
    redis_prefix: str = "autopilot"
    redis_password_file: str = ""
    insecure_redis: bool = False
    redis_ca_file: str = ""
    redis_cert_file: str = ""
    redis_key_file: str = ""
    redis_server_bin: str = ""
    bind: str = "tcp://127.0.0.1:5555"
    signing_key_file: str = ""
    signing_scheme: str = "hmac-sha256"
    curve_secret_file: str = ""
    curve_authorized_dir: str = ""
    ray: str = "local"
    ray_num_cpus: int = 2
    ray_memory_mb: int = 4096
    ray_object_store_mb: int = 512
    gpu_fraction: float = 0.25
    actor_cpus: float = 0.25
    training_slots: int = 0
    actor_resources: Mapping[str, float] = field(default_factory=dict)
    heartbeat_s: float = 2.0
    max_live_campaigns_per_edge: int = 8
    require_edge_keys: bool = False
    max_edges: int = 1000
    max_active_campaigns: int = 0
    campaign_idle_s: float = 3600.0
    data_dir: str = "runs/planner"
    large_arrays_in_redis: bool = False
    planner_id: str = "planner"
    train_iterations: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def signing_key(self) -> bytes | None:
        return read_secret(self.signing_key_file, ConfigError) if self.signing_key_file else None

    def redis_password(self) -> str | None:
        if not self.redis_password_file:
            return None
        return read_secret(self.redis_password_file, ConfigError).decode()

    def redis_ssl(self) -> dict[str, str]:
        opts = {"ssl_ca_certs": self.redis_ca_file, "ssl_certfile": self.redis_cert_file,
                "ssl_keyfile": self.redis_key_file}
        return {k: v for k, v in opts.items() if v}


def _coerce(name: str, kind: Any, value: Any, source: str) -> Any:
    if name != "actor_resources":
        return coerce_scalar(name, kind, value, source, ConfigError)
    try:
        table = json.loads(value) if isinstance(value, str) else dict(value)
        return {str(k): float(v) for k, v in table.items()}
    except (TypeError, ValueError, AttributeError):
        raise ConfigError(f"setting {name!r} must be a table of numbers, got {value!r}"
                          ) from None


def load_config(file: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> PlannerConfig:
    """Build the config: defaults, then ``file`` (TOML, table ``[planner]`` or top level),
    then ``AUTOPILOT_PLANNER_*`` variables (and ``$REDIS_SERVER_BIN``), then ``overrides``
    (flags; None values skipped)."""
    env = os.environ if environ is None else environ
    bin_env = {"redis_server_bin": env["REDIS_SERVER_BIN"]} if "REDIS_SERVER_BIN" in env else {}
    config = load_layers(PlannerConfig(), table="planner", env_prefix=ENV_PREFIX, file=file,
                         environ=env, overrides=overrides, error=ConfigError, coerce=_coerce,
                         skip=frozenset({"extra"}), extra_env=bin_env)
    if config.signing_scheme not in ("hmac-sha256", "blake3", "blake2b"):
        raise ConfigError(f"signing_scheme {config.signing_scheme!r} is not one of "
                          "hmac-sha256, blake3, blake2b")
    if config.ray not in ("local", "auto") and ":" not in config.ray:
        raise ConfigError(f"ray must be local, auto or HOST:PORT, got {config.ray!r}")
    problem = (redis_url_problem(config.redis_url) if config.redis_url else None
               ) or endpoint_problem(config.bind, wildcard=True)
    if problem:
        raise ConfigError(problem)
    return config
