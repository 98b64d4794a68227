"""The state store: the only code that talks to Redis. Key schema: docs/state.md.

Writes that belong together run in one pipeline or one Lua script (atomic on the server).
Every key lives under ``prefix``. Blocking reads (``XREAD BLOCK``) take a separate client so
they never stall writers sharing this one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from protocol.ids import ID_RULE, valid_id
from protocol.lifecycle import FINAL, CampaignStatus, LifecycleError, next_status

from ..errors import PlannerError
from .blobs import BlobStore
from .codec import array_fields, dumps, loads, read_array, text
from .records import CampaignRecord, Event, PlanRecord, StoredMeasurement

EVENTS_MAXLEN = 100_000
CAMPAIGN_EVENTS_MAXLEN = 10_000

_FINAL_WORDS = ", ".join(f"['{s.value}'] = true" for s in FINAL)

# KEYS: stream, dedup, campaign, measured set, events, campaign events
# ARGV: dedup key, "row,col", now, campaign id, event json, budget event json,
#       then XADD field/value pairs
# Returns {stored: 0 duplicate / 1 new / 2 refused, stream id or status, n_measured, status}.
# A copy already stored is a duplicate whatever the status; a new one to a campaign that is
# over is refused ({2, status}); the one that reaches ``budget_points`` finishes the campaign
# (the planner owns the budget), in the same atomic step.
_ADD_MEASUREMENT = f"""
local existing = redis.call('HGET', KEYS[2], ARGV[1])
local status = redis.call('HGET', KEYS[3], 'status')
if existing then
  return {{0, existing, tonumber(redis.call('HGET', KEYS[3], 'n_measured')), status}}
