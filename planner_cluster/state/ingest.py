"""The gateway's hot path in Redis: many measurements in one round trip (group commit).

One pipeline per gateway loop turn carries, in order: the replay guard's first-sight marks for
every signed message of the turn, the measurement script for each measurement, and then
``SMISMEMBER`` on the points of each touched campaign's plan (measured and vetoed). Redis
answers a pipeline after one ``fsync`` of everything it wrote (``appendfsync always`` flushes
once per event-loop turn), so an ack still means "on disk" while the disk is paid once per
batch, not once per measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from .store import StateStore

__all__ = ["IngestResult", "Ingest", "MeasurementIn"]


@dataclass(frozen=True)
class MeasurementIn:
    """One measurement as the gateway received it (checked for bounds and shape)."""

    campaign_id: str
    sender: str
    session: str
    seq: int
    row: int
    col: int
    spectrum: NDArray[Any]
    source: str
    plan_version: int
    dwell_s: float


@dataclass(frozen=True)
class IngestResult:
    """What one pipeline returned.

    Attributes:
        first_seen: per signature given, False when another message had it (a replay).
        outcomes: per measurement ``(code, n_measured, status)``; code 1 stored, 0 a
            duplicate, 2 refused because the campaign is over (status says how).
        done: per campaign, a boolean per point of the plan given: measured or vetoed.
        plan_versions: per campaign, the model version of its plan in Redis now (a cached
            plan older than this is replaced before it answers anyone).
    """

    first_seen: list[bool]
    outcomes: list[tuple[int, int, str]]
    done: dict[str, NDArray[np.bool_]]
    plan_versions: dict[str, int]


class Ingest:
    """Group commit of measurements, with the replay guard and plan filtering, on ``store``.

    Args:
        store: the gateway's state store.
        replay_window_s: how long a signature is remembered (the protocol's replay window).
    """

    def __init__(self, store: StateStore, replay_window_s: float = 300.0) -> None:
        self.store = store
        self.replay_ms = int(replay_window_s * 1000)
        self._sha: str | None = None

    def commit(self, signatures: Sequence[bytes], measurements: Sequence[MeasurementIn],
               plans: dict[str, NDArray[np.int32]],
               writes: Callable[[Any], None] | None = None) -> IngestResult:
        """Mark ``signatures`` seen, store ``measurements``, check ``plans``' points
        (``campaign -> q x 2``) and run ``writes`` (which adds other writes of the turn,
        e.g. heartbeats, to the pipeline it is given), in one round trip."""
        r = self.store.r
        if self._sha is None:
            self._sha = str(r.script_load(self.store._add_measurement.script))
        with r.pipeline(transaction=False) as pipe:
            for signature in signatures:
                pipe.set(self.store.key("replay", signature.hex()), 1, nx=True,
                         px=self.replay_ms)
            calls = [self._call(m) for m in measurements]
            for keys, args in calls:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            order = list(plans)
            for cid in order:
                members = [f"{r_},{c}" for r_, c in plans[cid].tolist()] or ["-"]
                pipe.smismember(self.store.ckey(cid, "measured"), members)
                pipe.smismember(self.store.ckey(cid, "vetoed"), members)
                pipe.hget(self.store.ckey(cid, "plan"), "model_version")
            if writes is not None:
                writes(pipe)
            replies = pipe.execute(raise_on_error=False)
        n_sig, n_meas = len(signatures), len(calls)
        scripted = replies[n_sig:n_sig + n_meas]
        for i, reply in enumerate(scripted):  # a restarted Redis forgot the script
            if isinstance(reply, redis.exceptions.NoScriptError):
                self._sha = str(r.script_load(self.store._add_measurement.script))
                keys, args = calls[i]
                scripted[i] = r.evalsha(self._sha, len(keys), *keys, *args)
        for reply in replies:
            if isinstance(reply, Exception) and not isinstance(
                    reply, redis.exceptions.NoScriptError):
                raise reply
        outcomes = [(int(code), int(n or 0), status.decode() if status else "")
                    for code, _id, n, status in scripted]
        done: dict[str, NDArray[np.bool_]] = {}
        versions: dict[str, int] = {}
        tail = replies[n_sig + n_meas:]
        for i, cid in enumerate(order):
            measured, vetoed, version = tail[3 * i:3 * i + 3]
            done[cid] = (np.asarray(measured, bool) | np.asarray(vetoed, bool))[
                :len(plans[cid])]
            versions[cid] = int(version or 0)
        return IngestResult([bool(x) for x in replies[:n_sig]], outcomes, done, versions)

    def first_seen(self, signature: bytes) -> bool:
        """Mark one signature seen; False if it was seen before (by any gateway)."""
        return bool(self.store.r.set(self.store.key("replay", signature.hex()), 1, nx=True,
                                     px=self.replay_ms))

    def _call(self, m: MeasurementIn) -> tuple[list[str], list[Any]]:
        return self.store.measurement_call(
            m.campaign_id, sender=m.sender, session=m.session, seq=m.seq, row=m.row,
            col=m.col, spectrum=m.spectrum, source=m.source, plan_version=m.plan_version,
            dwell_s=m.dwell_s)
