"""The local operator channel: ``autopilot edge ctl`` talks to a running agent via its spool.

Commands go into a ``controls`` table of the spool database; the agent polls it every loop,
applies each command and writes the answer back (``accepted``/``refused`` with a reason), which
the ``ctl`` process waits for. SQLite in WAL mode lets the two processes share the file safely
on every OS, needs no port or socket, and a command is never half-written.

One agent per spool folder: the agent holds an exclusive SQLite lock on ``agent.lock`` for its
lifetime (released by the OS if it dies, on Windows too); ``ctl`` checks it to tell whether an
agent is alive. Vetoes are stored here too, so they survive restarts.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.errors import AgentNotRunningError, ControlError, SpoolError
from edge_agent.spool import DB_NAME, connect

log = logging.getLogger(__name__)

LOCK_NAME = "agent.lock"
#: Local actions (the protocol's control actions that the edge executes itself).
LOCAL_ACTIONS = frozenset({"pause", "resume", "stop", "abort", "veto", "add_point"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS controls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, args TEXT NOT NULL,
    user TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    detail TEXT NOT NULL DEFAULT '', handled REAL);
CREATE TABLE IF NOT EXISTS vetoes (
    campaign_id TEXT NOT NULL, r0 INTEGER NOT NULL, c0 INTEGER NOT NULL,
    r1 INTEGER NOT NULL, c1 INTEGER NOT NULL, PRIMARY KEY (campaign_id, r0, c0, r1, c1))
    WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ControlRequest:
    """One operator command: ``action`` with ``args`` as in the protocol's ``control``."""

    id: int
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    user: str = ""


class AgentLock:
    """The one-agent-per-spool lock (an exclusive SQLite lock, released by the OS on death)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._conn: sqlite3.Connection | None = None
        self.acquired_at = 0.0  # commands queued before this arrived while no agent ran

    def acquire(self) -> None:
        started = time.time()
        conn = sqlite3.connect(str(self.path), timeout=0.0, isolation_level=None)
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("CREATE TABLE IF NOT EXISTS holder (at REAL)")
            conn.execute("INSERT INTO holder VALUES (?)", (time.time(),))
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            conn.close()
            raise SpoolError(f"another agent is running on spool {self.path.parent} ({exc})",
                             path=str(self.path.parent)) from exc
        self._conn = conn
        self.acquired_at = started

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @staticmethod
    def held(directory: Path) -> bool:
        """Whether a live agent holds the lock on ``directory``."""
        path = Path(directory) / LOCK_NAME
        if not path.exists():
            return False
        probe = sqlite3.connect(str(path), timeout=0.0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()


class ControlChannel:
    """The agent's end: polls commands, answers them, keeps vetoes durable."""

    def __init__(self, conn: sqlite3.Connection, since: float | None = None) -> None:
        """``since``: when this agent took the spool's lock. Commands queued before then
        arrived while no agent was running and expire; later ones (``ctl`` saw the lock held)
        are this agent's to answer."""
        self.conn = conn
        conn.executescript(_SCHEMA)
        conn.execute("UPDATE controls SET status = 'expired', detail = "
                     "'arrived while no agent was running' WHERE status = 'pending' "
                     "AND created < ?", (time.time() if since is None else since,))

    def pending(self) -> list[ControlRequest]:
        rows = self.conn.execute("SELECT id, action, args, user FROM controls "
                                 "WHERE status = 'pending' ORDER BY id").fetchall()
        return [ControlRequest(int(i), str(a), json.loads(g), str(u)) for i, a, g, u in rows]

    def answer(self, request_id: int, accepted: bool, detail: str = "") -> None:
        self.conn.execute("UPDATE controls SET status = ?, detail = ?, handled = ? WHERE id = ?",
                          ("accepted" if accepted else "refused", detail, time.time(),
                           request_id))

    def add_veto(self, campaign_id: str, region: tuple[int, int, int, int]) -> None:
        self.conn.execute("INSERT OR IGNORE INTO vetoes VALUES (?, ?, ?, ?, ?)",
                          (campaign_id, *region))

    def vetoes(self, campaign_id: str) -> list[tuple[int, int, int, int]]:
        rows = self.conn.execute("SELECT r0, c0, r1, c1 FROM vetoes WHERE campaign_id = ?",
                                 (campaign_id,))
        return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def parse_command(words: list[str]) -> tuple[str, dict[str, Any]]:
    """``["veto-region", "0", "0", "4", "9"]`` -> ``("veto", {"region": [0, 0, 4, 9]})``."""
    if not words:
        raise ControlError("no command given")
    name, rest = words[0].replace("_", "-"), words[1:]
    try:
        numbers = [int(w) for w in rest]
    except ValueError:
        raise ControlError(f"{name}: coordinates must be integers, got {rest}") from None
    expected = {"pause": 0, "resume": 0, "stop": 0, "abort": 0, "veto": 2, "veto-region": 4,
                "add-point": 2}
    if name not in expected:
        raise ControlError(f"unknown command {name!r}; known: {', '.join(sorted(expected))}")
    if len(numbers) != expected[name]:
        raise ControlError(f"{name} takes {expected[name]} integer(s), got {len(numbers)}")
    if any(n < 0 for n in numbers):
        raise ControlError(f"{name}: coordinates must be >= 0, got {numbers}")
    if name == "veto":
        return "veto", {"points": [numbers]}
    if name == "veto-region":
        return "veto", {"region": numbers}
    if name == "add-point":
        return "add_point", {"point": numbers}
    return name, {}


class ControlClient:
    """The ``ctl`` end: submit a command to the agent running on ``directory``, await its answer."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        if not (self.directory / DB_NAME).exists() or not AgentLock.held(self.directory):
            raise AgentNotRunningError(f"no agent is running on spool {self.directory}",
                                       spool=str(self.directory))
        self.conn = connect(self.directory / DB_NAME)
        self.conn.executescript(_SCHEMA)

    def submit(self, action: str, args: dict[str, Any], user: str = "") -> int:
        if action not in LOCAL_ACTIONS:
            raise ControlError(f"action {action!r} is not a local action")
        cur = self.conn.execute(
            "INSERT INTO controls (action, args, user, created) VALUES (?, ?, ?, ?)",
            (action, json.dumps(args), user, time.time()))
        return int(cur.lastrowid or 0)

    def wait(self, request_id: int, timeout_s: float = 10.0) -> tuple[str, str]:
        """(status, detail) once the agent answered; ``("pending", ...)`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, detail = self.conn.execute(
                "SELECT status, detail FROM controls WHERE id = ?", (request_id,)).fetchone()
            if status != "pending" or time.monotonic() > deadline:
                return str(status), str(detail)
            if not AgentLock.held(self.directory):
                return "pending", "the agent stopped before answering"
            time.sleep(0.05)

    def close(self) -> None:
        self.conn.close()
