"""The durable spool: every measurement is on disk before it is sent, and leaves only when acked.

Storage is one SQLite database (``spool.sqlite3`` in the spool folder) in WAL mode with
``synchronous=FULL``: each ``put`` is one transaction whose commit fsyncs the write-ahead log,
so a measurement the agent has been told is stored survives kill -9 and power loss. SQLite
gives atomic multi-row updates (a measurement and its "measured" mark together), indexed
deletion by seq on ack, and a second process (``autopilot edge ctl``) can read and write the
same file safely; see docs/edge.md for the comparison with an append-only fsync log.

The spool also keeps the edge's protocol session id and reserves sequence numbers in blocks,
durably, before any of them is used: seqs never repeat within a session, across restarts.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.errors import SpoolError, SpoolFullError

log = logging.getLogger(__name__)

DB_NAME = "spool.sqlite3"
SEQ_BLOCK = 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS measurements (
    seq INTEGER PRIMARY KEY, session TEXT NOT NULL, campaign_id TEXT NOT NULL,
    row INTEGER NOT NULL, col INTEGER NOT NULL, source TEXT NOT NULL,
    plan_version INTEGER NOT NULL, dwell_s REAL NOT NULL, dtype TEXT NOT NULL,
    shape TEXT NOT NULL, data BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY, session TEXT NOT NULL, campaign_id TEXT NOT NULL,
    row INTEGER NOT NULL, col INTEGER NOT NULL, source TEXT NOT NULL,
    plan_version INTEGER NOT NULL, dwell_s REAL NOT NULL, dtype TEXT NOT NULL,
    shape TEXT NOT NULL, data BLOB NOT NULL, created REAL NOT NULL,
    code TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS measured (
    campaign_id TEXT NOT NULL, row INTEGER NOT NULL, col INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, row, col)) WITHOUT ROWID;
"""


