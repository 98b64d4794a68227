"""The JSON API over campaigns: the same views the dashboard draws, controls, live events."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ..scalarizers import SCALARIZERS
from . import baselines, controls, views
from .deps import Campaign, Ctx, User

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["campaigns"])


class CampaignSummary(BaseModel):
    campaign_id: str
    status: str
    owner: str
    microscope: str
    edge: dict[str, Any] | None
    n_measured: int
    budget_points: int | None
    progress: float | None
    model_version: int
    loop_latency_s: float | None
    created: float
    last_activity: float
    final: bool
    waiting: str


class ControlSent(BaseModel):
    control_id: str
    action: str
    args: dict[str, Any]
    requested: str
    user: str


@router.get("/options", summary="Actions, acquisition functions and scalarizers")
def options(who: User) -> dict[str, Any]:
    return {"actions": list(controls.ACTIONS),
            "acquisitions": {k: list(v) for k, v in controls.ACQUISITIONS.items()},
            "scalarizers": {k: {"params": dict(s.params), "units": s.units, "doc": s.doc}
                            for k, s in sorted(SCALARIZERS.items())}}


@router.get("/campaigns", response_model=list[CampaignSummary],
            summary="Every campaign across microscopes")
def list_campaigns(ctx: Ctx, who: User) -> list[dict[str, Any]]:
    return [views.summary(ctx.store, c) for c in ctx.store.list_campaigns()]


@router.get("/campaigns/{campaign_id}", summary="One campaign: summary, config, grid, vetoes")
def get_campaign(ctx: Ctx, record: Campaign, who: User) -> dict[str, Any]:
    return {**views.detail(ctx.store, record), "can_control": who.can_control(record)}


@router.get("/campaigns/{campaign_id}/scan", summary="The structural image (0..1, downsampled)")
def get_scan(ctx: Ctx, record: Campaign) -> dict[str, Any]:
    scan = views.scan_view(ctx.store, record, ctx.config.max_image)
    if scan is None:
        raise HTTPException(404, "no scan yet")
    return scan


@router.get("/campaigns/{campaign_id}/measurements",
            summary="Measurements in order, scored by the current scalarizer")
def get_measurements(ctx: Ctx, record: Campaign,
                     after: Annotated[str, Query(pattern=r"^\d+-\d+$")] = "0-0"
                     ) -> dict[str, Any]:
    return views.measurements_view(ctx.store, record, after)


@router.get("/campaigns/{campaign_id}/spectra", summary="The latest raw spectra")
def get_spectra(ctx: Ctx, record: Campaign,
                n: Annotated[int, Query(ge=0, le=50)] = 5) -> dict[str, Any]:
    return views.spectra_view(ctx.store, record, n)


@router.get("/campaigns/{campaign_id}/predictions",
            summary="Predicted mean and uncertainty (std) maps of the latest model")
def get_predictions(ctx: Ctx, record: Campaign) -> dict[str, Any]:
    pred = views.predictions_view(ctx.store, record)
    if pred is None:
        raise HTTPException(404, "no predictions yet")
    return pred


@router.get("/campaigns/{campaign_id}/plan", summary="The latest plan and its next points")
def get_plan(ctx: Ctx, record: Campaign) -> dict[str, Any]:
    plan = views.plan_view(ctx.store, record)
    if plan is None:
        raise HTTPException(404, "no plan yet")
    return plan


@router.get("/campaigns/{campaign_id}/baseline",
            summary="What a scan without a model would have found (random, raster), per step")
def get_baseline(ctx: Ctx, record: Campaign) -> dict[str, Any]:
    return baselines.baseline_view(ctx.store, record)


@router.get("/campaigns/{campaign_id}/events", summary="The campaign's latest events")
def get_events(ctx: Ctx, record: Campaign,
               n: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    return [views.event_view(e) for e in ctx.store.recent_events(record.campaign_id, n)]


@router.post("/campaigns/{campaign_id}/controls", status_code=202, response_model=ControlSent,
             summary="Send a control (operators of the campaign, admins)")
def post_control(ctx: Ctx, record: Campaign, who: User,
                 body: controls.ControlRequest) -> dict[str, Any]:
    if not who.can_control(record):
        ctx.metrics.controls.labels(body.action[:32], "forbidden").inc()
        log.info("refused %s on %s from %s (%s)", body.action, record.campaign_id, who.name,
                 who.role)
        raise HTTPException(403, f"{who.name} ({who.role}) may not control "
                                 f"{record.campaign_id}")
    try:
        sent = controls.send(ctx.store, record, body, who.name)
    except controls.ControlRefused as exc:
        ctx.metrics.controls.labels(body.action[:32], "invalid").inc()
        raise HTTPException(exc.status, exc.message) from None
    ctx.metrics.controls.labels(sent["action"], "sent").inc()
    log.info("%s sent %s to %s (control %s)", who.name, sent["action"], record.campaign_id,
             sent["control_id"])
    return sent


@router.get("/campaigns/{campaign_id}/controls/{control_id}",
            summary="A control, what the edge answered, and whether the planner applied it")
def get_control(ctx: Ctx, record: Campaign, control_id: str) -> dict[str, Any]:
    control: dict[str, Any] | None = None
    results: list[dict[str, Any]] = []
    applied: dict[str, Any] | None = None
    for e in ctx.store.recent_events(record.campaign_id, 5000):
        if e.kind == "control" and e.data.get("control_id") == control_id:
            control = views.event_view(e)
        elif e.kind == "control_result" and e.data.get("control_id") == control_id:
            results.append(views.event_view(e))
        elif (e.kind == "replanned" and control is not None and applied is None
              and e.data.get("reason") == control["data"].get("action")):
            applied = views.event_view(e)  # the worker's first replan for this action after it
    if control is None:
        raise HTTPException(404, f"no control {control_id!r} in {record.campaign_id}")
    return {"control": control, "results": results, "planner_applied": applied}


@router.get("/stream", summary="Live events (text/event-stream), all or one campaign's",
            response_class=StreamingResponse)
async def stream(request: Request, ctx: Ctx, who: User, campaign: str | None = None,
                 last_event_id: Annotated[str | None, Header(pattern=r"^\d+-\d+$")] = None
                 ) -> StreamingResponse:
    hub, metrics = ctx.hub, ctx.metrics
    if hub.clients >= ctx.config.max_live_clients:
        raise HTTPException(503, f"{hub.clients} live streams are open, the most this monitor "
                                 "serves (max_live_clients); close a dashboard tab or try later",
                            headers={"Retry-After": "10"})
    if campaign is not None and ctx.store.get_campaign(campaign) is None:
        raise HTTPException(404, f"unknown campaign {campaign!r}")

    async def body() -> Any:
        metrics.sse_clients.inc()
        try:
            async for chunk in hub.stream(campaign, last_event_id, ctx.config.keepalive_s):
                yield chunk
        finally:
            metrics.sse_clients.dec()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
