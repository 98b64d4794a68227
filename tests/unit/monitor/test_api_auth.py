"""Logging in, tokens (hashed, expiring, revocable), sessions with CSRF, and user management."""

from __future__ import annotations

import time

from starlette.requests import Request

from planner_cluster.monitor import MonitorConfig, MonitorServer
from planner_cluster.monitor.auth import client_address
from planner_cluster.state.users import hash_secret, verify_password

from .conftest import PASSWORD, Monitor
from .http_client import HttpClient

READ_ENDPOINTS = ["/api/campaigns", "/api/campaigns/c1", "/api/campaigns/c1/scan",
                  "/api/campaigns/c1/measurements", "/api/campaigns/c1/spectra",
                  "/api/campaigns/c1/predictions", "/api/campaigns/c1/plan",
                  "/api/campaigns/c1/events", "/api/options", "/api/users", "/metrics",
                  "/api/campaigns/c1/controls/x"]


def test_anonymous_reads_nothing(mon: Monitor) -> None:
    for path in READ_ENDPOINTS:
        r = mon.client.get(path)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


def test_anonymous_controls_nothing(mon: Monitor) -> None:
    r = mon.client.post("/api/campaigns/c1/controls", json={"action": "pause"})
    assert r.status_code == 401
    assert mon.store.read_controls("c1") == []
    assert mon.client.get("/api/stream").status_code == 401


def test_the_page_and_health_need_no_login(mon: Monitor) -> None:
    page = mon.client.get("/")
    assert page.status_code == 200 and "<main id=\"app\">" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert mon.client.get("/static/app.js").status_code == 200
    assert mon.client.get("/healthz").json()["ok"] is True


def test_openapi_documents_the_api(mon: Monitor) -> None:
    spec = mon.client.get("/api/openapi.json").json()
    for path in ("/api/campaigns", "/api/campaigns/{campaign_id}/controls", "/api/login",
                 "/api/stream", "/metrics", "/api/users"):
        assert path in spec["paths"], path
    assert mon.client.get("/api/docs").status_code == 200


def test_tokens_and_sessions_are_stored_hashed(mon: Monitor) -> None:
    token = mon.tokens["olga"]
    keys = {k.decode() for k in mon.store.r.keys(f"{mon.store.prefix}:monitor:*")}
    assert f"{mon.store.prefix}:monitor:token:{hash_secret(token)}" in keys
    dumped = b"".join(v for k in keys if mon.store.r.type(k) == b"hash"
                      for v in mon.store.r.hgetall(k).values())
    assert token.encode() not in dumped and PASSWORD.encode() not in dumped
    stored = mon.store.r.hget(f"{mon.store.prefix}:monitor:user:olga", "password").decode()
    assert stored.startswith("pbkdf2_sha256$1000$") and verify_password(PASSWORD, stored)
    assert not verify_password("wrong", stored) and not verify_password("x", "garbage")


def test_bearer_token_identifies_the_user(mon: Monitor) -> None:
    me = mon.client.get("/api/me", headers=mon.as_("olga")).json()
    assert (me["name"], me["role"], me["campaigns"], me["via"]) == ("olga", "operator",
                                                                     ["c1"], "token")
    assert "csrf_token" not in me


def test_unknown_or_malformed_tokens_are_refused(mon: Monitor) -> None:
    for header in ("Bearer ap_nonsense", "Bearer ", "Basic b2xnYTp4"):
        r = mon.client.get("/api/campaigns", headers={"Authorization": header})
        assert r.status_code == 401, header


def test_expired_token_is_refused_everywhere(mon: Monitor) -> None:
    token, expires = mon.users.issue_token("ada", 60, now=time.time() - 120)
    assert expires < time.time()
    bearer = {"Authorization": f"Bearer {token}"}
    for path in ("/api/campaigns", "/api/me", "/metrics"):
        r = mon.client.get(path, headers=bearer)
        assert r.status_code == 401 and "expired" in r.json()["detail"], path
    r = mon.client.post("/api/campaigns/c1/controls", json={"action": "pause"}, headers=bearer)
    assert r.status_code == 401
    assert mon.client.post("/api/login", json={"token": token}).status_code == 401
    assert mon.store.read_controls("c1") == []