def connect(path: Path, timeout_s: float = 5.0, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection in WAL mode; ``synchronous=FULL`` makes every commit durable (fsync)."""
    if synchronous not in ("FULL", "NORMAL", "OFF"):
        raise ValueError(f"synchronous must be FULL, NORMAL or OFF, got {synchronous!r}")
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None,
                           check_same_thread=True)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    return conn


@dataclass(frozen=True)
class SpooledMeasurement:
    """One stored measurement, with the (session, seq) it keeps on every resend."""

    seq: int
    session: str
    campaign_id: str
    row: int
    col: int
    source: str
    plan_version: int
    dwell_s: float
    spectrum: npt.NDArray[Any]
    created: float


class Spool:
    """Measurements not yet acknowledged by the planner, durably on disk.

    Args:
        directory: the spool folder (created if absent).
        max_count / max_bytes: bounds on unacknowledged measurements (count, spectrum bytes).
        synchronous: ``FULL`` (default: durable against power loss); ``NORMAL`` survives a
            crash of the agent but not of the OS; benchmarks compare them.
    """

    def __init__(self, directory: str | Path, *, max_count: int = 100_000,
                 max_bytes: int = 1 << 30, synchronous: str = "FULL") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.synchronous = synchronous
        try:
            self.conn = connect(self.directory / DB_NAME, synchronous=synchronous)
            self.conn.executescript(_SCHEMA)
            self.session_id = self._meta("session_id") or self._new_session()
            self._next_seq = int(self._meta("seq_reserved") or 0)
            self._reserved = self._next_seq
            row = self.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM measurements").fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {self.directory}: {exc}",
                             path=str(self.directory)) from exc
        self.count, self.nbytes = int(row[0]), int(row[1])

    # -- meta, session, seqs ---------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        return self._meta(key)

    def _new_session(self) -> str:
        session = uuid.uuid4().hex
        self.set_meta("session_id", session)
        return session

    def next_seq(self) -> int:
        """The next sequence number of this session, never handed out before (even before a
        crash): blocks of :data:`SEQ_BLOCK` are reserved durably before use."""
        if self._next_seq >= self._reserved:
            self._reserved = self._next_seq + SEQ_BLOCK
            self._write(lambda: self.set_meta("seq_reserved", str(self._reserved)))
        seq = self._next_seq
        self._next_seq += 1
        return seq

    # -- measurements ----------------------------------------------------------------------

    def check_room(self, nbytes: int) -> None:
        """Raise :class:`SpoolFullError` unless one more measurement of ``nbytes`` fits."""
        if self.count + 1 > self.max_count or self.nbytes + nbytes > self.max_bytes:
            raise SpoolFullError(self.count, self.nbytes, self.max_count, self.max_bytes)

    def put(self, campaign_id: str, row: int, col: int, spectrum: npt.NDArray[Any], *,
            source: str = "plan", plan_version: int = -1, dwell_s: float = 0.0
            ) -> SpooledMeasurement:
        """Store a measurement durably (fsynced on return) and give it its seq."""
        arr = np.ascontiguousarray(spectrum)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        self.check_room(arr.nbytes)
        seq = self.next_seq()
        item = SpooledMeasurement(seq, self.session_id, campaign_id, row, col, source,
                                  plan_version, dwell_s, arr, time.time())

        def insert() -> None:
            self.conn.execute(
                "INSERT INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, item.session, campaign_id, row, col, source, plan_version, dwell_s,
                 arr.dtype.str, json.dumps(list(arr.shape)), arr.tobytes(), item.created))
            self.conn.execute("INSERT OR IGNORE INTO measured VALUES (?, ?, ?)",
                              (campaign_id, row, col))

        self._write(insert)
        self.count += 1
        self.nbytes += arr.nbytes
        return item

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged measurements (one transaction); returns how many were here."""
        wanted = list(seqs)
        if not wanted:
            return 0
        removed = 0

        def delete() -> None:
            nonlocal removed
            for seq in wanted:
                row = self.conn.execute(
                    "DELETE FROM measurements WHERE seq = ? RETURNING LENGTH(data)", (seq,)
                ).fetchone()
                if row is not None:
                    removed += 1
                    self.nbytes -= int(row[0])

        self._write(delete, durable=False)
        self.count -= removed
        return removed

    def reject(self, seq: int, code: str, reason: str) -> bool:
        """Move a measurement the planner refuses for good to the ``rejected`` table (kept for
        a person to inspect, never resent). Returns whether it was in the spool."""
        moved = False

        def move() -> None:
            nonlocal moved
            cur = self.conn.execute(
                "INSERT INTO rejected SELECT *, ?, ? FROM measurements WHERE seq = ?",
                (code, reason, seq))
            if cur.rowcount:
                row = self.conn.execute("DELETE FROM measurements WHERE seq = ? "
                                        "RETURNING LENGTH(data)", (seq,)).fetchone()
                self.nbytes -= int(row[0])
                moved = True

        self._write(move)
        if moved:
            self.count -= 1
        return moved

    def get(self, seq: int) -> SpooledMeasurement | None:
        row = self.conn.execute("SELECT * FROM measurements WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _item(row)

    def unacked(self) -> Iterator[SpooledMeasurement]:
        """Every stored measurement, oldest first."""
        for row in self.conn.execute("SELECT * FROM measurements ORDER BY seq").fetchall():
            yield _item(row)

    def unacked_seqs(self) -> list[int]:
        return [int(r[0]) for r in self.conn.execute("SELECT seq FROM measurements ORDER BY seq")]

    def rejected_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])

    def measured_points(self, campaign_id: str) -> set[tuple[int, int]]:
        """Every point of ``campaign_id`` ever spooled here (acked or not)."""
        rows = self.conn.execute("SELECT row, col FROM measured WHERE campaign_id = ?",
                                 (campaign_id,))
        return {(int(r), int(c)) for r, c in rows}

    # -- plumbing ---------------------------------------------------------------------------

    def _write(self, work: Any, durable: bool = True) -> None:
        """Run ``work`` in one IMMEDIATE transaction.

        ``durable=False`` skips the fsync of this one commit (WAL order is kept: the next
        durable commit fsyncs it too). Used for deletions on ack: losing one to a power cut
        only means a resend, which the planner recognises as a duplicate.
        """
        relax = not durable and self.synchronous == "FULL"
        try:
            if relax:
                self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    work()
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            finally:
                if relax:
                    self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise SpoolError(f"spool write failed in {self.directory}: {exc}",
                             path=str(self.directory)) from exc

    def write(self, work: Any) -> None:
        """Public form of the transaction helper, for the spool's sibling tables."""
        self._write(work)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _item(row: tuple[Any, ...]) -> SpooledMeasurement:
    seq, session, campaign, r, c, source, version, dwell, dtype, shape, data, created = row[:12]
    spectrum = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
    return SpooledMeasurement(int(seq), str(session), str(campaign), int(r), int(c), str(source),
                              int(version), float(dwell), spectrum, float(created))
