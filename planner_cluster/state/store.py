"""The state store: the only code that talks to Redis. Key schema: docs/state.md.

:class:`StateStore` is one object over one Redis client, composed of its parts: campaign
records (:mod:`.campaigns`), campaign data (:mod:`.measurements`: scans, measurements, plans,
maps) and what flows beside it (:mod:`.messaging`: edges, events, controls, leases). Blocking
reads (``XREAD BLOCK``) take a separate client so they never stall writers sharing this one.
"""

from __future__ import annotations

from pathlib import Path

import redis

from .base import CampaignEndedError, CampaignLimitError, StateError
from .blobs import BlobStore
from .campaigns import CREATE_CAMPAIGN_SCRIPT, CampaignStore
from .measurements import ADD_MEASUREMENT_SCRIPT, DataStore
from .messaging import MessagingStore

__all__ = ["CampaignEndedError", "CampaignLimitError", "StateError", "StateStore"]


class StateStore(CampaignStore, DataStore, MessagingStore):
    """Experiment state in Redis.

    Args:
        client: a redis-py client with ``decode_responses=False``.
        prefix: every key starts with ``prefix:``.
        blob_dir: where arrays over ``inline_limit`` bytes go (HDF5); Redis keeps references.
        inline_limit: largest array stored inline in Redis.
    """

    def __init__(self, client: redis.Redis, prefix: str = "autopilot", *,
                 blob_dir: Path | None = None, inline_limit: int = 4 << 20) -> None:
        self.r = client
        self.prefix = prefix
        self.blobs = BlobStore(blob_dir) if blob_dir is not None else None
        self.inline_limit = inline_limit
        self._add_measurement = self.r.register_script(ADD_MEASUREMENT_SCRIPT)
        self._create_campaign = self.r.register_script(CREATE_CAMPAIGN_SCRIPT)

    @classmethod
    def connect(cls, url: str, prefix: str = "autopilot", *, password: str | None = None,
                blob_dir: Path | None = None, ssl: dict[str, str] | None = None) -> StateStore:
        """Connect to ``url`` (``redis://`` or ``rediss://`` for TLS; ``ssl`` takes redis-py's
        ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``)."""
        client = redis.Redis.from_url(url, password=password, socket_timeout=10,
                                      socket_connect_timeout=5, health_check_interval=30,
                                      **(ssl or {}))
        return cls(client, prefix, blob_dir=blob_dir)

    def blocking_clone(self) -> StateStore:
        """A store on its own connection pool, for blocking reads."""
        kwargs = dict(self.r.connection_pool.connection_kwargs)
        kwargs["socket_timeout"] = None
        client = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=self.r.connection_pool.connection_class, **kwargs))
        clone = StateStore(client, self.prefix, inline_limit=self.inline_limit)
        clone.blobs = self.blobs
        return clone

    def close(self) -> None:
        self.r.close()

    def ping(self) -> bool:
        return bool(self.r.ping())
