"""Handlers of the edge's messages other than measurements (those are :mod:`.ingest`)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

import protocol as p
from protocol import ErrorCode
from protocol.lifecycle import CONTROL_EVENTS, LifecycleError, is_final

from ..campaign.schema import validate_config
from ..errors import CampaignConfigError
from ..state import CampaignLimitError
from .base import GatewayBase
from .seeding import write_seed_plan
from .settings import Refusal

log = logging.getLogger(__name__)


class HandlersMixin(GatewayBase):
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
        self.coordination.hold_edge(sender, self.hold_ttl_s)  # pushes come from here now
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
        try:  # each live campaign may cost a Ray actor: one edge must not start them unbounded
            created = self.store.create_campaign(
                cid, edge_id=sender, owner=str(body.config.get("owner", sender)),
                config=config, spectral_axis=body.spectral_axis,
                max_live_per_edge=self.settings.max_live_campaigns_per_edge)
        except CampaignLimitError as exc:
            raise Refusal(ErrorCode.CONFLICT, str(exc), campaign_id=cid,
                          limit=exc.limit) from None
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
        image = np.asarray(body.image)
        if self._grid(cid) is not None:  # one field of view per campaign, never replaced
            stored = self.store.get_scan(cid)
            if stored is not None and np.array_equal(stored[0], image):
                self._send(ids, p.Ack(msg.header.seq, "duplicate"), msg.header)
                self.on_campaign(cid)
                return
            raise Refusal(ErrorCode.CONFLICT, f"campaign {cid} has its scan already; a new "
                          "field of view is a new campaign", campaign_id=cid)
        scale = int(record.config.get("patch_scale", 1))
        grid = (image.shape[0] // scale, image.shape[1] // scale)
        if min(grid) < 1:
            raise Refusal(ErrorCode.BAD_SHAPE, f"a {image.shape[0]}x{image.shape[1]}"
                          f" image at patch_scale {scale} has no grid point", field="image")
        self._claim_slot(cid)
        try:
            self.store.put_scan(cid, image, list(body.channels))
        except BaseException:  # not stored: the edge resends it, and claims again then
            self.slots.release(cid)
            raise
        self.store.update_stats(cid, {"grid": list(grid), "waiting": ""})
        self._grids[cid] = grid
        self.store.try_transition(cid, "scan")
        self._send(ids, p.Ack(msg.header.seq, "stored"), msg.header)
        if self.settings.seed_plans:  # the microscope starts while the actor starts
            self.stats["seed_plans"] += 1
            self.background.submit(write_seed_plan, self.store, cid, record.config, image)
        self.on_campaign(cid)

    def _claim_slot(self, campaign_id: str) -> None:
        """Take one of the planner's active slots for the campaign (the scan is the step that
        costs a worker), checked and taken atomically across gateways; refuse the scan when
        all are held: the edge resends it after ``retry_after_s``. A slot is freed when its
        campaign ends, however it ends (:mod:`..state.capacity`)."""
        limit = self.settings.max_active_campaigns
        if limit <= 0:
            return
        claim = self.slots.claim(campaign_id, limit, time.time())
        if claim.granted:
            return
        record = self.store.require_campaign(campaign_id)
        if record.stats.get("waiting") != "capacity":
            self.store.update_stats(campaign_id, {"waiting": "capacity"})
            self.store.publish_event(campaign_id, "waiting_for_capacity",
                                     {"active": claim.active, "limit": limit})
        raise Refusal(ErrorCode.NO_CAPACITY,
                      f"the planner runs {claim.active} campaigns, all it can hold; the scan "
                      f"is taken when one ends (resend it in {self.settings.retry_after_s:g} s)",
                      campaign_id=campaign_id, retry_after_s=self.settings.retry_after_s,
                      active=claim.active, limit=limit)

    def _heartbeat_writes(self, msg: p.Message, pipe: Any) -> None:
        """A heartbeat's writes (presence, this gateway's hold on the edge), added to the
        turn's pipeline: no fsync of their own."""
        body = msg.body
        assert isinstance(body, p.Heartbeat)
        self.store.touch_edge(msg.header.sender, campaign_id=body.campaign_id,
                              state=body.state, stats=body.stats,
                              ttl_s=max(60.0, 10 * self.settings.heartbeat_s), pipe=pipe)
        self.coordination.hold_edge(msg.header.sender, self.hold_ttl_s, pipe=pipe)

    def _heartbeat_reply(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Heartbeat)
        self._send(ids, p.Heartbeat("ok"), msg.header)
        # An edge behind the newest plan gets it again: a push lost while the edge was
        # reconnecting, or while this gateway was down, is repaired within one heartbeat.
        if body.campaign_id and isinstance(body.stats.get("plan_version"), int):
            plan = self._plan(body.campaign_id)  # cached; plan events drop it
            if (plan is not None and plan.model_version > body.stats["plan_version"]
                    and self._campaign_edge(body.campaign_id) == msg.header.sender):
                self._send_plan(ids, body.campaign_id)

    def _control(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Control)
        self._owned_campaign(body.campaign_id, msg.header.sender)
        if (body.control_id and p.valid_id(body.control_id)
                and not self.coordination.claim_control(body.control_id)):
            # a resend of a control already applied (here or by another gateway)
            self._send(ids, p.Ack(msg.header.seq, "accepted", "duplicate"), msg.header)
            return
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
        self.coordination.release_edge(msg.header.sender)
        self._welcomed.discard(msg.header.sender)

    def _remote_error(self, ids: list[bytes], msg: p.Message) -> None:
        body = msg.body
        assert isinstance(body, p.Error)
        log.warning("edge %s reported [%s] %s", msg.header.sender, body.code, body.message)
