"""Who is asking, and what they may do.

Two ways in: an API token (``Authorization: Bearer ap_...``, for scripts) or a login session
(cookie ``ap_session``, made by ``POST /api/login`` with a password or a token). Viewers watch
every campaign; operators also control the campaigns they are assigned (or own); admins do
everything. A cookie-authenticated request that changes state must carry the session's CSRF
token in ``X-CSRF-Token`` (synchronizer token: the server keeps it with the session) and, if
the browser sent ``Origin``, come from this host. Token requests carry no ambient authority,
so they need neither.
"""

from __future__ import annotations

import hmac
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from ..config import ConfigError
from ..state import CampaignRecord, StateError
from ..state.users import Credential, UserStore

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport, a base dependency there
    import tomli as tomllib

log = logging.getLogger(__name__)

SESSION_COOKIE = "ap_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """An authenticated user. ``via`` is ``token`` or ``session``."""

    name: str
    role: str
    campaigns: tuple[str, ...]
    via: str
    expires: float
    csrf: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_control(self, record: CampaignRecord) -> bool:
        if self.role == "admin":
            return True
        if self.role != "operator":
            return False
        return ("*" in self.campaigns or record.campaign_id in self.campaigns
                or record.owner == self.name)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "role": self.role,
                               "campaigns": list(self.campaigns), "via": self.via,
                               "expires": self.expires}
        if self.via == "session":
            out["csrf_token"] = self.csrf
        return out


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(users: UserStore, request: Request) -> Principal | None:
    """The request's principal, None when it brings no credentials; 401 for bad ones."""
    token = bearer_token(request)
    if token is not None:
        cred, via = users.resolve_token(token), "token"
        if cred is None:
            raise _unauthorized("unknown or revoked token")
    else:
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            return None
        cred, via = users.resolve_session(session), "session"
        if cred is None:
            raise _unauthorized("session ended; log in again")
    return _principal(users, cred, via)


def _principal(users: UserStore, cred: Credential, via: str) -> Principal:
    if cred.expires <= time.time():
        raise _unauthorized(f"{via} expired")
    user = users.get_user(cred.user)
    if user is None:
        raise _unauthorized(f"user {cred.user!r} no longer exists")
    return Principal(user.name, user.role, user.campaigns, via, cred.expires, cred.csrf)


def check_csrf(principal: Principal, request: Request) -> None:
    """Refuse a cookie-authenticated state change without the CSRF token, or cross-origin."""
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), principal.csrf.encode()):
        raise HTTPException(403, "missing or wrong CSRF token (header X-CSRF-Token)")
    check_origin(request)


def client_address(request: Request, trusted_proxies: frozenset[str]) -> str:
    """The requesting client's address: the peer, or, when the peer is a trusted reverse
    proxy, the nearest address in ``X-Forwarded-For`` that is not a trusted proxy (entries
    further left can be forged by the client)."""
    peer = request.client.host if request.client else "?"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if hop not in trusted_proxies:
            return hop
    return peer


def check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin.split("://", 1)[-1].rstrip("/") != host:
        raise HTTPException(403, f"cross-origin request from {origin} refused")


def load_users_file(users: UserStore, path: str) -> int:
    """Create or update the users of a TOML file (``[users.NAME] role, campaigns,
    password_hash``); return how many. Tokens are never kept in files."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read users file {path}: {exc}") from None
    table = data.get("users", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [users] must be a table of users")
    for name, spec in table.items():
        if not isinstance(spec, dict) or set(spec) - {"role", "campaigns", "password_hash"}:
            raise ConfigError(f"{path}: user {name!r} takes role, campaigns, password_hash")
        campaigns = spec.get("campaigns", [])
        if not isinstance(campaigns, list) or not all(isinstance(c, str) for c in campaigns):
            raise ConfigError(f"{path}: user {name!r}: campaigns must be a list of ids")
        try:
            users.put_user(name, str(spec.get("role", "viewer")), campaigns,
                           password_hash=spec.get("password_hash"))
        except StateError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    log.info("loaded %d user(s) from %s", len(table), path)
    return len(table)
