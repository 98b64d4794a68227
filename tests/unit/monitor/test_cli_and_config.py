"""``autopilot monitor``: user and token commands, serving as a real process, the config
layers and the users file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from planner_cluster.config import ConfigError
from planner_cluster.monitor.auth import load_users_file
from planner_cluster.monitor.config import load_monitor_config
from planner_cluster.monitor_cli import monitor_main
from planner_cluster.redis_server import free_port
from planner_cluster.state import StateStore
from planner_cluster.state.users import UserStore, hash_password, verify_password
from tests.conftest import wait_for


def _url(store: StateStore) -> str:
    kw = store.r.connection_pool.connection_kwargs
    return f"redis://:{kw['password']}@{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def test_add_user_prints_a_working_token_once(store: StateStore,
                                              capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a long password\n")
    code = monitor_main(["add-user", "nina", "--role", "operator", "--campaign", "c1",
                         "--campaign", "c2", "--password-file", str(pw), "--ttl-days", "1",
                         "--redis", _url(store), "--prefix", store.prefix])
    out = capsys.readouterr()
    assert code == 0 and "shown once" in out.err
    token = out.out.strip()
    users = UserStore(store)
    cred = users.resolve_token(token)
    assert cred is not None and cred.user == "nina"
    user = users.get_user("nina")
    assert user is not None and user.campaigns == ("c1", "c2") and user.has_password
    assert users.check_password("nina", "a long password") is not None
    assert monitor_main(["token", "nina", "--redis", _url(store), "--prefix",
                         store.prefix]) == 0
    assert capsys.readouterr().out.strip() != token
    assert monitor_main(["users", "--redis", _url(store), "--prefix", store.prefix]) == 0
    assert "nina\toperator\tc1,c2\tpassword" in capsys.readouterr().out
    assert monitor_main(["remove-user", "nina", "--redis", _url(store), "--prefix",
                         store.prefix]) == 0
    assert users.resolve_token(token) is None
    assert monitor_main(["remove-user", "nina", "--redis", _url(store), "--prefix",
                         store.prefix]) == 1


def test_cli_usage_errors(store: StateStore, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--redis", _url(store), "--prefix", store.prefix]
    assert monitor_main(["add-user", "x", "--role", "root", *base]) == 2
    assert monitor_main(["add-user", "x", "--role", "viewer"]) == 2  # no --redis
    assert monitor_main(["add-user", "bad name", "--role", "viewer", *base]) == 2
    assert monitor_main(["token", "ghost", *base]) == 2
    assert monitor_main(["--bind", "nonsense", *base]) == 2
    assert "bind must be HOST:PORT" in capsys.readouterr().err
    assert monitor_main(["--help"]) == 0


def test_serve_as_a_process(store: StateStore, tmp_path: Path) -> None:
    users_file = tmp_path / "users.toml"
    users_file.write_text(f'[users.ada]\nrole = "admin"\npassword_hash = '
                          f'"{hash_password("secret pw", 1000)}"\n')
    port = free_port()
    log = tmp_path / "monitor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "planner_cluster.monitor_cli", "--redis",
                                 _url(store), "--prefix", store.prefix, "--bind",
                                 f"127.0.0.1:{port}", "--users", str(users_file)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        def health() -> Any:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    return json.loads(r.read())
            except (urllib.error.URLError, ConnectionError):
                return None

        assert wait_for(health, timeout=60, what="the monitor to serve")["ok"] is True
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/login", method="POST",
                                     data=b'{"name": "ada", "password": "secret pw"}',
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.loads(r.read())["role"] == "admin"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()[-2000:]
    assert "secret pw" not in log.read_text()


def test_config_layers(tmp_path: Path) -> None:
    file = tmp_path / "monitor.toml"
    file.write_text('[monitor]\nbind = "0.0.0.0:9000"\nsession_ttl_s = 60\n'
                    'metrics_public = true\nredis_prefix = "fromfile"\n')
    config = load_monitor_config(file, environ={"AUTOPILOT_MONITOR_REDIS_PREFIX": "fromenv",
                                                "AUTOPILOT_MONITOR_COOKIE_SECURE": "yes",
                                                "OTHER": "x"},
                                 overrides={"bind": "127.0.0.1:9001", "redis_url": None})
    assert config.bind == "127.0.0.1:9001" and config.host_port == ("127.0.0.1", 9001)
    assert config.redis_prefix == "fromenv" and config.session_ttl_s == 60.0
    assert config.metrics_public is True and config.cookie_secure is True


@pytest.mark.parametrize(("environ", "message"), [
    ({"AUTOPILOT_MONITOR_NOPE": "1"}, "unknown setting"),
    ({"AUTOPILOT_MONITOR_COOKIE_SECURE": "maybe"}, "cookie_secure"),
    ({"AUTOPILOT_MONITOR_SESSION_TTL_S": "-5"}, "must be > 0"),
    ({"AUTOPILOT_MONITOR_LOGIN_WINDOW_S": "0"}, "login_window_s must"),
    ({"AUTOPILOT_MONITOR_LOGIN_MAX_FAILURES": "0"}, "login_max_failures must be >= 1"),
    ({"AUTOPILOT_MONITOR_PBKDF2_ITERATIONS": "10"}, "pbkdf2"),
    ({"AUTOPILOT_MONITOR_BIND": "127.0.0.1:99999"}, "port"),
])
def test_bad_config_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_monitor_config(environ=environ)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_monitor_config(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("not = [toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_monitor_config(bad, environ={})


def test_users_file(store: StateStore, tmp_path: Path) -> None:
    users = UserStore(store)
    good = tmp_path / "users.toml"
    good.write_text(f'[users.ada]\nrole = "admin"\n[users.olga]\nrole = "operator"\n'
                    f'campaigns = ["c1"]\npassword_hash = "{hash_password("pw", 1000)}"\n')
    assert load_users_file(users, str(good)) == 2
    olga = users.get_user("olga")
    assert olga is not None and olga.campaigns == ("c1",)
    stored = store.r.hget(f"{store.prefix}:monitor:user:olga", "password").decode()
    assert verify_password("pw", stored)
    for text, message in [('[users.x]\nrole = "god"\n', "role"),
                          ('[users.x]\ntoken = "t"\n', "takes role"),
                          ('[users.x]\ncampaigns = "c1"\n', "list of ids"),
                          ('users = 3\n', "table"), ("[users", "cannot read")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_users_file(users, str(bad))
