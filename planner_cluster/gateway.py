"""The gateway: an asyncio ZeroMQ ROUTER between edges and the planner's state.

For each measurement, in this order: persist it (idempotent by sender/session/seq), ack it,
and reply with the newest plan minus measured and vetoed points. The write itself notifies
the campaign actor (it blocks on the campaign's measurement stream). No model work here.

The gateway keeps nothing Redis lacks: what it caches (welcomed edges, campaign owners, grid
shapes) is rebuilt from Redis on a miss, so it can be killed and restarted at any moment.
New plans and dashboard controls are pushed to edges as they appear on the events stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import redis
import zmq
import zmq.asyncio

import protocol as p
from protocol import ErrorCode, transport
from protocol.lifecycle import CONTROL_EVENTS, LIVE, CampaignStatus, LifecycleError, is_final

from .campaign.schema import validate_config
from .curve_auth import connection_user
from .errors import CampaignConfigError, PlannerError
from .state import CampaignEndedError, CampaignRecord, StateStore
from .state.credentials import EdgeCredentials

log = logging.getLogger(__name__)


#: Controls the campaign worker carries out; the edge has nothing to do with them.
PLANNER_ACTIONS = frozenset({"set_acquisition", "set_scalarizer", "set_exploration"})


class Refusal(PlannerError):
    """A request the gateway answers with an ``error`` reply carrying ``code``."""

    def __init__(self, code: ErrorCode, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class GatewaySettings:
    bind: str
    signer: p.Signer
    planner_id: str = "planner"
    heartbeat_s: float = 2.0
    limits: p.Limits = p.DEFAULT_LIMITS
    curve: transport.CurveServerKeys | None = None
    max_live_campaigns_per_edge: int = 8
    #: campaigns with a worker (scanned, not over) the cluster can hold at once; a scan
    #: beyond it is refused with ``no_capacity`` and ``retry_after_s`` (0: no limit)
    max_active_campaigns: int = 0
    retry_after_s: float = 5.0
    #: edges issued their own key (``autopilot edges add``) must use it; with
    #: ``require_edge_keys`` an edge without one is refused before anything is stored,
    #: otherwise it may use the shared ``signer`` (migration)
    require_edge_keys: bool = False
    #: edges the gateway welcomes at once (identities cost Redis records)
    max_edges: int = 1000


Handler = Callable[[list[bytes], p.Message], None]


#: Map fields of edge messages that the store keeps as JSON.
_JSON_FIELDS = ("instrument", "config", "stats", "args")


def _require_json(value: Any, field: str) -> None:
    """Refuse a map the store cannot keep as JSON (msgpack can carry binary values)."""
    if value is None:
        return
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Refusal(ErrorCode.BAD_FIELD, f"{field!r} must hold JSON values only: {exc}",
                      field=field) from None


def _wire_value(value: Any) -> Any:
    """A detail value msgpack can always encode: a hostile input's sizes can exceed 64 bits
    (a declared shape of 2**40 x 2**40), and an error reply must never fail to encode."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [_wire_value(v) for v in value[:64]]
    return str(value)[:1000]


