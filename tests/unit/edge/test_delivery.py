"""The outbox over a real spool: pipelining, resends with backoff, acks and rejections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.delivery import Outbox
from edge_agent.spool import Spool

pytestmark = pytest.mark.unit


def fill(spool: Spool, n: int) -> list[int]:
    return [spool.put("c1", i, 0, np.ones(4, np.float32)).seq for i in range(n)]


def test_unacked_measurements_are_resent_with_backoff(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        seqs = fill(spool, 2)
        box = Outbox(spool, window=8, resend_after_s=1.0)
        assert box.due(0.0) == seqs
        for seq in seqs:
            box.sent(seq, 0.0)
        assert box.due(0.99) == []
        sends = [0.0]
        now = 0.0
        while len(sends) < 6:  # only the first seq is resent; the second is acked
            now += 0.25
            if seqs[0] in box.due(now):
                box.sent(seqs[0], now)
                sends.append(now)
            if now == 0.5:
                box.ack([seqs[1]])
        assert np.diff(sends).tolist() == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at 8x
        assert box.resends == 5 and box.pending == 1
        box.requeue_all()  # a reconnect: sent again at once, and the backoff starts afresh
        assert box.due(now) == [seqs[0]]
        box.sent(seqs[0], now)
        assert box.due(now + 1.0) == [seqs[0]]


def test_acked_and_rejected_measurements_leave_the_outbox(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        a, b, c = fill(spool, 3)
        box = Outbox(spool, window=2, resend_after_s=1.0)
        assert box.due(0.0) == [a, b]  # the window
        box.sent(a, 0.0)
        box.sent(b, 0.0)
        assert box.ack([a]) == 1
        box.reject(b, "bad_shape", "wrong length")
        assert box.due(0.1) == [c] and box.pending == 1
        assert box.rejected == 1 and box.acked == 1
        assert box.attempts == {}
