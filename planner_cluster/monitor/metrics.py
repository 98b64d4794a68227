"""Prometheus metrics: campaign and loop state read from Redis at scrape time, plus the
monitor's own counters. One registry per app (tests build many apps in one process)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import redis
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from protocol.lifecycle import FINAL, CampaignStatus

from ..state import StateStore
from ..state.freshness import freshness_of

log = logging.getLogger(__name__)


class CampaignCollector(Collector):
    """Per-campaign gauges, collected from the state store on each scrape."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        try:
            records = self.store.list_campaigns()
            plans = {c.campaign_id: self.store.get_plan(c.campaign_id) for c in records}
            edges = {c.edge_id: self.store.edge(c.edge_id) for c in records}
            ages = {c.campaign_id: freshness_of(self.store, c, plan, now).data_age_s
                    for c in records if (plan := plans[c.campaign_id]) is not None}
        except redis.RedisError as exc:
            log.warning("metrics: state store unavailable: %s", exc)
            up = GaugeMetricFamily("autopilot_state_up", "1 if Redis answered this scrape")
            up.add_metric([], 0.0)
            yield up
            return
        fams: dict[str, GaugeMetricFamily] = {
            name: GaugeMetricFamily(f"autopilot_campaign_{name}", doc, labels=labels)
            for name, doc, labels in (
                ("info", "campaign (1), labelled with its owner, microscope and status",
                 ["campaign", "owner", "microscope", "status"]),
                ("measurements", "measurements stored", ["campaign"]),
                ("budget_points", "point budget (absent without one)", ["campaign"]),
                ("model_version", "latest model version", ["campaign"]),
                ("fit_seconds", "training time of the latest plan", ["campaign"]),
                ("rank_seconds", "ranking time of the latest plan", ["campaign"]),
                ("loop_latency_seconds", "fit + rank of the latest plan", ["campaign"]),
                ("best_value", "best scalar so far (as the planner sees it)", ["campaign"]),
                ("plan_data_age_seconds", "plan freshness: how long the oldest measurement "
                 "the newest plan has not used has waited (0: it used them all)", ["campaign"]),
                ("seconds_since_activity", "time since the campaign last changed", ["campaign"]),
                ("edge_seconds_since_seen", "time since its edge was last heard from",
                 ["campaign"]),
            )}
        by_status = GaugeMetricFamily("autopilot_campaigns", "campaigns by status",
                                      labels=["status"])
        counts = dict.fromkeys([s.value for s in CampaignStatus], 0)
        live_ages = []
        for c in records:
            cid = [c.campaign_id]
            counts[c.status] = counts.get(c.status, 0) + 1
            fams["info"].add_metric([c.campaign_id, c.owner, c.edge_id, c.status], 1.0)
            fams["measurements"].add_metric(cid, float(c.n_measured))
            points = (c.config.get("budget") or {}).get("points")
            if isinstance(points, int):
                fams["budget_points"].add_metric(cid, float(points))
            fams["model_version"].add_metric(cid, float(c.model_version))
            fams["seconds_since_activity"].add_metric(cid, max(0.0, now - c.updated))
            stats: dict[str, Any] = (plan.stats if (plan := plans[c.campaign_id]) else {})
            for key in ("fit_s", "rank_s"):
                if isinstance(stats.get(key), int | float):
                    fams[key.replace("_s", "_seconds")].add_metric(cid, float(stats[key]))
            if "fit_s" in stats or "rank_s" in stats:
                fams["loop_latency_seconds"].add_metric(
                    cid, float(stats.get("fit_s", 0.0)) + float(stats.get("rank_s", 0.0)))
            if isinstance(stats.get("best"), int | float):
                fams["best_value"].add_metric(cid, float(stats["best"]))
            if c.campaign_id in ages:
                fams["plan_data_age_seconds"].add_metric(cid, ages[c.campaign_id])
                if c.status not in FINAL:
                    live_ages.append(ages[c.campaign_id])
            edge = edges.get(c.edge_id)
            if edge is not None:
                fams["edge_seconds_since_seen"].add_metric(cid, max(0.0, now - edge["last_seen"]))
        for status, n in sorted(counts.items()):
            by_status.add_metric([status], float(n))
        up = GaugeMetricFamily("autopilot_state_up", "1 if Redis answered this scrape")
        up.add_metric([], 1.0)
        yield up
        yield by_status
        yield _age_quantiles(live_ages)
        yield from fams.values()


def _age_quantiles(ages: list[float]) -> GaugeMetricFamily:
    """p50 / p95 / max of the live campaigns' plan data ages (absent without any)."""
    fam = GaugeMetricFamily("autopilot_plan_data_age_seconds",
                            "plan data age over the live campaigns with a plan, by quantile",
                            labels=["quantile"])
    if ages:
        for q in (0.5, 0.95, 1.0):
            fam.add_metric([str(q)], float(np.quantile(ages, q)))
    return fam


class MonitorMetrics:
    """The app's registry: the campaign collector and the monitor's own counters."""

    def __init__(self, store: StateStore) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(CampaignCollector(store))
        self.controls = Counter("autopilot_monitor_controls", "controls sent from the monitor",
                                ["action", "outcome"], registry=self.registry)
        self.logins = Counter("autopilot_monitor_logins", "login attempts", ["outcome"],
                              registry=self.registry)
        self.requests = Counter("autopilot_monitor_http_requests", "HTTP requests served",
                                ["method", "status"], registry=self.registry)
        self.sse_clients = Gauge("autopilot_monitor_live_clients",
                                 "open live-update (SSE) streams", registry=self.registry)
