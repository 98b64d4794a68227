"""What every part of the gateway shares: its state, replies, and caches rebuilt from Redis.

The gateway keeps nothing Redis lacks: what it caches (welcomed edges, campaign owners, grid
shapes, the newest plans) is rebuilt from Redis on a miss, so it can be killed and restarted
at any moment. Plans are dropped from the cache when a ``plan`` event names a newer one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

import protocol as p
from protocol import ErrorCode
from protocol.signing import ReplayGuard

from ..state import CampaignRecord, PlanRecord, StateStore
from ..state.capacity import ActiveSlots
from ..state.credentials import EdgeCredentials
from ..state.gateways import GatewayCoordination
from ..state.ingest import Ingest
from .settings import GatewaySettings, Refusal, wire_value

log = logging.getLogger(__name__)


class RecordingReplayGuard(ReplayGuard):
    """The process-local replay guard, remembering the signature it checked last, so the
    gateway can also mark it seen in Redis (a replay to another gateway is refused too)."""

    last: bytes | None = None

    def check(self, signature: bytes, sent_at: float) -> None:
        super().check(signature, sent_at)
        self.last = signature


class GatewayBase:
    """State and helpers of :class:`~.server.Gateway` (see there for the arguments)."""

    def __init__(self, store: StateStore, settings: GatewaySettings,
                 on_campaign: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.on_campaign = on_campaign or (lambda cid: None)
        self.gateway_id = settings.gateway_id or f"{settings.planner_id}-{uuid.uuid4().hex[:8]}"
        self.session = p.Session(settings.planner_id, settings.signer, limits=settings.limits)
        self.replay_guard = RecordingReplayGuard()
        self.session.replay_guard = self.replay_guard
        self.credentials = EdgeCredentials(store)
        self.coordination = GatewayCoordination(store, self.gateway_id)
        self.slots = ActiveSlots(store)  # max_active_campaigns, shared by every gateway
        self.ingest = Ingest(store, self.replay_guard.window_s)
        self.background = ThreadPoolExecutor(1, thread_name_prefix="gateway-seed")
        self._signers: dict[bytes, p.Signer] = {}
        self.ctx = zmq.asyncio.Context()
        self.sock: zmq.asyncio.Socket | None = None
        self._tx: zmq.Socket[Any] | None = None
        self._welcomed: set[str] = set()
        self._campaigns: dict[str, CampaignRecord] = {}
        self._grids: dict[str, tuple[int, int]] = {}
        self._spectrum_sizes: dict[str, int] = {}
        self._plans: dict[str, PlanRecord] = {}
        self.stats = {"received": 0, "errors": 0, "stored": 0, "duplicates": 0, "plans_sent": 0,
                      "batches": 0, "seed_plans": 0}

    @property
    def hold_ttl_s(self) -> float:
        """How long a hold on an edge lasts without a heartbeat."""
        return max(10.0, 5 * self.settings.heartbeat_s)

    # -- replies --------------------------------------------------------------------------

    def _send(self, identities: list[bytes], body: p.Body,
              parent: p.Header | None = None, parent_id: str = "") -> p.Message | None:
        assert self._tx is not None, "serve() not started"
        msg = self.session.message(body, parent=parent, parent_id=parent_id)
        try:
            try:
                signer = self._signer_for(identities[0]) if identities else None
            except Refusal:  # an unknown or revoked edge: it cannot check this reply anyway
                signer = None
            self._tx.send_multipart(self.session.encode(msg, identities, signer), copy=False,
                                    flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH: that edge is gone; it will resend
            log.info("cannot reach %r: %s", identities, exc)
            return None
        return msg

    def _error(self, identities: list[bytes], msg: p.Message | None, code: ErrorCode,
               message: str, detail: dict[str, Any], parent_id: str = "") -> None:
        """An ``error`` reply naming what it answers: ``parent_id`` (and ``detail.seq``)."""
        self.stats["errors"] += 1
        log.info("refused %s from %r: [%s] %s", msg.msg_type if msg else "frames",
                 identities, code.value, message)
        if msg is not None:
            detail = {"seq": msg.header.seq, **detail}
        safe = {k: wire_value(v) for k, v in detail.items()}
        self._send(identities, p.Error(code.value, message, safe),
                   msg.header if msg is not None else None, parent_id=parent_id)

    def _send_plan(self, ids: list[bytes], campaign_id: str,
                   parent: p.Header | None = None) -> None:
        """The newest plan less measured and vetoed points (outside the hot path)."""
        plan = self._plan(campaign_id)
        if plan is None:
            return
        done = self.ingest.commit([], [], {campaign_id: plan.points}).done[campaign_id]
        record = self.store.get_campaign(campaign_id)
        self._send_plan_rest(ids, campaign_id, plan, done,
                             record.n_measured if record else 0,
                             record.status if record else "running", parent)

    def _send_plan_rest(self, ids: list[bytes], campaign_id: str, plan: PlanRecord,
                        done: np.ndarray[Any, Any], measured: int, status: str,
                        parent: p.Header | None) -> None:
        keep = ~done
        self._send(ids, p.Plan(campaign_id, plan.model_version,
                               plan.points[keep].astype(np.int32),
                               plan.scores[keep].astype(np.float32), plan.acquisition,
                               measured=measured, status=status), parent)
        self.stats["plans_sent"] += 1

    # -- caches rebuilt from Redis ------------------------------------------------------

    def _plan(self, campaign_id: str) -> PlanRecord | None:
        plan = self._plans.get(campaign_id)
        if plan is None:
            plan = self.store.get_plan(campaign_id)
            if plan is not None:
                if len(self._plans) > 10_000:
                    self._plans.clear()
                self._plans[campaign_id] = plan
        return plan

    def _signer_for(self, identity: bytes) -> p.Signer:
        """The key an edge's messages are checked with, and its replies signed with: its own
        when it was issued one; else the shared key, unless every edge must have its own."""
        edge_id = identity.decode(errors="replace")
        cred = self.credentials.get(edge_id) if p.valid_id(edge_id) else None
        if cred is None:
            if self.settings.require_edge_keys:
                raise Refusal(ErrorCode.FORBIDDEN, f"edge {edge_id!r} has no key on this "
                              f"planner; an admin issues one with `autopilot edges add`")
            return self.session.signer
        if cred.key is None:
            raise Refusal(ErrorCode.FORBIDDEN, f"edge {edge_id!r}'s key was revoked")
        signer = self._signers.get(cred.key)
        if signer is None:
            if len(self._signers) > 10_000:
                self._signers.clear()
            signer = self._signers[cred.key] = p.Signer(cred.key, self.session.signer.scheme)
        return signer

    def _is_welcomed(self, edge_id: str) -> bool:
        if edge_id in self._welcomed:
            return True
        if self.store.edge(edge_id) is not None:  # welcomed before a gateway restart
            self._welcomed.add(edge_id)
            return True
        return False

    def _owned_campaign(self, campaign_id: str, edge_id: str, *,
                        fresh: bool = False) -> CampaignRecord:
        """The campaign, checked to be ``edge_id``'s (cached: owners never change; ``fresh``
        reads its status and stats again). A cached record is read, never written back."""
        record = None if fresh else self._campaigns.get(campaign_id)
        if record is None:
            record = self.store.get_campaign(campaign_id)
            if record is None:
                raise Refusal(ErrorCode.UNKNOWN_CAMPAIGN, f"no campaign {campaign_id!r}",
                              campaign_id=campaign_id)
            self._campaigns[campaign_id] = record
        if record.edge_id != edge_id:
            raise Refusal(ErrorCode.FORBIDDEN,
                          f"campaign {campaign_id!r} belongs to another edge",
                          campaign_id=campaign_id)
        return record

    def _campaign_edge(self, campaign_id: str) -> str | None:
        """The edge a campaign belongs to (cached: owners never change)."""
        record = self._campaigns.get(campaign_id) or self.store.get_campaign(campaign_id)
        if record is None:
            return None
        self._campaigns.setdefault(campaign_id, record)
        return record.edge_id

    def _grid(self, campaign_id: str) -> tuple[int, int] | None:
        grid = self._grids.get(campaign_id)
        if grid is None:
            record = self.store.get_campaign(campaign_id)
            raw = record.stats.get("grid") if record else None
            if raw:
                grid = self._grids[campaign_id] = (int(raw[0]), int(raw[1]))
        return grid

    def _spectrum_size(self, campaign_id: str) -> int | None:
        """The campaign's values per spectrum (cached once known)."""
        size = self._spectrum_sizes.get(campaign_id)
        if size is None:
            size = self.store.spectrum_length(campaign_id)
            if size is not None:
                self._spectrum_sizes[campaign_id] = size
        return size
