"""Measurements: checked one by one as they arrive, committed together once per loop turn.

The serve loop collects the measurements (and heartbeats) of one loop turn (every frame that
arrived), then
:meth:`IngestMixin._commit` writes them in one Redis round trip with their replay marks and
the plan checks (:class:`~planner_cluster.state.ingest.Ingest`), and only then acks each one:
an ack still means "stored and on disk", one ``fsync`` covers the whole turn. Each stored
measurement is answered with the newest plan less measured and vetoed points, from the plan
cache (the reply costs no read of its own).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

import protocol as p
from protocol import ErrorCode

from ..state import PlanRecord
from ..state.ingest import IngestResult, MeasurementIn
from .handlers import HandlersMixin
from .settings import Refusal

log = logging.getLogger(__name__)


@dataclass
class Pending:
    """A measurement (or, with ``measurement`` None, a heartbeat) waiting for this turn's
    commit."""

    identity: bytes
    msg: p.Message
    measurement: MeasurementIn | None
    signature: bytes | None


class IngestMixin(HandlersMixin):
    def _check_measurement(self, msg: p.Message) -> MeasurementIn:
        """Refuse what cannot be stored: another edge's campaign, no scan, off the grid,
        a spectrum of the wrong length (the model compares spectra value by value)."""
        body, h = msg.body, msg.header
        assert isinstance(body, p.Measurement)
        cid = body.campaign_id
        self._owned_campaign(cid, h.sender)
        grid = self._grid(cid)
        if grid is None:
            raise Refusal(ErrorCode.SCAN_REQUIRED, "send the scan before measurements",
                          campaign_id=cid)
        if body.row >= grid[0] or body.col >= grid[1]:
            raise Refusal(ErrorCode.OUT_OF_BOUNDS,
                          f"point ({body.row}, {body.col}) is outside the {grid[0]}x{grid[1]} "
                          "grid", row=body.row, col=body.col)
        spectrum = np.asarray(body.spectrum)
        expected = self._spectrum_size(cid)
        if expected is not None and spectrum.size != expected:
            raise Refusal(ErrorCode.BAD_SHAPE,
                          f"spectrum has {spectrum.size} values; campaign {cid} has "
                          f"{expected} per spectrum", field="spectrum", expected=expected,
                          got=int(spectrum.size))
        return MeasurementIn(cid, h.sender, h.session, h.seq, body.row, body.col, spectrum,
                             body.source, body.plan_version, body.dwell_s)

    def _commit(self, batch: list[Pending]) -> None:
        """Store ``batch`` in one round trip, then ack each measurement and reply with the
        plan, and answer each heartbeat."""
        if not batch:
            return
        self.stats["batches"] += 1
        measured = [m for m in batch if m.measurement is not None]
        beats = [m for m in batch if m.measurement is None]
        plans = {cid: plan for cid in {m.measurement.campaign_id for m in measured
                                       if m.measurement is not None}
                 if (plan := self._plan(cid)) is not None}
        signed = [m for m in batch if m.signature is not None]

        def heartbeat_writes(pipe: Any) -> None:
            for beat in beats:
                self._heartbeat_writes(beat.msg, pipe)

        result = self.ingest.commit([m.signature for m in signed if m.signature is not None],
                                    [m.measurement for m in measured
                                     if m.measurement is not None],
                                    {cid: plan.points for cid, plan in plans.items()},
                                    heartbeat_writes if beats else None)
        replayed = {id(m) for m, fresh in zip(signed, result.first_seen, strict=True)
                    if not fresh}
        for pending, outcome in zip(measured, result.outcomes, strict=True):
            if id(pending) in replayed:  # an identical message reached a gateway before
                self._error([pending.identity], pending.msg, ErrorCode.REPLAYED,
                            "message was already received (replay)", {})
            else:
                self._answer_measurement(pending, outcome, plans, result)
        for beat in beats:
            if id(beat) in replayed:
                self._error([beat.identity], beat.msg, ErrorCode.REPLAYED,
                            "message was already received (replay)", {})
            else:
                self._heartbeat_reply([beat.identity], beat.msg)

    def _answer_measurement(self, pending: Pending, outcome: tuple[int, int, str],
                            plans: dict[str, PlanRecord], result: IngestResult) -> None:
        code, n_measured, status = outcome
        ids, h = [pending.identity], pending.msg.header
        assert pending.measurement is not None
        cid = pending.measurement.campaign_id
        if code == 2:
            self._error(ids, pending.msg, ErrorCode.CAMPAIGN_ENDED,
                        f"campaign {cid} is {status}: it takes no more measurements",
                        {"campaign_id": cid, "status": status})
            return
        self.stats["stored" if code else "duplicates"] += 1
        self._send(ids, p.Ack(h.seq, "stored" if code else "duplicate"), h)
        # a resend gets its ack only: plans reach the edge by push and heartbeat, and a
        # resend storm must stay cheap
        plan = plans.get(cid)
        if not code or plan is None:
            return
        if result.plan_versions[cid] != plan.model_version:  # the cached one is old
            self._plans.pop(cid, None)
            self._send_plan(ids, cid, h)
        else:
            self._send_plan_rest(ids, cid, plan, result.done[cid], n_measured, status, h)
