"""The durable spool: seqs, bounds, ack, reject, reopen; and the one-agent lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_agent.control import AgentLock, ControlChannel, ControlClient
from edge_agent.errors import SpoolError, SpoolFullError
from edge_agent.spool import SEQ_BLOCK, Spool


def spectrum(n: int = 16, value: float = 1.0) -> np.ndarray:
    return np.full(n, value, dtype=np.float32)


def test_put_get_ack_and_counts(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        a = spool.put("c1", 1, 2, spectrum(value=3.0), source="seed", plan_version=0)
        b = spool.put("c1", 3, 4, spectrum())
        assert (a.seq, b.seq) == (0, 1) and a.session == spool.session_id
        assert spool.count == 2 and spool.nbytes == 2 * 64
        got = spool.get(a.seq)
        assert got is not None and got.source == "seed" and (got.row, got.col) == (1, 2)
        np.testing.assert_array_equal(got.spectrum, spectrum(value=3.0))
        assert spool.ack([a.seq, 999]) == 1
        assert spool.count == 1 and spool.nbytes == 64
        assert [m.seq for m in spool.unacked()] == [b.seq]
        assert spool.measured_points("c1") == {(1, 2), (3, 4)}  # acked ones stay measured


def test_reopen_keeps_session_data_and_never_repeats_seqs(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        session = spool.session_id
        first = [spool.put("c1", i, 0, spectrum()).seq for i in range(3)]
    with Spool(tmp_path) as spool:
        assert spool.session_id == session
        assert spool.unacked_seqs() == first and spool.count == 3
        nxt = spool.put("c1", 9, 9, spectrum()).seq
    assert nxt >= SEQ_BLOCK > max(first)


def test_bounds_refuse_with_a_clear_error_and_keep_everything(tmp_path: Path) -> None:
    with Spool(tmp_path, max_count=2, max_bytes=10_000) as spool:
        spool.put("c1", 0, 0, spectrum())
        spool.put("c1", 0, 1, spectrum())
        with pytest.raises(SpoolFullError, match="Nothing was lost") as info:
            spool.put("c1", 0, 2, spectrum())
        assert info.value.detail["count"] == 2 and isinstance(info.value, OSError)
        assert spool.count == 2 and (0, 2) not in spool.measured_points("c1")
    with Spool(tmp_path, max_count=10, max_bytes=100) as spool:
        with pytest.raises(SpoolFullError, match="bytes"):
            spool.check_room(64)


def test_reject_moves_aside(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        item = spool.put("c1", 0, 0, spectrum())
        assert spool.reject(item.seq, "bad_field", "nope")
        assert spool.count == 0 and spool.nbytes == 0 and spool.rejected_count() == 1
        assert not spool.reject(item.seq, "bad_field", "again")


def test_big_endian_spectra_are_stored_little_endian(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        item = spool.put("c1", 0, 0, np.arange(4, dtype=">f8"))
        got = spool.get(item.seq)
        assert got is not None and got.spectrum.dtype.str == "<f8"
        np.testing.assert_array_equal(got.spectrum, np.arange(4))


def test_one_agent_per_spool_even_across_processes(tmp_path: Path) -> None:
    lock = AgentLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(SpoolError, match="another agent"):
            AgentLock(tmp_path).acquire()
        code = (f"from edge_agent.control import AgentLock; from pathlib import Path; "
                f"print(AgentLock.held(Path({str(tmp_path)!r})))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == "True"
    finally:
        lock.release()
    assert not AgentLock.held(tmp_path)


def test_commands_queued_after_the_lock_was_taken_are_not_expired(tmp_path: Path) -> None:
    # an earlier agent's run left a command nobody answered
    with Spool(tmp_path) as spool:
        ControlChannel(spool.conn)
        spool.conn.execute("INSERT INTO controls (action, args, user, created) "
                           "VALUES ('pause', '{}', 'old', ?)", (time.time() - 60,))
    lock = AgentLock(tmp_path)
    lock.acquire()
    try:
        client = ControlClient(tmp_path)  # ctl sees the lock held before the agent is ready
        fresh = client.submit("pause", {}, "operator")
        with Spool(tmp_path) as spool:
            channel = ControlChannel(spool.conn, since=lock.acquired_at)
            assert [r.id for r in channel.pending()] == [fresh]
            old = spool.conn.execute("SELECT status, detail FROM controls WHERE user = 'old'"
                                     ).fetchone()
            assert old == ("expired", "arrived while no agent was running")
        client.close()
    finally:
        lock.release()
