"""Hostile-input suite, issue 15 findings 4 and 5: the embedded Redis and the monitor, attacked
over real sockets (docs/reliability.md, threat model).

The embedded Redis is a real server started by our code, and by a real ``autopilot planner``
process that is SIGKILLed; the monitor is a real ``autopilot monitor`` process spoken to over
raw HTTP. Every attack here succeeded before the fix.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from planner_cluster.cli import campaigns_main
from planner_cluster.redis_folder import PID_FILE, RedisFolder, RedisServerError
from planner_cluster.redis_server import DISABLED_COMMANDS, RedisServer, free_port
from planner_cluster.state import StateStore
from tests.conftest import wait_for

from .stack import REPO, PlannerProcess

pytestmark = pytest.mark.integration

MIB = 1 << 20


# -- helpers -------------------------------------------------------------------------------


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for a parent that is not us counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def _raw_http(port: int, head: str, *, timeout: float = 30.0) -> tuple[int, bytes]:
    """One request whose head we write ourselves; the status and the whole reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1"))
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


class Monitor:
    """``autopilot monitor`` as its own process, on the session's Redis behind its password."""

    def __init__(self, redis_server: Any, tmp: Path, **settings: str) -> None:
        self.port = free_port()
        self.prefix = f"m{uuid.uuid4().hex[:8]}"
        pw = tmp / "redis.password"
        pw.write_text(redis_server.password)
        pw.chmod(0o600)
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               **{f"AUTOPILOT_MONITOR_{k.upper()}": v for k, v in settings.items()}}
        self.log = tmp / f"monitor-{self.port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "planner_cluster.monitor_cli", "serve", "--redis",
                 redis_server.address, "--redis-password-file", str(pw), "--prefix",
                 self.prefix, "--bind", f"127.0.0.1:{self.port}"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        wait_for(self._healthy, timeout=60, interval=0.1, what="the monitor to serve")

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return r.status, r.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@pytest.fixture
def monitor(redis_server: Any, tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Monitor]:
    settings = getattr(request, "param", {})
    mon = Monitor(redis_server, tmp_path, metrics_public="true", **settings)
    try:
        yield mon
    finally:
        mon.stop()


# -- finding 4: the embedded Redis -----------------------------------------------------------


def test_embedded_redis_refuses_strangers_and_admin_commands(tmp_path: Path) -> None:
    with RedisServer(data_dir=tmp_path / "redis", appendonly=True,
                     password_file=tmp_path / "redis" / "password") as server:
        for password in (None, "not-the-password"):
            stranger = redis.Redis(host="127.0.0.1", port=server.port, password=password,
                                   socket_timeout=5)
            with pytest.raises((redis.AuthenticationError, redis.ResponseError),
                               match="(?i)auth|password"):
                stranger.set("token", "forged")
            stranger.close()
        with pytest.raises(redis.ConnectionError):  # loopback 127.0.0.1 only
            redis.Redis(host="127.0.0.2", port=server.port, socket_connect_timeout=2).ping()
        client = server.client()
        try:
            assert client.set("k", "v")
            for command in (("CONFIG", "SET", "dir", str(tmp_path)), ("CONFIG", "GET", "*"),
                            ("FLUSHALL",), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST"),
                            ("SHUTDOWN", "NOSAVE"), ("SAVE",), ("REPLICAOF", "NO", "ONE")):
                assert command[0] in DISABLED_COMMANDS
                with pytest.raises(redis.ResponseError, match="unknown command"):
                    client.execute_command(*command)
            assert client.get("k") == b"v"
        finally:
            client.close()
        ps = subprocess.run(["ps", "-o", "args=", "-p", str(server.process.pid)],
                            capture_output=True, text=True, check=False)
        assert server.password not in ps.stdout  # not on the command line