def test_deleted_user_tokens_stop_working(mon: Monitor) -> None:
    r = mon.client.delete("/api/users/vic", headers=mon.as_("ada"))
    assert r.status_code == 200
    assert mon.client.get("/api/campaigns", headers=mon.as_("vic")).status_code == 401
    assert mon.client.delete("/api/users/vic", headers=mon.as_("ada")).status_code == 404


def test_password_login_opens_a_session(mon: Monitor) -> None:
    csrf = mon.login("olga")
    cookie = mon.client.cookies.get("ap_session")
    assert cookie and len(csrf) > 20
    me = mon.client.get("/api/me").json()
    assert me["via"] == "session" and me["csrf_token"] == csrf
    assert mon.client.get("/api/campaigns").status_code == 200


def test_bad_logins_are_refused(mon: Monitor) -> None:
    for body in ({"name": "olga", "password": "nope"}, {"name": "nobody", "password": PASSWORD},
                 {"token": "ap_invalid"}):
        r = mon.client.post("/api/login", json=body)
        assert r.status_code == 401 and "ap_session" not in r.cookies, body


def test_password_guessing_is_throttled(mon: Monitor) -> None:
    config = MonitorConfig(redis_prefix=mon.store.prefix, bind="127.0.0.1:0",
                           pbkdf2_iterations=1000, login_max_failures=3, login_window_s=2.0)
    server = MonitorServer(config, mon.store).start_in_thread()
    try:
        client = HttpClient(server.url)
        good = {"name": "olga", "password": PASSWORD}
        assert client.post("/api/login", json=good).status_code == 200
        for _ in range(3):
            assert client.post("/api/login", json={**good, "password": "guess"}).status_code \
                == 401
        for body in (good, {"name": "vic", "password": PASSWORD}, {"token": mon.tokens["ada"]}):
            r = client.post("/api/login", json=body)  # the account and the address are held
            assert r.status_code == 429, body
            assert "too many failed logins" in r.json()["detail"]
            assert 1 <= int(r.headers["Retry-After"]) <= 2
        assert client.get("/api/me", headers=mon.as_("ada")).status_code == 200  # tokens work
        time.sleep(2.1)  # the window ends
        assert client.post("/api/login", json=good).status_code == 200
    finally:
        server.stop()


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled(mon: Monitor) -> None:
    config = MonitorConfig(redis_prefix=mon.store.prefix, bind="127.0.0.1:0",
                           pbkdf2_iterations=1000, login_max_failures=2,
                           trusted_proxies="127.0.0.1, 10.0.0.9")
    server = MonitorServer(config, mon.store).start_in_thread()
    try:
        client = HttpClient(server.url)

        def login(name: str, password: str, chain: str) -> int:
            return client.post("/api/login", json={"name": name, "password": password},
                               headers={"X-Forwarded-For": chain}).status_code

        for _ in range(2):  # the forged left-most entry is ignored: the guesser is .5
            assert login("nobody", "guess", "1.1.1.1, 203.0.113.5, 10.0.0.9") == 401
        assert login("olga", PASSWORD, "9.9.9.9, 203.0.113.5") == 429
        assert login("olga", PASSWORD, "203.0.113.6") == 200  # another client
    finally:
        server.stop()


def test_client_address_trusts_only_configured_proxies() -> None:
    def request(peer: str, forwarded: str | None) -> Request:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return Request({"type": "http", "client": (peer, 4321), "headers": headers})

    proxies = frozenset({"10.0.0.9", "10.0.0.10"})
    assert client_address(request("192.0.2.1", "6.6.6.6"), proxies) == "192.0.2.1"
    assert client_address(request("10.0.0.9", "6.6.6.6, 192.0.2.1"), proxies) == "192.0.2.1"
    assert client_address(request("10.0.0.9", "192.0.2.1, 10.0.0.10"), proxies) == "192.0.2.1"
    assert client_address(request("10.0.0.9", None), proxies) == "10.0.0.9"
    assert client_address(request("10.0.0.9", "10.0.0.10"), proxies) == "10.0.0.9"


