"""Monitor users, API tokens and login sessions in Redis (the monitor's part of the state).

Secrets are never stored: a token or session id is kept as its SHA-256 (they are 256-bit
random values, so a slow hash adds nothing), a password as PBKDF2-HMAC-SHA256 with a random
salt. Keys (under the store's prefix):

- ``monitor:users``: set of user names
- ``monitor:user:NAME``: hash ``name, role, campaigns (JSON list), password, created``
- ``monitor:user-tokens:NAME``: set of the user's token hashes (for revocation)
- ``monitor:token:SHA256``: hash ``user, label, created, expires``; Redis drops it a day
  after ``expires`` (until then it is recognised and refused as expired)
- ``monitor:session:SHA256``: hash ``user, csrf, expires``; Redis drops it at ``expires``
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .store import StateError, StateStore

ROLES = ("viewer", "operator", "admin")
EXPIRED_GRACE_S = 86_400
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


@dataclass(frozen=True)
class User:
    """A monitor user: ``campaigns`` are the campaigns an operator controls (``*``: all)."""

    name: str
    role: str
    campaigns: tuple[str, ...] = ()
    has_password: bool = False
    created: float = 0.0


@dataclass(frozen=True)
class Credential:
    """What a token or session resolved to; ``expires`` is a Unix time."""

    user: str
    expires: float
    csrf: str = ""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str, iterations: int) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"pbkdf2_sha256${iterations}${salt_b64}${digest_b64}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                  int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_OK:
        raise StateError(f"bad user name {name!r}: 1-64 of letters, digits, . _ @ -")
    return name


class UserStore:
    """Users, tokens and sessions of the monitor, on a :class:`StateStore`'s connection."""

    def __init__(self, store: StateStore) -> None:
        self.r: Any = store.r
        self._store = store

    def key(self, *parts: str) -> str:
        return self._store.key("monitor", *parts)

    # -- users -----------------------------------------------------------------------------

    def put_user(self, name: str, role: str, campaigns: tuple[str, ...] | list[str] = (), *,
                 password_hash: str | None = None) -> User:
        """Create or update a user (a None ``password_hash`` keeps the current one)."""
        check_name(name)
        if role not in ROLES:
            raise StateError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        fields: dict[str, Any] = {"name": name, "role": role,
                                  "campaigns": json.dumps(sorted(set(campaigns)))}
        if password_hash is not None:
            fields["password"] = password_hash
        key = self.key("user", name)
        with self.r.pipeline() as pipe:
            pipe.hsetnx(key, "created", time.time())
            pipe.hset(key, mapping=fields)
            pipe.sadd(self.key("users"), name)
            pipe.execute()
        user = self.get_user(name)
        assert user is not None
        return user

    def get_user(self, name: str) -> User | None:
        f = self.r.hgetall(self.key("user", name))
        if not f:
            return None
        return User(name=f[b"name"].decode(), role=f[b"role"].decode(),
                    campaigns=tuple(json.loads(f.get(b"campaigns", b"[]"))),
                    has_password=bool(f.get(b"password")),
                    created=float(f.get(b"created", 0)))

    def list_users(self) -> list[User]:
        names = sorted(x.decode() for x in self.r.smembers(self.key("users")))
        return [u for n in names if (u := self.get_user(n)) is not None]

    def delete_user(self, name: str) -> bool:
        """Remove the user and revoke its tokens; False if there was none."""
        tokens = self.r.smembers(self.key("user-tokens", name))
        with self.r.pipeline() as pipe:
            for digest in tokens:
                pipe.delete(self.key("token", digest.decode()))
            pipe.delete(self.key("user-tokens", name))
            pipe.srem(self.key("users"), name)
            pipe.delete(self.key("user", name))
            removed = pipe.execute()[-1]
        return bool(removed)

    def check_password(self, name: str, password: str) -> User | None:
        stored = self.r.hget(self.key("user", name), "password")
        if not stored or not verify_password(password, stored.decode()):
            return None
        return self.get_user(name)

    # -- tokens ----------------------------------------------------------------------------

    def issue_token(self, name: str, ttl_s: float, *, label: str = "",
                    now: float | None = None) -> tuple[str, float]:
        """A new API token for ``name`` (returned once, stored hashed) and its expiry time."""
        if self.get_user(name) is None:
            raise StateError(f"unknown user {name!r}")
        now = time.time() if now is None else now
        token = "ap_" + secrets.token_urlsafe(32)
        digest = hash_secret(token)
        expires = now + ttl_s
        key = self.key("token", digest)
        with self.r.pipeline() as pipe:
            pipe.hset(key, mapping={"user": name, "label": label, "created": now,
                                    "expires": expires})
            pipe.expireat(key, int(expires + EXPIRED_GRACE_S))
            pipe.sadd(self.key("user-tokens", name), digest)
            pipe.execute()
        return token, expires

    def resolve_token(self, token: str) -> Credential | None:
        f = self.r.hgetall(self.key("token", hash_secret(token)))
        if not f:
            return None
        return Credential(f[b"user"].decode(), float(f[b"expires"]))

    def revoke_token(self, token: str) -> None:
        self.r.delete(self.key("token", hash_secret(token)))

    # -- sessions --------------------------------------------------------------------------

    def open_session(self, name: str, ttl_s: float) -> tuple[str, str, float]:
        """A login session: (session id for the cookie, CSRF token, expiry time)."""
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = time.time() + ttl_s
        key = self.key("session", hash_secret(session))
        with self.r.pipeline() as pipe:
            pipe.hset(key, mapping={"user": name, "csrf": csrf, "expires": expires})
            pipe.expireat(key, int(expires) + 1)
            pipe.execute()
        return session, csrf, expires

    def resolve_session(self, session: str) -> Credential | None:
        f = self.r.hgetall(self.key("session", hash_secret(session)))
        if not f:
            return None
        return Credential(f[b"user"].decode(), float(f[b"expires"]), f[b"csrf"].decode())

    def close_session(self, session: str) -> None:
        self.r.delete(self.key("session", hash_secret(session)))

    # -- failed logins ---------------------------------------------------------------------

    def login_failures(self, *subjects: str) -> tuple[int, float]:
        """The most failed logins counted for any of ``subjects`` (a client address, a user
        name) in their current window, and the seconds until that window ends."""
        with self.r.pipeline() as pipe:
            for subject in subjects:
                key = self.key("login-failures", hash_secret(subject))
                pipe.get(key)
                pipe.pttl(key)
            replies = pipe.execute()
        worst, wait = 0, 0.0
        for raw, ttl_ms in zip(replies[::2], replies[1::2], strict=True):
            count = int(raw or 0)
            if count > worst:
                worst, wait = count, max(float(ttl_ms), 0.0) / 1000
        return worst, wait

    def note_login_failure(self, *subjects: str, window_s: float) -> None:
        """Count a failed login against each subject; a window starts at its first failure."""
        with self.r.pipeline() as pipe:
            for subject in subjects:
                key = self.key("login-failures", hash_secret(subject))
                pipe.incr(key)
                pipe.pexpire(key, int(window_s * 1000), nx=True)
            pipe.execute()

    def clear_login_failures(self, subject: str) -> None:
        self.r.delete(self.key("login-failures", hash_secret(subject)))