def test_embedded_redis_files_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    folder.mkdir(mode=0o755)
    (folder / "old.log").write_text("left readable by an older version")
    (folder / "old.log").chmod(0o644)
    with RedisServer(data_dir=folder, appendonly=True, password_file=folder / "password") as s:
        client = s.client()
        client.set("k", "v" * 1000)
        client.close()
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert any(".aof" in p.name for p in files) and (folder / "password").is_file()
        modes = {str(p.relative_to(folder)): oct(p.stat().st_mode & 0o777) for p in files}
        assert set(modes.values()) == {"0o600"}, modes
        dirs = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
        assert {oct(d.stat().st_mode & 0o777) for d in dirs} == {"0o700"}


def test_a_second_server_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    with RedisServer(data_dir=folder, appendonly=True, password_file=folder / "password") as s:
        client = s.client()
        client.set("k", "first")
        with pytest.raises(RedisServerError, match="in use by process"):
            RedisServer(data_dir=folder, appendonly=True, password_file=folder / "password"
                        ).start()
        client.set("k2", "still the only writer")
        client.close()
    with RedisServer(data_dir=folder, appendonly=True, password_file=folder / "password") as s:
        client = s.client()
        assert client.mget("k", "k2") == [b"first", b"still the only writer"]
        client.close()