def test_malformed_logins_are_refused(mon: Monitor) -> None:
    for body in ({"name": "olga"}, {"password": "x"}, {},
                 {"name": "olga", "password": PASSWORD, "token": "t"},
                 {"name": "olga", "password": PASSWORD, "extra": 1}):
        assert mon.client.post("/api/login", json=body).status_code == 422, body


def test_login_needs_json_and_same_origin(mon: Monitor) -> None:
    form = mon.client.post("/api/login", content=f"name=olga&password={PASSWORD}",
                           headers={"Content-Type": "text/plain"})
    assert form.status_code in (415, 422)
    cross = mon.client.post("/api/login", json={"name": "olga", "password": PASSWORD},
                            headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403


def test_token_login_opens_a_session(mon: Monitor) -> None:
    r = mon.client.post("/api/login", json={"token": mon.tokens["vic"]})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert mon.client.get("/api/me").json()["via"] == "session"


def test_session_changes_need_the_csrf_token(mon: Monitor) -> None:
    csrf = mon.login("olga")
    url, body = "/api/campaigns/c1/controls", {"action": "pause"}
    assert mon.client.post(url, json=body).status_code == 403
    assert mon.client.post(url, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    cross = mon.client.post(url, json=body, headers={"X-CSRF-Token": csrf,
                                                      "Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert mon.store.read_controls("c1") == []
    ok = mon.client.post(url, json=body, headers={"X-CSRF-Token": csrf,
                                                   "Origin": mon.client.origin})
    assert ok.status_code == 202, ok.text
    assert len(mon.store.read_controls("c1")) == 1


def test_logout_ends_the_session(mon: Monitor) -> None:
    csrf = mon.login("vic")
    assert mon.client.post("/api/logout").status_code == 403  # CSRF applies to logout too
    assert mon.client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert mon.client.get("/api/campaigns").status_code == 401


def test_ended_session_cookie_is_refused(mon: Monitor) -> None:
    mon.client.cookies["ap_session"] = "stale-session-id"
    r = mon.client.get("/api/campaigns")
    assert r.status_code == 401 and "session" in r.json()["detail"]


def test_admin_manages_users_and_tokens(mon: Monitor) -> None:
    admin = mon.as_("ada")
    r = mon.client.post("/api/users", headers=admin, json={
        "name": "nora", "role": "operator", "campaigns": ["c2"], "password": "long enough pw",
        "token_ttl_s": 600})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert 0 < r.json()["expires"] - time.time() <= 600
    me = mon.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["name"], me["campaigns"]) == ("nora", ["c2"])
    names = [u["name"] for u in mon.client.get("/api/users", headers=admin).json()]
    assert names == ["ada", "nora", "olga", "otto", "vic"]
    again = mon.client.post("/api/users/nora/tokens", headers=admin, json={"ttl_s": 60})
    assert again.status_code == 201 and again.json()["token"] != token
    assert mon.client.post("/api/users/ghost/tokens", headers=admin, json={}).status_code == 404


def test_bad_user_requests_are_refused(mon: Monitor) -> None:
    for body in ({"name": "x", "role": "superuser"}, {"name": "bad name!", "role": "viewer"},
                 {"name": "x", "role": "viewer", "password": "short"},
                 {"name": "x", "role": "viewer", "token_ttl_s": -1}, {"role": "viewer"}):
        r = mon.client.post("/api/users", headers=mon.as_("ada"), json=body)
        assert r.status_code == 422, body


def test_only_admins_manage_users(mon: Monitor) -> None:
    for name in ("olga", "otto", "vic"):
        who = mon.as_(name)
        assert mon.client.get("/api/users", headers=who).status_code == 403
        assert mon.client.post("/api/users", headers=who,
                               json={"name": "evil", "role": "admin"}).status_code == 403
        assert mon.client.post("/api/users/vic/tokens", headers=who, json={}).status_code == 403
        assert mon.client.delete("/api/users/vic", headers=who).status_code == 403
    assert mon.users.get_user("evil") is None
