"""What every request handler shares: the app context and the auth dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ..state import CampaignRecord, StateStore
from ..state.users import UserStore
from .auth import Principal, authenticate, check_csrf
from .config import MonitorConfig
from .live import EventHub
from .metrics import MonitorMetrics


@dataclass
class MonitorContext:
    config: MonitorConfig
    store: StateStore
    users: UserStore
    hub: EventHub
    metrics: MonitorMetrics


def context(request: Request) -> MonitorContext:
    ctx: MonitorContext = request.app.state.ctx
    return ctx


Ctx = Annotated[MonitorContext, Depends(context)]


def principal(request: Request, ctx: Ctx) -> Principal:
    """The logged-in user (401 otherwise); state changes by session also pass CSRF checks."""
    who = authenticate(ctx.users, request)
    if who is None:
        raise HTTPException(401, "log in first (POST /api/login, or Authorization: Bearer)",
                            headers={"WWW-Authenticate": "Bearer"})
    check_csrf(who, request)
    return who


User = Annotated[Principal, Depends(principal)]


def admin(who: User) -> Principal:
    if not who.is_admin:
        raise HTTPException(403, "admins only")
    return who


Admin = Annotated[Principal, Depends(admin)]


def campaign(campaign_id: str, ctx: Ctx, who: User) -> CampaignRecord:
    """The campaign in the path (404 if unknown); any logged-in user may watch it."""
    record = ctx.store.get_campaign(campaign_id)
    if record is None:
        raise HTTPException(404, f"unknown campaign {campaign_id!r}")
    return record


Campaign = Annotated[CampaignRecord, Depends(campaign)]