class Gateway:
    """Serves edges until :meth:`stop`.

    Args:
        store: the state store (this process's Redis connection).
        settings: endpoint, signing, limits, CURVE.
        on_campaign: called with a campaign id when it is created or resumed (the planner
            uses it to make sure the campaign's actor runs); must not block.
    """

    def __init__(self, store: StateStore, settings: GatewaySettings,
                 on_campaign: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.on_campaign = on_campaign or (lambda cid: None)
        self.session = p.Session(settings.planner_id, settings.signer, limits=settings.limits)
        self.credentials = EdgeCredentials(store)
        self._signers: dict[bytes, p.Signer] = {}
        self.ctx = zmq.asyncio.Context()
        self.sock: zmq.asyncio.Socket | None = None
        self._tx: zmq.Socket[Any] | None = None
        self._welcomed: set[str] = set()
        self._campaigns: dict[str, CampaignRecord] = {}
        self._grids: dict[str, tuple[int, int]] = {}
        self._spectrum_sizes: dict[str, int] = {}
        self._stopping = asyncio.Event()
        self.stats = {"received": 0, "errors": 0, "stored": 0, "duplicates": 0, "plans_sent": 0}
        self._handlers: dict[type[p.Body], Handler] = {
            p.Hello: self._hello, p.CampaignStart: self._campaign_start, p.Scan: self._scan,
            p.Measurement: self._measurement, p.Heartbeat: self._heartbeat,
            p.Control: self._control, p.Ack: self._ack, p.Bye: self._bye,
            p.Error: self._remote_error,
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def serve(self) -> None:
        auth = None
        if self.settings.curve is not None:
            from .curve_auth import EdgeKeyAuthenticator

            auth = EdgeKeyAuthenticator(self.ctx, Path(self.settings.curve.authorized_dir))
            auth.start()
        sock = cast(zmq.asyncio.Socket, transport.make_router(
            self.ctx, self.settings.bind, limits=self.settings.limits, curve=self.settings.curve))
        self.sock = sock
        # Sends go through a synchronous shadow of the same socket (this thread only), so a
        # reply to a vanished edge raises EHOSTUNREACH here instead of in an unawaited Future.
        self._tx = zmq.Socket.shadow(sock.underlying)
        log.info("gateway listening on %s", self.settings.bind)
        follower = asyncio.create_task(self._follow_events())
        try:
            while not self._stopping.is_set():
                if not await sock.poll(100):
                    continue
                frames = await sock.recv_multipart(copy=False)
                self._handle(frames)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            sock.close(linger=0)
            if auth is not None:
                auth.stop()
            self.ctx.term()

    def stop(self) -> None:
        self._stopping.set()

    # -- dispatch -------------------------------------------------------------------------

    def _handle(self, frames: list[Any]) -> None:
        self.stats["received"] += 1
        identity = bytes(frames[0].buffer) if frames else b""
        msg: p.Message | None = None
        try:
            identities, msg = self.session.decode(frames, self._signer_for(identity))
            sender = identities[0].decode(errors="replace") if identities else ""
            if msg.header.sender != sender:
                raise Refusal(ErrorCode.FORBIDDEN,
                              f"header sender {msg.header.sender!r} does not match the "
                              f"connection's identity {sender!r}")
            if self.settings.curve is not None and connection_user(frames) != sender:
                raise Refusal(ErrorCode.FORBIDDEN, f"this connection's CURVE key is "
                              f"{connection_user(frames) or 'unnamed'}'s, not {sender!r}'s")
            if not isinstance(msg.body, p.Hello) and not self._is_welcomed(sender):
                raise Refusal(ErrorCode.NOT_WELCOMED, "say hello first")
            for name in _JSON_FIELDS:  # kept in Redis as JSON
                _require_json(getattr(msg.body, name, None), name)
            handler = self._handlers.get(type(msg.body))
            if handler is None:
                raise Refusal(ErrorCode.UNKNOWN_MSG_TYPE,
                              f"the planner does not accept {msg.msg_type!r} from edges")
            handler(identities, msg)
        except p.ProtocolError as exc:
            detail = dict(exc.detail)
            if msg is None and exc.parent_seq is not None:
                detail["seq"] = exc.parent_seq
            self._error([identity], msg, exc.code, exc.message, detail,
                        parent_id=exc.parent_id)
        except Refusal as exc:
            self._error([identity], msg, exc.code, exc.message, exc.detail)
        except redis.RedisError as exc:
            log.warning("state store unavailable: %s", exc)
            self._error([identity], msg, ErrorCode.UNAVAILABLE,
                        "the planner's state store is unavailable; resend later", {})
        except Exception:  # a bug: keep serving, tell the edge, log the traceback
            log.exception("gateway bug while handling %s", msg.msg_type if msg else "frames")
            self._error([identity], msg, ErrorCode.INTERNAL, "internal planner error", {})

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
        safe = {k: _wire_value(v) for k, v in detail.items()}
        self._send(identities, p.Error(code.value, message, safe),
                   msg.header if msg is not None else None, parent_id=parent_id)

    # -- state helpers ------------------------------------------------------------------

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
        reads its status and stats again)."""
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

    # -- handlers -------------------------------------------------------------------------

    def _hello(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Hello)
        if p.PROTOCOL_VERSION not in body.versions:
            raise Refusal(ErrorCode.UNSUPPORTED_VERSION,
                          f"edge speaks {body.versions}, planner speaks "
                          f"{sorted(p.SUPPORTED_VERSIONS)}", supported=sorted(p.SUPPORTED_VERSIONS))
        sender = msg.header.sender
        if sender not in self._welcomed and len(self._welcomed) >= self.settings.max_edges:
            raise Refusal(ErrorCode.NO_CAPACITY, f"this gateway serves {len(self._welcomed)} "
                          "edges, its most; try again later or another gateway",
                          retry_after_s=self.settings.retry_after_s)
        self.store.touch_edge(sender, campaign_id=None, state="connected",
                              stats={"instrument": body.instrument, "software": body.software},
                              ttl_s=max(60.0, 10 * self.settings.heartbeat_s))
        self._welcomed.add(sender)
        limits = self.settings.limits
        self._send(ids, p.Welcome(self.settings.planner_id, p.PROTOCOL_VERSION,
                                  self.settings.heartbeat_s,
                                  {"max_buffer_bytes": limits.max_buffer_bytes,
                                   "max_content_bytes": limits.max_content_bytes}), msg.header)

    def _campaign_start(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.CampaignStart)
        sender, cid = msg.header.sender, body.campaign_id
        origin = f"{sender}:{msg.header.session}:{msg.header.seq}"
        config = dict(body.config, origin=origin)
        if "patch_scale" not in config:  # the instrument said it in hello
            edge = self.store.edge(sender)
            instrument = (edge or {}).get("stats", {}).get("instrument", {})
            scale = instrument.get("patch_scale", 1)
            config["patch_scale"] = scale if type(scale) is int else 1
        try:  # checked at the door: nothing is stored for a campaign that could never plan
            validate_config(config, None if body.spectral_axis is None
                            else np.asarray(body.spectral_axis).ravel().tolist())
        except CampaignConfigError as exc:
            raise Refusal(ErrorCode.BAD_FIELD, str(exc), field=f"config.{exc.field}",
                          campaign_id=cid) from None
        if self.store.get_campaign(cid) is None:
            # each live campaign may cost a Ray actor: one edge (it holds the signing key)
            # must not be able to start them without bound
            live = [c for c in self.store.list_campaigns()
                    if c.edge_id == sender and not is_final(c.status)]
            limit = self.settings.max_live_campaigns_per_edge
            if len(live) >= limit:
                raise Refusal(ErrorCode.CONFLICT,
                              f"edge {sender!r} already runs {len(live)} campaigns, the most "
                              f"this planner allows at once; finish or abort one first",
                              campaign_id=cid, limit=limit)
        created = self.store.create_campaign(
            cid, edge_id=sender, owner=str(body.config.get("owner", sender)), config=config,
            spectral_axis=body.spectral_axis)
        if created:
            detail = "created"
        else:
            record = self.store.require_campaign(cid)
            if record.edge_id != sender:
                raise Refusal(ErrorCode.FORBIDDEN, f"campaign {cid!r} belongs to another edge",
                              campaign_id=cid)
            if not body.resume and record.config.get("origin") != origin:
                raise Refusal(ErrorCode.CONFLICT,
                              f"campaign {cid!r} exists; send resume=true to continue it",
                              campaign_id=cid)
            detail = "resumed"
            self._campaigns[cid] = record
        self._send(ids, p.Ack(msg.header.seq, "stored", detail), msg.header)
        self.store.touch_edge(sender, campaign_id=cid, state="campaign",
                              ttl_s=max(60.0, 10 * self.settings.heartbeat_s))
        if self._grid(cid) is not None:  # a worker only once there is a scan to plan on
            self.on_campaign(cid)
        self._send_plan(ids, cid, msg.header)

    def _scan(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Scan)
        cid = body.campaign_id
        record = self._owned_campaign(cid, msg.header.sender, fresh=True)
        if is_final(record.status):
            raise Refusal(ErrorCode.CAMPAIGN_ENDED, f"campaign {cid} is {record.status}",
                          campaign_id=cid, status=record.status)
        if self._grid(cid) is not None:  # one field of view per campaign, never replaced
            stored = self.store.get_scan(cid)
            if stored is not None and np.array_equal(stored[0], np.asarray(body.image)):
                self._send(ids, p.Ack(msg.header.seq, "duplicate"), msg.header)
                self.on_campaign(cid)
                return
            raise Refusal(ErrorCode.CONFLICT, f"campaign {cid} has its scan already; a new "
                          "field of view is a new campaign", campaign_id=cid)
        self._check_capacity(cid)
        scale = int(record.config.get("patch_scale", 1))
        grid = (body.image.shape[0] // scale, body.image.shape[1] // scale)
        if min(grid) < 1:
            raise Refusal(ErrorCode.BAD_SHAPE, f"a {body.image.shape[0]}x{body.image.shape[1]}"
                          f" image at patch_scale {scale} has no grid point", field="image")
        self.store.put_scan(cid, np.asarray(body.image), list(body.channels))
        self.store.update_stats(cid, {**record.stats, "grid": list(grid), "waiting": ""})
        self._grids[cid] = grid
        self.store.try_transition(cid, "scan")
        self._send(ids, p.Ack(msg.header.seq, "stored"), msg.header)
        self.on_campaign(cid)

    def _check_capacity(self, campaign_id: str) -> None:
        """Refuse a scan (the step that costs a worker) when the cluster holds as many
        active campaigns as it can; the edge resends it after ``retry_after_s``."""
        limit = self.settings.max_active_campaigns
        if limit <= 0:
            return
        active = [c for c in self.store.list_campaigns()
                  if c.status in LIVE and c.status != CampaignStatus.CREATED]
        if len(active) < limit:
            return
        record = self.store.require_campaign(campaign_id)
        if record.stats.get("waiting") != "capacity":
            self.store.update_stats(campaign_id, {**record.stats, "waiting": "capacity"})
            self.store.publish_event(campaign_id, "waiting_for_capacity",
                                     {"active": len(active), "limit": limit})
        raise Refusal(ErrorCode.NO_CAPACITY,
                      f"the planner runs {len(active)} campaigns, all it can hold; the scan "
                      f"is taken when one ends (resend it in {self.settings.retry_after_s:g} s)",
                      campaign_id=campaign_id, retry_after_s=self.settings.retry_after_s,
                      active=len(active), limit=limit)

    def _measurement(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        h = msg.header
        assert isinstance(body, p.Measurement)
        self._owned_campaign(body.campaign_id, h.sender)
        grid = self._grid(body.campaign_id)
        if grid is None:
            raise Refusal(ErrorCode.SCAN_REQUIRED, "send the scan before measurements",
                          campaign_id=body.campaign_id)
        if body.row >= grid[0] or body.col >= grid[1]:
            raise Refusal(ErrorCode.OUT_OF_BOUNDS,
                          f"point ({body.row}, {body.col}) is outside the {grid[0]}x{grid[1]} "
                          "grid", row=body.row, col=body.col)
        expected = self._spectrum_size(body.campaign_id)
        size = int(np.asarray(body.spectrum).size)
        if expected is not None and size != expected:
            # the model compares spectra value by value: one of another length cannot be scored
            raise Refusal(ErrorCode.BAD_SHAPE,
                          f"spectrum has {size} values; campaign {body.campaign_id} has "
                          f"{expected} per spectrum", field="spectrum", expected=expected,
                          got=size)
        try:
            stored, _count = self.store.add_measurement(
                body.campaign_id, sender=h.sender, session=h.session, seq=h.seq, row=body.row,
                col=body.col, spectrum=np.asarray(body.spectrum), source=body.source,
                plan_version=body.plan_version, dwell_s=body.dwell_s)
        except CampaignEndedError as exc:
            raise Refusal(ErrorCode.CAMPAIGN_ENDED, str(exc), campaign_id=body.campaign_id,
                          status=exc.status) from None
        self.stats["stored" if stored else "duplicates"] += 1
        self._send(ids, p.Ack(h.seq, "stored" if stored else "duplicate"), h)
        if stored:  # a resend gets its ack only: plans reach the edge by push and heartbeat,
            self._send_plan(ids, body.campaign_id, h)  # and a resend storm must stay cheap

    def _send_plan(self, ids: list[bytes], campaign_id: str,
                   parent: p.Header | None = None) -> None:
        plan = self.store.get_plan(campaign_id)
        if plan is None:
            return
        done = self.store.measured_points(campaign_id) | self.store.vetoed_points(campaign_id)
        keep = [i for i, (r, c) in enumerate(plan.points.tolist()) if (r, c) not in done]
        record = self.store.get_campaign(campaign_id)
        self._send(ids, p.Plan(campaign_id, plan.model_version,
                               plan.points[keep].astype(np.int32),
                               plan.scores[keep].astype(np.float32), plan.acquisition,
                               measured=record.n_measured if record else 0,
                               status=record.status if record else "running"), parent)
        self.stats["plans_sent"] += 1

    def _heartbeat(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Heartbeat)
        self.store.touch_edge(msg.header.sender, campaign_id=body.campaign_id,
                              state=body.state, stats=body.stats,
                              ttl_s=max(60.0, 10 * self.settings.heartbeat_s))
        self._send(ids, p.Heartbeat("ok"), msg.header)
        # An edge behind the newest plan gets it again: a push lost while the edge was
        # reconnecting, or while this gateway was down, is repaired within one heartbeat.
        if body.campaign_id and isinstance(body.stats.get("plan_version"), int):
            plan = self.store.get_plan(body.campaign_id)
            record = (self._campaigns.get(body.campaign_id)
                      or self.store.get_campaign(body.campaign_id))
            if (plan is not None and plan.model_version > body.stats["plan_version"]
                    and record is not None and record.edge_id == msg.header.sender):
                self._send_plan(ids, body.campaign_id)

    def _control(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Control)
        self._owned_campaign(body.campaign_id, msg.header.sender)
        try:
            self._apply_control_state(body.campaign_id, body.action, body.args)
        except LifecycleError as exc:  # e.g. resume of a finished campaign: nothing changes
            self._send(ids, p.Ack(msg.header.seq, "refused", exc.message), msg.header)
            return
        self.store.push_control(body.campaign_id, {
            "action": body.action, "args": body.args, "user": body.user or msg.header.sender,
            "control_id": body.control_id or msg.header.msg_id}, origin="edge")
        self._send(ids, p.Ack(msg.header.seq, "accepted"), msg.header)

    def _apply_control_state(self, campaign_id: str, action: str, args: dict[str, Any]) -> None:
        """The part of a control the store keeps directly (vetoes, status)."""
        if action == "veto":
            region = args.get("region")
            try:
                points = [(int(r), int(c)) for r, c in args.get("points", [])]
                if region:
                    r0, c0, r1, c1 = (int(v) for v in region)
            except (TypeError, ValueError):
                raise Refusal(ErrorCode.BAD_FIELD, "veto takes args.points [[row, col], ...] "
                              "and/or args.region [row0, col0, row1, col1]", field="args") from None
            if region:
                grid = self._grid(campaign_id)
                if grid is None:
                    raise Refusal(ErrorCode.CONFLICT, "send the scan before vetoing a region",
                                  campaign_id=campaign_id)
                # clipped to the grid: a region is never enumerated beyond the field of view
                rows = range(max(r0, 0), min(r1, grid[0] - 1) + 1)
                cols = range(max(c0, 0), min(c1, grid[1] - 1) + 1)
                points += [(r, c) for r in rows for c in cols]
            self.store.add_vetoes(campaign_id, points)
        elif action in CONTROL_EVENTS:
            self.store.transition(campaign_id, CONTROL_EVENTS[action], by="control")

    def _ack(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Ack)
        found = self.store.control_for_message(msg.header.parent_id)
        if found is None:
            return
        campaign_id, control_id = found
        self.store.publish_event(campaign_id, "control_result", {
            "control_id": control_id, "status": body.status, "detail": body.detail,
            "edge_id": msg.header.sender})

    def _bye(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Bye)
        campaign_id = body.campaign_id
        if campaign_id:
            self._owned_campaign(campaign_id, msg.header.sender)
        else:  # a spec 1.0 edge: the campaign it last named
            edge = self.store.edge(msg.header.sender)
            campaign_id = edge.get("campaign_id") if edge else None
        if campaign_id:
            event = "abort" if body.reason.startswith("abort") else "finish"
            self.store.try_transition(campaign_id, event, reason=body.reason, by="edge")
        self.store.touch_edge(msg.header.sender, campaign_id=campaign_id, state="gone",
                              ttl_s=60.0)
        self._welcomed.discard(msg.header.sender)

    def _remote_error(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Error)
        log.warning("edge %s reported [%s] %s", msg.header.sender, body.code, body.message)

    # -- pushes from the events stream ----------------------------------------------------

    async def _follow_events(self) -> None:
        """Push new plans, and controls from dashboards, to the campaign's edge."""
        follower = self.store.blocking_clone()
        last = await asyncio.to_thread(follower.last_event_id)
        try:
            while True:
                try:
                    events = await asyncio.to_thread(follower.read_events, last, block_ms=200)
                except redis.RedisError as exc:
                    log.warning("events stream unavailable: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                for event in events:
                    last = event.event_id
                    try:
                        self._push(event.campaign_id, event.kind, event.data)
                    except redis.RedisError as exc:
                        log.warning("cannot push %s: %s", event.kind, exc)
                    except Exception:
                        log.exception("gateway bug while pushing %s", event.kind)
        finally:
            follower.close()

    def _push(self, campaign_id: str, kind: str, data: dict[str, Any]) -> None:
        if kind not in ("plan", "control"):
            return
        record = self.store.get_campaign(campaign_id)
        if record is None:
            return
        ids = [record.edge_id.encode()]
        if kind == "plan":
            self._send_plan(ids, campaign_id)
        elif data.get("origin") != "edge" and data.get("action") not in PLANNER_ACTIONS:
            try:
                self._apply_control_state(campaign_id, data["action"], data.get("args", {}))
            except LifecycleError as exc:  # it changed since the dashboard looked
                self.store.publish_event(campaign_id, "control_result", {
                    "control_id": str(data.get("control_id", "")), "status": "refused",
                    "detail": exc.message, "by": "planner"})
                return
            msg = self._send(ids, p.Control(campaign_id, data["action"], data.get("args", {}),
                                            user=str(data.get("user", "")),
                                            control_id=str(data.get("control_id", ""))))
            if msg is not None:
                self.store.remember_control_message(msg.header.msg_id, campaign_id,
                                                    str(data.get("control_id", "")))
