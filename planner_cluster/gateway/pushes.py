"""Pushes from the events stream: new plans and dashboard controls, to the edge's gateway.

Every gateway follows the events stream. A ``plan`` event drops the cached plan; it is pushed
only by the gateway that holds the campaign's edge (welcomed here, and the edge's hold in
Redis names this gateway), so gateways do no work for edges they do not hold. A dashboard
control is applied (status move, vetoes) exactly once: the holding gateway claims it at once
(``SET NX`` on its control id), any other after ``control_grace_s`` in case the holder is gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis

import protocol as p
from protocol.lifecycle import LifecycleError

from .handlers import HandlersMixin
from .settings import PLANNER_ACTIONS

log = logging.getLogger(__name__)


class PushesMixin(HandlersMixin):
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
                        self._push(event.campaign_id, event.kind, event.data, event.event_id)
                    except redis.RedisError as exc:
                        log.warning("cannot push %s: %s", event.kind, exc)
                    except Exception:
                        log.exception("gateway bug while pushing %s", event.kind)
        finally:
            follower.close()

    def _holds(self, edge_id: str) -> bool:
        """Whether this gateway pushes to ``edge_id``: welcomed here, and not taken over
        since by another gateway (a failed-over edge said hello there)."""
        return edge_id in self._welcomed and self.coordination.holds(edge_id)

    def _push(self, campaign_id: str, kind: str, data: dict[str, Any], event_id: str) -> None:
        if kind == "plan":
            cached = self._plans.get(campaign_id)
            if cached is not None and cached.model_version <= int(data.get("model_version", 0)):
                del self._plans[campaign_id]  # the next reply reads the new one
        if kind not in ("plan", "control"):
            return
        edge_id = self._campaign_edge(campaign_id)
        if edge_id is None:
            return
        if kind == "plan":
            if self._holds(edge_id):
                self._send_plan([edge_id.encode()], campaign_id)
            return
        if data.get("origin") == "edge" or data.get("action") in PLANNER_ACTIONS:
            return  # applied by the gateway it came to / carried out by the worker
        control_id = str(data.get("control_id", ""))
        claim = control_id if p.valid_id(control_id) else f"event-{event_id}"
        if self.coordination.holder(edge_id) in (None, self.gateway_id):
            self._apply_dashboard_control(campaign_id, edge_id, data, claim)
        else:  # the holder applies it; this gateway only if the holder does not in time
            asyncio.get_running_loop().call_later(
                self.settings.control_grace_s, self._apply_dashboard_control_safely,
                campaign_id, edge_id, data, claim)

    def _apply_dashboard_control_safely(self, campaign_id: str, edge_id: str,
                                        data: dict[str, Any], claim: str) -> None:
        try:
            self._apply_dashboard_control(campaign_id, edge_id, data, claim)
        except redis.RedisError as exc:
            log.warning("cannot apply control %s: %s", claim, exc)
        except Exception:
            log.exception("gateway bug while applying control %s", claim)

    def _apply_dashboard_control(self, campaign_id: str, edge_id: str, data: dict[str, Any],
                                 claim: str) -> None:
        if not self.coordination.claim_control(claim):
            return  # applied already, here or by another gateway
        control_id = str(data.get("control_id", ""))
        try:
            self._apply_control_state(campaign_id, data["action"], data.get("args", {}))
        except LifecycleError as exc:  # it changed since the dashboard looked
            self.store.publish_event(campaign_id, "control_result", {
                "control_id": control_id, "status": "refused", "detail": exc.message,
                "by": "planner"})
            return
        if not self._holds(edge_id):
            return  # the edge is not connected here; it learns the status from its plans
        msg = self._send([edge_id.encode()], p.Control(
            campaign_id, data["action"], data.get("args", {}), user=str(data.get("user", "")),
            control_id=control_id))
        if msg is not None:
            self.store.remember_control_message(msg.header.msg_id, campaign_id, control_id)