end
if ({{{_FINAL_WORDS}}})[status] then return {{2, status, 0, status}} end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 7))
redis.call('HSET', KEYS[2], ARGV[1], id)
redis.call('SADD', KEYS[4], ARGV[2])
local n = redis.call('HINCRBY', KEYS[3], 'n_measured', 1)
redis.call('HSET', KEYS[3], 'updated', ARGV[3])
local ev = {{'campaign', ARGV[4], 'kind', 'measurement', 'time', ARGV[3], 'data', ARGV[5]}}
redis.call('XADD', KEYS[5], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', unpack(ev))
redis.call('XADD', KEYS[6], 'MAXLEN', '~', {CAMPAIGN_EVENTS_MAXLEN}, '*', unpack(ev))
local budget = tonumber(redis.call('HGET', KEYS[3], 'budget_points') or '0') or 0
if budget > 0 and n >= budget then
  redis.call('HSET', KEYS[3], 'status', '{CampaignStatus.FINISHED.value}')
  local fin = {{'campaign', ARGV[4], 'kind', 'status', 'time', ARGV[3], 'data', ARGV[6]}}
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', unpack(fin))
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', {CAMPAIGN_EVENTS_MAXLEN}, '*', unpack(fin))
  status = '{CampaignStatus.FINISHED.value}'
end
return {{1, id, n, status}}
"""

# KEYS: campaign, campaigns set, the edge's campaigns set, events, campaign events
# ARGV: campaign id, per-edge limit (0: none), "PREFIX:campaign:", event field/value pairs,
#       "", then the campaign's field/value pairs
# Returns {1, 0} created, {0, 0} exists, {2, live} the edge is at its limit.
_CREATE_CAMPAIGN = f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {{0, 0}} end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local live = 0
  for _, cid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    local status = redis.call('HGET', ARGV[3] .. cid, 'status')
    if status and not ({{{_FINAL_WORDS}}})[status] then live = live + 1 end
  end
  if live >= limit then return {{2, live}} end
end
local split = 4
while ARGV[split] ~= "" do split = split + 2 end
redis.call('HSET', KEYS[1], unpack(ARGV, split + 1))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
local ev = {{unpack(ARGV, 4, split - 1)}}
redis.call('XADD', KEYS[4], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', unpack(ev))
redis.call('XADD', KEYS[5], 'MAXLEN', '~', {CAMPAIGN_EVENTS_MAXLEN}, '*', unpack(ev))
return {{1, 0}}
"""


class StateError(PlannerError, RuntimeError):
    """The store refused an operation (unknown campaign, a conflict)."""


class CampaignLimitError(StateError):
    """A new campaign for an edge that runs as many live campaigns as it may."""

    def __init__(self, edge_id: str, live: int, limit: int) -> None:
        super().__init__(f"edge {edge_id!r} already runs {live} campaigns, the most this "
                         "planner allows at once; finish or abort one first")
        self.edge_id, self.live, self.limit = edge_id, live, limit


class CampaignEndedError(StateError):
    """A new measurement for a campaign that is over (finished, aborted or failed)."""

    def __init__(self, campaign_id: str, status: str) -> None:
        super().__init__(f"campaign {campaign_id} is {status}: it takes no more measurements")
        self.campaign_id = campaign_id
        self.status = status


class StateStore:
    """Experiment state in Redis.

    Args:
        client: a redis-py client with ``decode_responses=False``.
        prefix: every key starts with ``prefix:``.
        blob_dir: where arrays over ``inline_limit`` bytes go (HDF5); Redis keeps references.
        inline_limit: largest array stored inline in Redis.
    """

    def __init__(self, client: redis.Redis, prefix: str = "autopilot", *,
                 blob_dir: Path | None = None, inline_limit: int = 4 << 20) -> None:
        # Any: redis-py types every reply as a union for both decode modes; this client is
        # always bytes-mode, and this module is the only one that reads replies.
        self.r: Any = client
        self.prefix = prefix
        self.blobs = BlobStore(blob_dir) if blob_dir is not None else None
        self.inline_limit = inline_limit
        self._add_measurement = self.r.register_script(_ADD_MEASUREMENT)
        self._create_campaign = self.r.register_script(_CREATE_CAMPAIGN)

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

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _ckey(self, campaign_id: str, *parts: str) -> str:
        if not valid_id(campaign_id):  # an id like "c2:plan" would name another key
            raise StateError(f"{campaign_id!r} is not a valid campaign id ({ID_RULE})")
        return self.key("campaign", campaign_id, *parts)

    def ping(self) -> bool:
        return bool(self.r.ping())

    # -- campaigns -------------------------------------------------------------------------

    def create_campaign(self, campaign_id: str, *, edge_id: str, owner: str,
                        config: dict[str, Any], spectral_axis: NDArray[Any] | None,
                        max_live_per_edge: int = 0) -> bool:
        """Create the campaign; False if the id exists already (nothing is changed). With
        ``max_live_per_edge`` > 0, raises :class:`CampaignLimitError` when ``edge_id`` runs
        that many campaigns not yet over: checked and created in one Lua step, so gateways
        creating at once cannot pass the limit together."""
        now = time.time()
        fields: dict[str, Any] = {
            "campaign_id": campaign_id, "edge_id": edge_id, "owner": owner,
            "status": CampaignStatus.CREATED.value, "config": dumps(config),
            "model_version": 0, "n_measured": 0, "created": now, "updated": now, "stats": "{}",
            "budget_points": int((config.get("budget") or {}).get("points") or 0),
        }
        if spectral_axis is not None:
            fields.update(array_fields("axis", np.asarray(spectral_axis)))
        event: dict[str, Any] = {"campaign": campaign_id, "kind": "campaign_created", "time": now,
                 "data": dumps({"edge_id": edge_id, "owner": owner})}
        created, live = self._create_campaign(
            keys=[self._ckey(campaign_id), self.key("campaigns"),
                  self.key("edge", edge_id, "campaigns"), self.key("events"),
                  self._ckey(campaign_id, "events")],
            args=[campaign_id, max_live_per_edge, self.key("campaign", ""), *_pairs(event), "",
                  *_pairs(fields)])
        if created == 2:
            raise CampaignLimitError(edge_id, int(live), max_live_per_edge)
        return bool(created)

    def get_campaign(self, campaign_id: str) -> CampaignRecord | None:
        if not valid_id(campaign_id):
            return None
        f = self.r.hgetall(self._ckey(campaign_id))
        if not f:
            return None
        return CampaignRecord(
            campaign_id=text(f, "campaign_id"), edge_id=text(f, "edge_id"),
            owner=text(f, "owner"), status=text(f, "status"),
            config=loads(f.get(b"config"), {}), model_version=int(f.get(b"model_version", 0)),
            n_measured=int(f.get(b"n_measured", 0)), created=float(f.get(b"created", 0)),
            updated=float(f.get(b"updated", 0)), stats=loads(f.get(b"stats"), {}))

    def require_campaign(self, campaign_id: str) -> CampaignRecord:
        record = self.get_campaign(campaign_id)
        if record is None:
            raise StateError(f"unknown campaign {campaign_id!r}")
        return record

    def campaign_ids(self) -> list[str]:
        return sorted(x.decode() for x in self.r.smembers(self.key("campaigns")))

    def list_campaigns(self) -> list[CampaignRecord]:
        return [c for cid in self.campaign_ids() if (c := self.get_campaign(cid)) is not None]

    def spectral_axis(self, campaign_id: str) -> NDArray[Any] | None:
        f = self.r.hmget(self._ckey(campaign_id), ["axis", "axis_dtype", "axis_shape"])
        if f[0] is None:
            return None
        return read_array({b"axis": f[0], b"axis_dtype": f[1], b"axis_shape": f[2]}, "axis")

    def spectrum_length(self, campaign_id: str) -> int | None:
        """Values per spectrum in this campaign (every spectrum must have them to be scored
        alongside the others): the spectral axis's length, else the first stored spectrum's;
        None before either exists."""
        axis = self.spectral_axis(campaign_id)
        if axis is not None:
            return int(axis.size)
        first = self.read_measurements(campaign_id, count=1)
        return int(first[0].spectrum.size) if first else None

    def transition(self, campaign_id: str, event: str, **data: Any) -> CampaignStatus:
        """Move the campaign's status by ``event`` (protocol.lifecycle), compare-and-set:
        concurrent writers (gateways, workers, the monitor) never undo each other's move.
        Raises :class:`~protocol.lifecycle.LifecycleError` (nothing changed) if the current
        status does not allow ``event``, :class:`StateError` for an unknown campaign."""
        ckey = self._ckey(campaign_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(ckey)
                    current = pipe.hget(ckey, "status")
                    if current is None:
                        raise StateError(f"no campaign {campaign_id!r}")
                    new = next_status(current.decode(), event)
                    pipe.multi()
                    pipe.hset(ckey, mapping={"status": new.value, "updated": time.time()})
                    self._event(pipe, campaign_id, "status",
                                {"status": new.value, "event": event, **data})
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def try_transition(self, campaign_id: str, event: str, **data: Any) -> bool:
        """:meth:`transition`, False instead of an error when the status does not allow it."""
        try:
            self.transition(campaign_id, event, **data)
        except LifecycleError:
            return False
        return True

    def update_config(self, campaign_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the campaign config (one transaction); return the result."""
        ckey = self._ckey(campaign_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(ckey)
                    config = loads(pipe.hget(ckey, "config"), {})
                    config.update(changes)
                    pipe.multi()
                    pipe.hset(ckey, mapping={"config": dumps(config), "updated": time.time()})
                    self._event(pipe, campaign_id, "config", changes)
                    pipe.execute()
                    return dict(config)
                except redis.WatchError:
                    continue

    def update_stats(self, campaign_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the campaign's stats (one transaction): writers of
        different fields (gateways: grid, waiting; the worker: control_cursor) never
        overwrite each other with a stale copy. Returns the merged stats."""
        ckey = self._ckey(campaign_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(ckey)
                    stats = loads(pipe.hget(ckey, "stats"), {})
                    stats.update(changes)
                    pipe.multi()
                    pipe.hset(ckey, "stats", dumps(stats))
                    pipe.execute()
                    return dict(stats)
                except redis.WatchError:
                    continue

    # -- scans ---------------------------------------------------------------------------

    def put_scan(self, campaign_id: str, image: NDArray[Any], channels: list[str]) -> None:
        fields: dict[str, Any] = {"channels": dumps(channels), "time": time.time()}
        fields.update(self._array_or_blob(campaign_id, "image", "scan", image))
        with self.r.pipeline() as pipe:
            pipe.hset(self._ckey(campaign_id, "scan"), mapping=fields)
            self._event(pipe, campaign_id, "scan", {"shape": list(image.shape),
                                                    "channels": channels})
            pipe.execute()

    def get_scan(self, campaign_id: str) -> tuple[NDArray[Any], list[str]] | None:
        f = self.r.hgetall(self._ckey(campaign_id, "scan"))
        if not f:
            return None
        return self._read_array_or_blob(f, "image"), loads(f.get(b"channels"), [])

    def _array_or_blob(self, campaign_id: str, field: str, name: str,
                       array: NDArray[Any]) -> dict[str, Any]:
        if array.nbytes > self.inline_limit and self.blobs is not None:
            return {f"{field}_ref": self.blobs.put(campaign_id, name, array)}
        return array_fields(field, array)

    def _read_array_or_blob(self, f: dict[bytes, bytes], field: str) -> NDArray[Any]:
        ref = f.get(f"{field}_ref".encode())
        if ref is not None:
            if self.blobs is None:
                raise StateError(f"array stored in a blob ({ref.decode()}) but no blob_dir set")
            return self.blobs.get(ref.decode())
        return read_array(f, field)

    # -- measurements --------------------------------------------------------------------

    def add_measurement(self, campaign_id: str, *, sender: str, session: str, seq: int,
                        row: int, col: int, spectrum: NDArray[Any], source: str = "plan",
                        plan_version: int = -1, dwell_s: float = 0.0) -> tuple[bool, int]:
        """Store a measurement once per (sender, session, seq), atomically with its indexes
        and its event. Returns (stored now, measurements in the campaign); the measurement
        that reaches the budget (``budget.points``) finishes the campaign. A new measurement
        for a campaign that is over raises :class:`CampaignEndedError`."""
        keys, args = self.measurement_call(
            campaign_id, sender=sender, session=session, seq=seq, row=row, col=col,
            spectrum=spectrum, source=source, plan_version=plan_version, dwell_s=dwell_s)
        stored, status, count, _ = self._add_measurement(keys=keys, args=args)
        if stored == 2:
            raise CampaignEndedError(campaign_id, status.decode())
        return bool(stored), int(count or 0)

    def measurement_call(self, campaign_id: str, *, sender: str, session: str, seq: int,
                         row: int, col: int, spectrum: NDArray[Any], source: str,
                         plan_version: int, dwell_s: float) -> tuple[list[str], list[Any]]:
        """The keys and arguments of the measurement script for one measurement (the
        gateway runs many in one pipeline: :mod:`.ingest`)."""
        key = f"{sender}:{session}:{seq}"
        now = time.time()
        fields: dict[str, Any] = {"key": key, "row": row, "col": col, "source": source,
                                  "plan_version": plan_version, "dwell_s": dwell_s,
                                  "received": now}
        fields.update(self._array_or_blob(campaign_id, "spectrum", f"m/{key}", spectrum))
        event = dumps({"row": row, "col": col, "source": source, "key": key})
        finished = dumps({"status": CampaignStatus.FINISHED.value, "event": "finish",
                          "reason": "budget reached"})
        keys = [self._ckey(campaign_id, "measurements"), self._ckey(campaign_id, "dedup"),
                self._ckey(campaign_id), self._ckey(campaign_id, "measured"),
                self.key("events"), self._ckey(campaign_id, "events")]
        return keys, [key, f"{row},{col}", now, campaign_id, event, finished, *_pairs(fields)]

    def read_measurements(self, campaign_id: str, after: str = "0-0", *,
                          count: int | None = None,
                          block_ms: int | None = None) -> list[StoredMeasurement]:
        """Measurements after stream id ``after``, oldest first."""
        stream = self._ckey(campaign_id, "measurements")
        if block_ms is None:
            entries = self.r.xrange(stream, min=f"({after}" if after != "0-0" else "-",
                                    count=count)
        else:
            got = self.r.xread({stream: after}, count=count, block=block_ms)
            entries = got[0][1] if got else []
        return [self._measurement(sid, f) for sid, f in entries]

    def _measurement(self, sid: bytes, f: dict[bytes, bytes]) -> StoredMeasurement:
        return StoredMeasurement(
            stream_id=sid.decode(), key=text(f, "key"), row=int(f[b"row"]), col=int(f[b"col"]),
            spectrum=self._read_array_or_blob(f, "spectrum"), source=text(f, "source"),
            plan_version=int(f[b"plan_version"]), dwell_s=float(f[b"dwell_s"]),
            received=float(f[b"received"]))

    def measured_points(self, campaign_id: str) -> set[tuple[int, int]]:
        raw = self.r.smembers(self._ckey(campaign_id, "measured"))
        return {(int(a), int(b)) for a, b in (x.decode().split(",") for x in raw)}

    def count_measurements(self, campaign_id: str) -> int:
        return int(self.r.xlen(self._ckey(campaign_id, "measurements")))

    # -- plans ---------------------------------------------------------------------------

    def put_plan(self, campaign_id: str, plan: PlanRecord, *, first: bool = False) -> bool:
        """Write the campaign's plan, its model version and the ``plan`` event together.
        With ``first``, only if the campaign has no plan yet (the gateway's seed plan never
        replaces the worker's); returns whether it was written."""
        fields: dict[str, Any] = {"model_version": plan.model_version,
                                  "acquisition": plan.acquisition, "created": plan.created,
                                  "stats": dumps(plan.stats)}
        fields.update(array_fields("points", plan.points.astype(np.int32)))
        fields.update(array_fields("scores", plan.scores.astype(np.float32)))
        pkey = self._ckey(campaign_id, "plan")
        with self.r.pipeline() as pipe:
            while True:
                try:
                    if first:
                        pipe.watch(pkey)
                        if pipe.exists(pkey):
                            return False
                        pipe.multi()
                    pipe.hset(pkey, mapping=fields)
                    pipe.hset(self._ckey(campaign_id), mapping={
                        "model_version": plan.model_version, "updated": time.time()})
                    self._event(pipe, campaign_id, "plan", {
                        "model_version": plan.model_version, "n_points": int(len(plan.points)),
                        **plan.stats})
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def get_plan(self, campaign_id: str) -> PlanRecord | None:
        f = self.r.hgetall(self._ckey(campaign_id, "plan"))
        if not f:
            return None
        return PlanRecord(model_version=int(f[b"model_version"]),
                          points=read_array(f, "points"), scores=read_array(f, "scores"),
                          acquisition=text(f, "acquisition"), created=float(f[b"created"]),
                          stats=loads(f.get(b"stats"), {}))

    def put_predictions(self, campaign_id: str, model_version: int, mean: NDArray[Any],
                        variance: NDArray[Any]) -> None:
        """The model's map at its latest version (dashboards draw it)."""
        fields: dict[str, Any] = {"model_version": model_version}
        fields.update(array_fields("mean", mean.astype(np.float32)))
        fields.update(array_fields("variance", variance.astype(np.float32)))
        self.r.hset(self._ckey(campaign_id, "predictions"), mapping=fields)

    def get_predictions(self, campaign_id: str) -> tuple[int, NDArray[Any], NDArray[Any]] | None:
        f = self.r.hgetall(self._ckey(campaign_id, "predictions"))
        if not f:
            return None
        return int(f[b"model_version"]), read_array(f, "mean"), read_array(f, "variance")

    def put_ground_truth(self, campaign_id: str, spectra: NDArray[Any]) -> None:
        """Every spectrum of a replayed field of view (``rows x cols x n``), where one exists:
        the dashboard draws the random and raster baselines from it."""
        fields = self._array_or_blob(campaign_id, "spectra", "truth", np.asarray(spectra))
        self.r.hset(self._ckey(campaign_id, "truth"), mapping=fields)

    def ground_truth(self, campaign_id: str) -> NDArray[Any] | None:
        f = self.r.hgetall(self._ckey(campaign_id, "truth"))
        return self._read_array_or_blob(f, "spectra") if f else None

    # -- edges ---------------------------------------------------------------------------

    def touch_edge(self, edge_id: str, *, campaign_id: str | None, state: str,
                   stats: dict[str, Any] | None = None, ttl_s: float = 60.0,
                   pipe: Any = None) -> None:
        """Record that the edge is alive (``pipe``: add the writes to that pipeline, which
        the caller executes, instead of running them now)."""
        key = self.key("edge", edge_id)
        own = pipe is None
        pipe = self.r.pipeline() if own else pipe
        pipe.hset(key, mapping={"edge_id": edge_id, "campaign_id": campaign_id or "",
                                "state": state, "last_seen": time.time(),
                                "stats": dumps(stats or {})})
        pipe.pexpire(key, int(ttl_s * 1000))
        pipe.sadd(self.key("edges"), edge_id)
        if own:
            pipe.execute()

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        f = self.r.hgetall(self.key("edge", edge_id))
        if not f:
            return None
        return {"edge_id": text(f, "edge_id"), "campaign_id": text(f, "campaign_id") or None,
                "state": text(f, "state"), "last_seen": float(f[b"last_seen"]),
                "stats": loads(f.get(b"stats"), {})}

    # -- events --------------------------------------------------------------------------

    def _event(self, pipe: Any, campaign_id: str, kind: str, data: dict[str, Any]) -> None:
        fields = {"campaign": campaign_id, "kind": kind, "time": time.time(),
                  "data": dumps(data)}
        pipe.xadd(self.key("events"), fields, maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.xadd(self._ckey(campaign_id, "events"), fields, maxlen=CAMPAIGN_EVENTS_MAXLEN,
                  approximate=True)

    def publish_event(self, campaign_id: str, kind: str, data: dict[str, Any]) -> None:
        with self.r.pipeline() as pipe:
            self._event(pipe, campaign_id, kind, data)
            pipe.execute()

    def read_events(self, after: str = "$", *, campaign_id: str | None = None,
                    block_ms: int | None = None, count: int = 1000) -> list[Event]:
        """Events after ``after`` ("$": only new ones; "0-0": from the start)."""
        stream = self._ckey(campaign_id, "events") if campaign_id else self.key("events")
        if block_ms is None:
            entries = self.r.xrange(stream, min="-" if after in ("0-0", "$") else f"({after}",
                                    count=count)
        else:
            got = self.r.xread({stream: after}, count=count, block=block_ms)
            entries = got[0][1] if got else []
        return [Event(sid.decode(), text(f, "campaign"), text(f, "kind"), float(f[b"time"]),
                      loads(f.get(b"data"), {})) for sid, f in entries]

    def last_event_id(self) -> str:
        info = self.r.xinfo_stream(self.key("events")) if self.r.exists(
            self.key("events")) else None
        return info["last-generated-id"].decode() if info else "0-0"

    def recent_events(self, campaign_id: str, n: int = 100) -> list[Event]:
        entries = self.r.xrevrange(self._ckey(campaign_id, "events"), count=n)
        return [Event(sid.decode(), text(f, "campaign"), text(f, "kind"), float(f[b"time"]),
                      loads(f.get(b"data"), {})) for sid, f in reversed(entries)]

    # -- controls ------------------------------------------------------------------------

    def push_control(self, campaign_id: str, control: dict[str, Any], *, origin: str) -> str:
        """Record an operator control; the actor and the gateway follow it. Returns its id."""
        control = {**control, "origin": origin, "time": time.time()}
        with self.r.pipeline() as pipe:
            pipe.xadd(self._ckey(campaign_id, "controls"), {"control": dumps(control)},
                      maxlen=CAMPAIGN_EVENTS_MAXLEN, approximate=True)
            self._event(pipe, campaign_id, "control", control)
            sid = pipe.execute()[0]
        return str(sid.decode())

    def read_controls(self, campaign_id: str,
                      after: str = "0-0") -> list[tuple[str, dict[str, Any]]]:
        entries = self.r.xrange(self._ckey(campaign_id, "controls"),
                                min="-" if after == "0-0" else f"({after}")
        return [(sid.decode(), loads(f[b"control"])) for sid, f in entries]

    def remember_control_message(self, msg_id: str, campaign_id: str, control_id: str,
                                 ttl_s: int = 3600) -> None:
        """Map a forwarded control's msg_id to its control, so the edge's ack can be matched."""
        self.r.set(self.key("control-msg", msg_id), dumps([campaign_id, control_id]), ex=ttl_s)

    def control_for_message(self, msg_id: str) -> tuple[str, str] | None:
        raw = self.r.get(self.key("control-msg", msg_id))
        if raw is None:
            return None
        campaign_id, control_id = loads(raw)
        return str(campaign_id), str(control_id)

    def vetoed_points(self, campaign_id: str) -> set[tuple[int, int]]:
        raw = self.r.smembers(self._ckey(campaign_id, "vetoed"))
        return {(int(a), int(b)) for a, b in (x.decode().split(",") for x in raw)}

    def add_vetoes(self, campaign_id: str, points: Iterable[tuple[int, int]]) -> None:
        members = [f"{r},{c}" for r, c in points]
        if members:
            self.r.sadd(self._ckey(campaign_id, "vetoed"), *members)

    # -- leases --------------------------------------------------------------------------

    def acquire_lease(self, campaign_id: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the campaign's lease: one owner at a time."""
        key = self._ckey(campaign_id, "lease")
        ms = int(ttl_s * 1000)
        if self.r.set(key, owner, nx=True, px=ms):
            return True
        # renew only if we hold it (compare-and-extend, atomic)
        return bool(self.r.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
            1, key, owner, ms))

    def release_lease(self, campaign_id: str, owner: str) -> None:
        self.r.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then "
                    "return redis.call('DEL', KEYS[1]) else return 0 end",
                    1, self._ckey(campaign_id, "lease"), owner)

    def lease_owner(self, campaign_id: str) -> str | None:
        raw = self.r.get(self._ckey(campaign_id, "lease"))
        return None if raw is None else raw.decode()


def _pairs(fields: dict[str, Any]) -> list[Any]:
    """A map as the flat field/value list Redis commands and scripts take."""
    return [x for kv in fields.items() for x in kv]
