"""The CLI mistake table (issue 17): each mistake, made in a real ``autopilot`` process, ends
at once with one line saying what is wrong and what to do, and its documented exit code
(docs/operations.md), never a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from autopilot_cli.exit_codes import ExitCode
from planner_cluster.redis_server import free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.integration  # real processes, one per mistake

UNREACHABLE_REDIS = "redis://127.0.0.1:1"


def autopilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autopilot_cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=90)


MISTAKES: list[tuple[list[str], ExitCode, str]] = [
    (["bogus"], ExitCode.USAGE, "unknown command 'bogus'"),
    (["edge", "run", "--planner", "planner.facility:5555", "--campaign", "c"],
     ExitCode.USAGE, "is not a ZeroMQ address: write tcp://HOST:PORT"),
    (["edge", "run", "--planner", "tcp://a:5555,b:5556", "--campaign", "c"],
     ExitCode.USAGE, "'b:5556' is not a ZeroMQ address"),
    (["edge", "run", "--campaign", "c", "--signing-key", "missing.key"],
     ExitCode.USAGE, "--signing-key missing.key: no such file"),
    (["edge", "run", "--campaign", "c", "--config", "missing.toml"],
     ExitCode.USAGE, "cannot read config file missing.toml"),
    (["edge", "run", "--campaign", "c", "--window", "many"], ExitCode.USAGE,
     "Invalid value for '--window'"),
    (["edge", "run", "--campaign", "c", "--log-level", "LOUD"], ExitCode.USAGE,
     "unknown log level 'LOUD'"),
    (["edge", "run", "--planer", "tcp://a:1"], ExitCode.USAGE, "No such option: --planer"),
    (["edge", "ctl", "--spool", "nospool", "pause"], ExitCode.UNREACHABLE,
     "no agent is running on spool nospool"),
    (["edge", "spool", "--spool", "nospool"], ExitCode.USAGE, "no spool in nospool"),
    (["campaigns"], ExitCode.USAGE, "--redis URL is required"),
    (["campaigns", "--redis", "localhost:6379"], ExitCode.USAGE,
     "'localhost:6379' is not a Redis URL: write redis://HOST:PORT"),
    (["campaigns", "--redis", UNREACHABLE_REDIS], ExitCode.UNREACHABLE,
     "cannot reach Redis at redis://127.0.0.1:1"),
    (["campaigns", "export", "c1", "out.nxs", "--redis", UNREACHABLE_REDIS],
     ExitCode.UNREACHABLE, "cannot reach Redis"),
    (["edges", "list", "--redis", UNREACHABLE_REDIS], ExitCode.UNREACHABLE,
     "cannot reach Redis"),
    (["monitor", "users", "--redis", UNREACHABLE_REDIS], ExitCode.UNREACHABLE,
     "cannot reach Redis"),
    (["monitor", "add-user", "x", "--role", "root", "--redis", UNREACHABLE_REDIS],
     ExitCode.USAGE, "role must be one of"),
    (["planner", "--bind", "5555"], ExitCode.USAGE, "'5555' is not a ZeroMQ address"),
    (["planner", "--config", "missing.toml"], ExitCode.USAGE, "cannot read config file"),
    (["replay", "missing.h5"], ExitCode.USAGE, "cannot read missing.h5: no such file"),
    (["demo", "--dataset", "nope"], ExitCode.USAGE, "unknown data set 'nope'"),
    (["demo", "--steps", "0"], ExitCode.USAGE, "Invalid value for '--steps'"),
]


@pytest.mark.parametrize(("args", "code", "message"), MISTAKES,
                         ids=[" ".join(m[0][:3]) for m in MISTAKES])
def test_a_mistake_is_one_line_and_an_exit_code(args: list[str], code: ExitCode, message: str,
                                                tmp_path: Path) -> None:
    done = autopilot(*args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and message in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("autopilot"), done.stderr


def test_keys_refuse_to_overwrite_without_force(tmp_path: Path) -> None:
    assert autopilot("keys", "signing", "k", cwd=tmp_path).returncode == 0
    first = (tmp_path / "k").read_text()
    again = autopilot("keys", "signing", "k", cwd=tmp_path)
    assert again.returncode == ExitCode.USAGE and "pass --force" in again.stderr
    assert (tmp_path / "k").read_text() == first
    assert autopilot("keys", "signing", "k", "--force", cwd=tmp_path).returncode == 0
    assert (tmp_path / "k").read_text() != first
    assert autopilot("keys", "curve", "keys", "edge-1", cwd=tmp_path).returncode == 0
    pair = autopilot("keys", "curve", "keys", "edge-1", cwd=tmp_path)
    assert pair.returncode == ExitCode.USAGE and "edge-1.key exists" in pair.stderr


def test_the_monitor_without_redis_answers_503(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "monitor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "autopilot_cli", "monitor", "--redis",
                                 UNREACHABLE_REDIS, "--bind", f"127.0.0.1:{port}"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        def login() -> tuple[int, str] | None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/login", method="POST",
                data=b'{"name": "ada", "password": "pw"}',
                headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()
            except (urllib.error.URLError, ConnectionError):
                return None

        status, body = wait_for(login, timeout=60, what="the monitor to answer")
        assert status == 503 and "Redis" in json.loads(body)["detail"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "Redis at redis://127.0.0.1:1 does not answer" in text
