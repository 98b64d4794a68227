"""Logging in and out, who am I, and user and token management (admins)."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..state import StateError
from ..state.users import ROLES, hash_password
from .auth import SESSION_COOKIE, Principal, authenticate, check_origin, client_address
from .deps import Admin, Ctx, User

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["auth"])


class LoginRequest(BaseModel):
    """Either ``name`` and ``password``, or an API ``token``."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    password: str | None = Field(default=None, repr=False)
    token: str | None = Field(default=None, repr=False)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str = Field(description=" | ".join(ROLES))
    campaigns: list[str] = Field(default_factory=list,
                                 description="campaigns an operator controls; * for all")
    password: str | None = Field(default=None, repr=False, min_length=8)
    token_ttl_s: float | None = Field(default=None, gt=0)


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_s: float | None = Field(default=None, gt=0)
    label: str = ""


def _require_json(request: Request) -> None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(415, "send application/json")


@router.post("/login", summary="Open a session (cookie) with a password or a token")
def login(request: Request, response: Response, ctx: Ctx, body: LoginRequest) -> dict[str, Any]:
    _require_json(request)
    check_origin(request)
    # Guessing is throttled per client address and per account, across monitor replicas.
    subjects = [f"client:{client_address(request, ctx.config.proxies)}"]
    if body.name is not None:
        subjects.append(f"user:{body.name}")
    failures, wait = ctx.users.login_failures(*subjects)
    if failures >= ctx.config.login_max_failures:
        ctx.metrics.logins.labels("throttled").inc()
        raise HTTPException(429, f"too many failed logins; try again in {wait:.0f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})
    name = ""
    if body.token is not None and body.name is None and body.password is None:
        cred = ctx.users.resolve_token(body.token)
        if cred is not None and cred.expires > time.time():
            name = cred.user
    elif body.name is not None and body.password is not None and body.token is None:
        user = ctx.users.check_password(body.name, body.password)
        name = user.name if user is not None else ""
    else:
        raise HTTPException(422, "send name and password, or token")
    if not name or ctx.users.get_user(name) is None:
        ctx.users.note_login_failure(*subjects, window_s=ctx.config.login_window_s)
        ctx.metrics.logins.labels("refused").inc()
        log.info("login refused%s", f" for {body.name!r}" if body.name else "")
        raise HTTPException(401, "wrong name, password or token")
    if body.name is not None:
        ctx.users.clear_login_failures(f"user:{body.name}")
    session, csrf, expires = ctx.users.open_session(name, ctx.config.session_ttl_s)
    response.set_cookie(SESSION_COOKIE, session, max_age=int(ctx.config.session_ttl_s),
                        httponly=True, samesite="strict", secure=ctx.config.cookie_secure,
                        path="/")
    ctx.metrics.logins.labels("ok").inc()
    log.info("%s logged in", name)
    user = ctx.users.get_user(name)
    assert user is not None
    return Principal(user.name, user.role, user.campaigns, "session", expires, csrf).public()


@router.post("/logout", summary="End the session")
def logout(request: Request, response: Response, ctx: Ctx, who: User) -> dict[str, str]:
    session = request.cookies.get(SESSION_COOKIE)
    if who.via == "session" and session:
        ctx.users.close_session(session)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"status": "logged out"}


@router.get("/me", summary="Who this request is (and the session's CSRF token)")
def me(request: Request, ctx: Ctx) -> dict[str, Any]:
    who = authenticate(ctx.users, request)
    if who is None:
        raise HTTPException(401, "not logged in", headers={"WWW-Authenticate": "Bearer"})
    return who.public()


@router.get("/users", summary="Every user (admins)", tags=["users"])
def list_users(ctx: Ctx, who: Admin) -> list[dict[str, Any]]:
    return [{"name": u.name, "role": u.role, "campaigns": list(u.campaigns),
             "has_password": u.has_password, "created": u.created}
            for u in ctx.users.list_users()]


@router.post("/users", status_code=201, summary="Create or update a user; returns a new token "
             "(shown once)", tags=["users"])
def create_user(ctx: Ctx, who: Admin, body: NewUser) -> dict[str, Any]:
    pw = (hash_password(body.password, ctx.config.pbkdf2_iterations)
          if body.password is not None else None)
    try:
        user = ctx.users.put_user(body.name, body.role, body.campaigns, password_hash=pw)
        token, expires = ctx.users.issue_token(user.name, body.token_ttl_s
                                               or ctx.config.token_ttl_s, label=f"by {who.name}")
    except StateError as exc:
        raise HTTPException(422, str(exc)) from None
    log.info("%s created or updated user %s (%s)", who.name, user.name, user.role)
    return {"name": user.name, "role": user.role, "campaigns": list(user.campaigns),
            "token": token, "expires": expires}


@router.post("/users/{name}/tokens", status_code=201, summary="A new token for a user (admins)",
             tags=["users"])
def new_token(ctx: Ctx, who: Admin, name: str, body: NewToken) -> dict[str, Any]:
    try:
        token, expires = ctx.users.issue_token(name, body.ttl_s or ctx.config.token_ttl_s,
                                               label=body.label or f"by {who.name}")
    except StateError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"name": name, "token": token, "expires": expires}


@router.delete("/users/{name}", summary="Remove a user and revoke its tokens (admins)",
               tags=["users"])
def delete_user(ctx: Ctx, who: Admin, name: Annotated[str, "user name"]) -> dict[str, str]:
    if not ctx.users.delete_user(name):
        raise HTTPException(404, f"unknown user {name!r}")
    log.info("%s removed user %s", who.name, name)
    return {"status": "removed", "name": name}