def test_a_leftover_server_is_stopped_by_the_next_owner(tmp_path: Path) -> None:
    """Where the parent-death signal does not exist, a killed planner leaves its server
    running; the next one on the folder stops it instead of starting a second writer."""
    folder = tmp_path / "redis"
    first = RedisServer(data_dir=folder, appendonly=True, password_file=folder / "password")
    leftover = subprocess.Popen(
        [first.binary, "-", "--port", str(first.port), "--bind", "127.0.0.1", "--dir",
         str(folder), "--appendonly", "yes", "--save", ""], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert leftover.stdin is not None
        leftover.stdin.write(f'requirepass "{first.password}"\n'.encode())
        leftover.stdin.close()
        wait_for(lambda: _ping(first), timeout=30, what="the leftover server")
        RedisFolder(folder).record(leftover.pid, first.port)  # as its dead planner had
        second = RedisServer(data_dir=folder, appendonly=True,
                             password_file=folder / "password").start()
        try:
            assert leftover.wait(30) is not None
            assert (folder / PID_FILE).read_text().split()[0] == str(second.process.pid)
        finally:
            second.stop()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(10)


def _ping(server: RedisServer) -> bool:
    client = server.client(0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def test_planner_refuses_a_password_less_external_redis(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autopilot_cli", "planner", "--redis",
         f"redis://127.0.0.1:{free_port()}/0", "--ray", "local", "--bind",
         f"tcp://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--insecure-redis" in done.stderr and "no password" in done.stderr


def test_campaigns_command_reads_the_password_file(redis_server: Any, store: StateStore,
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    store.create_campaign("c1", edge_id="e1", owner="ada", config={}, spectral_axis=None)
    pw = tmp_path / "redis.password"
    pw.write_text(redis_server.password + "\n")
    base = ["--redis", redis_server.address, "--prefix", store.prefix]
    assert campaigns_main([*base, "--redis-password-file", str(pw)]) == 0
    assert "c1" in capsys.readouterr().out
    assert campaigns_main(base) == 2  # one line, not redis' AuthenticationError
    assert "refused access" in capsys.readouterr().err


def test_embedded_redis_dies_with_its_planner_and_is_not_doubled(
        tmp_path: Path, local_ray: None) -> None:
    import ray

    planner = PlannerProcess(redis_url="", prefix="sec", tmp=tmp_path, port=free_port(),
                             ray=str(ray.get_runtime_context().gcs_address))
    folder = tmp_path / "planner-data" / "redis"
    planner.start()
    try:
        server_pid, port = (int(x) for x in (folder / PID_FILE).read_text().split())
        password = (folder / "password").read_text().strip()
        assert oct((folder / "password").stat().st_mode & 0o777) == "0o600"
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).set("k", "v")
        client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5)
        client.set("sec:probe", "kept")
        client.close()
        second = subprocess.run(
            [sys.executable, "-m", "autopilot_cli", "planner", "--ray", "local", "--bind",
             f"tcp://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "planner-data")],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "in use by process" in second.stderr, second.stderr
        planner.kill9()
        wait_for(lambda: _gone(server_pid), timeout=30, what="the orphaned Redis to exit")
        planner.start()  # the lock is free again; the same AOF, one writer
        new_pid, port = (int(x) for x in (folder / PID_FILE).read_text().split())
        assert new_pid != server_pid
        client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5)
        assert client.get("sec:probe") == b"kept"
        client.close()
    finally:
        planner.stop()


# -- finding 5: the monitor ------------------------------------------------------------------


def _big_post(port: int, *, chunked: bool) -> str:
    """POST 64 MiB to /api/login; what the monitor answered: "413", or "reset" if it hung up
    on a chunked body it would not read (the reply can be lost to the reset)."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {64 * MIB}"
    head = (f"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n")
    block = b"[" * MIB
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head.encode())

        def send_body() -> None:
            try:
                for _ in range(64):
                    s.sendall(b"100000\r\n" + block + b"\r\n" if chunked else block)
            except OSError:
                pass  # refused part-way: the point

        if not chunked:  # the declared length alone must be enough to refuse it
            reply = s.recv(4096)
            send_body()
            return reply.split(b" ", 2)[1].decode() if reply else "closed"
        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            return "reset"
        finally:
            sender.join(60)
    return reply.split(b" ", 2)[1].decode() if reply else "closed"


def test_a_64_mib_body_is_refused_before_it_is_read(monitor: Monitor) -> None:
    baseline = _peak_rss_kib(monitor.proc.pid)
    results: list[str] = []
    threads = [threading.Thread(target=lambda c=chunked: results.append(_big_post(
        monitor.port, chunked=c))) for chunked in (False, False, False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results)[:3] == ["413"] * 3 and set(results) <= {"413", "reset"}, results
    assert monitor.get("/healthz")[0] == 200
    grown_mib = (_peak_rss_kib(monitor.proc.pid) - baseline) / 1024
    assert grown_mib < 64, f"the monitor's peak memory grew by {grown_mib:.0f} MiB"


def test_random_methods_do_not_grow_metrics(monitor: Monitor) -> None:
    rng = random.Random(15)
    for _ in range(300):
        method = "".join(rng.choices(string.ascii_uppercase, k=12))
        status, _ = _raw_http(monitor.port, f"{method} /api/me HTTP/1.1\r\nHost: x\r\n"
                                            "Connection: close\r\n\r\n")
        assert status in (400, 401, 405)
    metrics = monitor.get("/metrics")[1].decode()
    methods = set(re.findall(r'autopilot_monitor_http_requests_total\{method="([^"]*)"',
                             metrics))
    assert "other" in methods and methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                              "OPTIONS", "other"}, methods
    assert len(metrics) < 30_000


@pytest.mark.parametrize("monitor", [{"login_max_failures": "3"}], indirect=True)
def test_forwarded_for_from_an_untrusted_peer_is_ignored(monitor: Monitor) -> None:
    statuses = []
    for i in range(6):
        body = json.dumps({"name": f"nobody{i}", "password": "guess"})
        status, _ = _raw_http(monitor.port, (
            f"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{monitor.port}\r\n"
            f"X-Forwarded-For: 198.51.100.{i}\r\nX-Real-IP: 198.51.100.{i}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}"))
        statuses.append(status)
    assert statuses == [401, 401, 401, 429, 429, 429]


def test_api_docs_load_nothing_from_other_hosts(monitor: Monitor) -> None:
    status, page = monitor.get("/api/docs")
    assert status == 200
    html = page.decode()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert links and all(a.startswith("/") and not a.startswith("//") for a in links), links
    assets = [a for a in links if a.endswith((".js", ".css"))]
    assert len(assets) >= 2, links
    for text in [html, *(monitor.get(a)[1].decode() for a in assets)]:
        assert not re.search(r"(?i)https?://|//cdn", text)
    spec = json.loads(monitor.get("/api/openapi.json")[1])
    assert "/api/login" in spec["paths"]
