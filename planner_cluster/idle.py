"""Idle campaigns are ended, and say why: a campaign that no edge drives any more must not
hold its worker (and its place under the planner's capacity) forever."""

from __future__ import annotations

import logging
import time

from protocol.lifecycle import is_final

from .state import StateStore

log = logging.getLogger(__name__)


def reap_idle_campaigns(store: StateStore, idle_s: float, now: float | None = None) -> list[str]:
    """Abort every live campaign unchanged for ``idle_s`` whose edge is not connected.

    A paused campaign whose edge still sends heartbeats is not idle: the operator may take as
    long as they like. Returns the ids aborted (each gets a ``status`` event with the reason).
    """
    now = time.time() if now is None else now
    reaped = []
    for record in store.list_campaigns():
        if is_final(record.status) or now - record.updated < idle_s:
            continue
        edge = store.edge(record.edge_id)
        if (edge is not None and edge.get("state") != "gone"
                and edge.get("campaign_id") == record.campaign_id):
            continue
        reason = (f"idle: no measurement and no edge for {now - record.updated:.0f} s "
                  f"(campaign_idle_s = {idle_s:g})")
        if store.try_transition(record.campaign_id, "abort", reason=reason, by="planner"):
            log.info("campaign %s aborted: %s", record.campaign_id, reason)
            reaped.append(record.campaign_id)
    return reaped
