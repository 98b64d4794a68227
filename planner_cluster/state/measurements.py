"""The data of a campaign: its scan, its measurements (exactly once, with the budget, in one
Lua step), its plans and the model's maps."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from protocol.lifecycle import CampaignStatus, is_final

from .base import (
    CAMPAIGN_EVENTS_MAXLEN,
    EVENTS_MAXLEN,
    LUA_FINAL_STATUSES,
    CampaignEndedError,
    StoreBase,
    flat_pairs,
)
from .codec import array_fields, dumps, loads, read_array, text
from .records import PlanRecord, StoredMeasurement

# KEYS: stream, dedup, campaign, measured set, events, campaign events
# ARGV: dedup key, "row,col", now, campaign id, event json, budget event json,
#       then XADD field/value pairs
# Returns {stored: 0 duplicate / 1 new / 2 refused, stream id or status, n_measured, status}.
# A copy already stored is a duplicate whatever the status; a new one to a campaign that is
# over is refused ({2, status}); the one that reaches ``budget_points`` finishes the campaign
# (the planner owns the budget), in the same atomic step.
ADD_MEASUREMENT_SCRIPT = f"""
local existing = redis.call('HGET', KEYS[2], ARGV[1])
local status = redis.call('HGET', KEYS[3], 'status')
if existing then
  return {{0, existing, tonumber(redis.call('HGET', KEYS[3], 'n_measured')), status}}
end
if ({{{LUA_FINAL_STATUSES}}})[status] then return {{2, status, 0, status}} end
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


class DataStore(StoreBase):
    """Scans, measurements, plans and predictions (part of :class:`~.store.StateStore`)."""

    _add_measurement: Any  # the registered script above

    def spectral_axis(self, campaign_id: str) -> NDArray[Any] | None:
        f = self.r.hmget(self.ckey(campaign_id), ["axis", "axis_dtype", "axis_shape"])
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

    # -- scans ---------------------------------------------------------------------------

    def put_scan(self, campaign_id: str, image: NDArray[Any], channels: list[str]) -> None:
        fields: dict[str, Any] = {"channels": dumps(channels), "time": time.time()}
        fields.update(self._array_or_blob(campaign_id, "image", "scan", image))
        with self.r.pipeline() as pipe:
            pipe.hset(self.ckey(campaign_id, "scan"), mapping=fields)
            self._event(pipe, campaign_id, "scan", {"shape": list(image.shape),
                                                    "channels": channels})
            pipe.execute()

    def get_scan(self, campaign_id: str) -> tuple[NDArray[Any], list[str]] | None:
        f = self.r.hgetall(self.ckey(campaign_id, "scan"))
        if not f:
            return None
        return self._read_array_or_blob(f, "image"), loads(f.get(b"channels"), [])

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
        keys = [self.ckey(campaign_id, "measurements"), self.ckey(campaign_id, "dedup"),
                self.ckey(campaign_id), self.ckey(campaign_id, "measured"),
                self.key("events"), self.ckey(campaign_id, "events")]
        return keys, [key, f"{row},{col}", now, campaign_id, event, finished, *flat_pairs(fields)]

    def read_measurements(self, campaign_id: str, after: str = "0-0", *,
                          count: int | None = None,
                          block_ms: int | None = None) -> list[StoredMeasurement]:
        """Measurements after stream id ``after``, oldest first."""
        stream = self.ckey(campaign_id, "measurements")
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
        raw = self.r.smembers(self.ckey(campaign_id, "measured"))
        return {(int(a), int(b)) for a, b in (x.decode().split(",") for x in raw)}

    def count_measurements(self, campaign_id: str) -> int:
        return int(self.r.xlen(self.ckey(campaign_id, "measurements")))

    # -- plans ---------------------------------------------------------------------------

    def put_plan(self, campaign_id: str, plan: PlanRecord, *, first: bool = False) -> bool:
        """Write the campaign's plan, its model version and the ``plan`` event together.
        With ``first``, only if the campaign has no plan yet and has not ended (the gateway's
        seed plan never replaces the worker's, nor lands after an abort); returns whether it
        was written."""
        fields: dict[str, Any] = {"model_version": plan.model_version,
                                  "acquisition": plan.acquisition, "created": plan.created,
                                  "stats": dumps(plan.stats)}
        fields.update(array_fields("points", plan.points.astype(np.int32)))
        fields.update(array_fields("scores", plan.scores.astype(np.float32)))
        pkey = self.ckey(campaign_id, "plan")
        with self.r.pipeline() as pipe:
            while True:
                try:
                    if first:
                        pipe.watch(pkey, self.ckey(campaign_id))
                        status = pipe.hget(self.ckey(campaign_id), "status")
                        if pipe.exists(pkey) or (status is not None and is_final(status.decode())):
                            return False
                        pipe.multi()
                    pipe.hset(pkey, mapping=fields)
                    pipe.hset(self.ckey(campaign_id), mapping={
                        "model_version": plan.model_version, "updated": time.time()})
                    self._event(pipe, campaign_id, "plan", {
                        "model_version": plan.model_version, "n_points": int(len(plan.points)),
                        **plan.stats})
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def get_plan(self, campaign_id: str) -> PlanRecord | None:
        f = self.r.hgetall(self.ckey(campaign_id, "plan"))
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
        self.r.hset(self.ckey(campaign_id, "predictions"), mapping=fields)

    def get_predictions(self, campaign_id: str) -> tuple[int, NDArray[Any], NDArray[Any]] | None:
        f = self.r.hgetall(self.ckey(campaign_id, "predictions"))
        if not f:
            return None
        return int(f[b"model_version"]), read_array(f, "mean"), read_array(f, "variance")

    def put_ground_truth(self, campaign_id: str, spectra: NDArray[Any]) -> None:
        """Every spectrum of a replayed field of view (``rows x cols x n``), where one exists:
        the dashboard draws the random and raster baselines from it."""
        fields = self._array_or_blob(campaign_id, "spectra", "truth", np.asarray(spectra))
        self.r.hset(self.ckey(campaign_id, "truth"), mapping=fields)

    def ground_truth(self, campaign_id: str) -> NDArray[Any] | None:
        f = self.r.hgetall(self.ckey(campaign_id, "truth"))
        return self._read_array_or_blob(f, "spectra") if f else None
