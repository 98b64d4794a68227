"""One embedded Redis data folder: its lock, the record of its server, its permissions and its
password file.

Two servers appending to one AOF file corrupt it, so a folder has one server at a time: the
process that starts a server holds an exclusive ``flock`` on ``server.lock`` until the server
stops (the kernel drops it if that process dies). The running server's pid and port are kept
in ``server.pid``; a planner that takes over the lock and finds a server there still answering
with the folder's password (left by a planner killed where the parent-death signal does not
exist) stops it first. Files are owner-only: the folder 0700, every file 0600.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import time
from pathlib import Path

import redis

from .errors import PlannerError

__all__ = ["LOCK_FILE", "PID_FILE", "RedisFolder", "RedisServerError",
           "read_or_create_password"]

log = logging.getLogger(__name__)

LOCK_FILE = "server.lock"
PID_FILE = "server.pid"


class RedisServerError(PlannerError, RuntimeError):
    """No server binary, the server did not start, or its data folder is in use."""


def read_or_create_password(path: Path) -> str:
    """The password in ``path``; a new random one (file mode 0600) if the file is missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("the Redis password file %s is readable by others (mode %o)", path, mode)
        password = path.read_text().strip()
        if not password:
            raise RedisServerError(f"the Redis password file {path} is empty") from None
        return password
    password = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


class RedisFolder:
    """The data folder of one embedded server (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

    def acquire(self, password: str) -> None:
        """Lock the folder for a new server; stop a leftover one. Raises
        :class:`RedisServerError` if another live process holds the folder."""
        if self._lock_fd is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._tighten()
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RedisServerError(
                f"the Redis data folder {self.path} is in use by process {holder} (another "
                "planner on the same data_dir?); two servers must never share one AOF: stop "
                "it, or give this planner another data_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        self._stop_leftover(password)

    def record(self, pid: int, port: int) -> None:
        """Note the running server, for the next owner of the folder."""
        fd = os.open(self.path / PID_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{pid} {port}\n")

    def release(self) -> None:
        """After the server stopped: forget it and unlock the folder."""
        if self._lock_fd is None:
            return
        (self.path / PID_FILE).unlink(missing_ok=True)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _tighten(self) -> None:
        """Owner-only modes, also for files an older version left readable."""
        self.path.chmod(0o700)
        for p in self.path.rglob("*"):
            wanted = 0o700 if p.is_dir() else 0o600
            if not p.is_symlink() and p.stat().st_mode & 0o777 != wanted:
                p.chmod(wanted)

    def _stop_leftover(self, password: str) -> None:
        try:
            pid, port = (int(x) for x in (self.path / PID_FILE).read_text().split())
        except (OSError, ValueError):
            return
        if _serving_pid(port, password) != pid:
            return  # gone, or the number now belongs to someone else
        log.warning("stopping the Redis server (pid %d) that a dead planner left on %s",
                    pid, self.path)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            os.kill(pid, sig)
            if _wait_stopped(pid, port, password, 15.0):
                break
        else:
            raise RedisServerError(f"the leftover Redis server (pid {pid}) does not stop")
        (self.path / PID_FILE).unlink(missing_ok=True)


def _wait_stopped(pid: int, port: int, password: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _serving_pid(port, password) == pid:  # a zombie no longer serves
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _serving_pid(port: int, password: str) -> int | None:
    """The pid of the server answering on ``port`` with ``password``, else None."""
    client = redis.Redis(host="127.0.0.1", port=port, password=password,
                         socket_connect_timeout=0.5, socket_timeout=2.0)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()
