"""The planner process: state store, Ray and campaign actors, and the gateway, together.

``PlannerService(config).run()`` serves until SIGINT/SIGTERM (or :meth:`stop`). With an empty
``redis_url`` it starts an embedded Redis server of its own (the one-command default), behind
a password kept in ``DATA_DIR/redis/password`` (or the configured ``redis_password_file``); an
external Redis without a password is refused unless ``insecure_redis`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from protocol import Signer, transport

from .config import ConfigError, PlannerConfig
from .gateway import Gateway, GatewaySettings
from .idle import reap_idle_campaigns
from .redis_server import RedisServer
from .state import StateStore

log = logging.getLogger(__name__)


class PlannerService:
    def __init__(self, config: PlannerConfig) -> None:
        self.config = config
        self.redis_server: RedisServer | None = None
        self.store: StateStore | None = None
        self.supervisor: Any = None
        self.gateway: Gateway | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reaper_stop = threading.Event()
        self._owns_ray = False
        self.ready = threading.Event()

    @property
    def redis_url(self) -> str:
        """Where the state lives; for the embedded server without its password."""
        if self.redis_server is not None:
            return self.redis_server.address
        return self.config.redis_url

    @property
    def redis_password_file(self) -> str:
        """The file other processes (monitor, ``autopilot campaigns``) read the password from."""
        if self.config.redis_password_file or self.config.redis_url:
            return self.config.redis_password_file
        return str(Path(self.config.data_dir) / "redis" / "password")

    def _redis_password(self) -> str | None:
        """Start the embedded server, or check that the external one is not open to all."""
        c = self.config
        if c.redis_url:
            password = c.redis_password()
            if not (password or urlsplit(c.redis_url).password):
                if not c.insecure_redis:
                    raise ConfigError(
                        "the external Redis has no password configured: set "
                        "redis_password_file (or put it in the URL); --insecure-redis accepts "
                        "a password-less Redis, on a closed test network only")
                log.warning("INSECURE: using Redis %s without a password (--insecure-redis): "
                            "anyone who reaches it can read and rewrite every campaign and "
                            "monitor account", c.redis_url)
            return password
        self.redis_server = RedisServer(
            binary=c.redis_server_bin or None, data_dir=Path(c.data_dir) / "redis",
            appendonly=True, password=c.redis_password(),
            password_file=Path(self.redis_password_file)).start()
        return self.redis_server.password

    def _curve(self) -> transport.CurveServerKeys | None:
        c = self.config
        if not c.curve_secret_file:
            return None
        public, secret = transport.load_keypair(c.curve_secret_file)
        return transport.CurveServerKeys(public, secret, Path(c.curve_authorized_dir))

    def start(self) -> None:
        """Everything but the gateway's loop: Redis, Ray, the supervisor, live actors."""
        from .actors.supervisor import Supervisor, init_ray

        c = self.config
        password = self._redis_password()
        # large arrays go to a local folder unless every node must reach them through Redis
        blob_dir = None if c.large_arrays_in_redis else Path(c.data_dir) / "blobs"
        self.store = StateStore.connect(self.redis_url, c.redis_prefix, password=password,
                                        blob_dir=blob_dir, ssl=c.redis_ssl())
        self.store.ping()
        self._owns_ray = init_ray(c)
        self.supervisor = Supervisor(
            self.redis_url, c.redis_prefix, password=password, gpu_fraction=c.gpu_fraction,
            actor_cpus=c.actor_cpus, actor_resources=dict(c.actor_resources),
            ssl=c.redis_ssl(), blob_dir=str(blob_dir) if blob_dir else None,
            training_slots=c.training_slots)
        resumed = self.supervisor.ensure_live_campaigns(self.store)
        if resumed:
            log.info("resumed actors for %s", resumed)
        self.gateway = Gateway(self.store, GatewaySettings(
            bind=c.bind, signer=Signer(c.signing_key(), c.signing_scheme),
            planner_id=c.planner_id, heartbeat_s=c.heartbeat_s, curve=self._curve(),
            max_live_campaigns_per_edge=c.max_live_campaigns_per_edge,
            max_active_campaigns=c.max_active_campaigns or self.supervisor.capacity(),
            require_edge_keys=c.require_edge_keys, max_edges=c.max_edges),
            on_campaign=self.supervisor.ensure_soon)
        threading.Thread(target=self._reap, name="reaper", daemon=True).start()

    def _reap(self) -> None:
        assert self.store is not None, "start() first"
        while not self._reaper_stop.wait(2.0):
            try:
                reap_idle_campaigns(self.store, self.config.campaign_idle_s)
                done = self.supervisor.reap(self.store)
                if done:
                    log.info("campaigns over, actors stopped: %s", done)
            except Exception as exc:  # Redis or Ray hiccup: try again next round
                log.warning("reaper: %s", exc)

    def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Start, then serve in this thread until :meth:`stop`; always cleans up.

        ``on_started`` runs after Ray is up (the CLI installs its signal handlers there:
        ``ray.init`` replaces SIGTERM's)."""
        try:
            self.start()
            if on_started is not None:
                on_started()
            assert self.gateway is not None
            self._loop = asyncio.new_event_loop()
            self.ready.set()
            self._loop.run_until_complete(self.gateway.serve())
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Thread-safe: ask the gateway loop to finish."""
        if self._loop is not None and self.gateway is not None:
            self._loop.call_soon_threadsafe(self.gateway.stop)

    def shutdown(self) -> None:
        import ray

        self._reaper_stop.set()
        if self.supervisor is not None:
            self.supervisor.shutdown()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        if self.store is not None:
            self.store.close()
        if self.redis_server is not None:
            self.redis_server.stop()
        if self._loop is not None:
            self._loop.close()
