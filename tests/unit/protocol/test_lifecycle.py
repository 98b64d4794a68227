"""The campaign lifecycle's transition table: every status, every event."""

from __future__ import annotations

import pytest

from protocol.lifecycle import (
    FINAL,
    TRANSITIONS,
    CampaignStatus,
    LifecycleError,
    is_final,
    next_status,
)

S = CampaignStatus
EVENTS = sorted({e for moves in TRANSITIONS.values() for e in moves})


def test_every_status_has_a_row_and_only_final_ones_are_dead_ends() -> None:
    assert set(TRANSITIONS) == set(S)
    for status, moves in TRANSITIONS.items():
        assert (not moves) == (status in FINAL)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("event", EVENTS)
def test_each_move_is_the_table_or_an_error_that_says_why(status: S, event: str) -> None:
    expected = TRANSITIONS[status].get(event)
    if expected is None:
        with pytest.raises(LifecycleError, match=status.value) as info:
            next_status(status, event)
        assert info.value.code.value == "conflict"
    else:
        assert next_status(status.value, event) is expected


def test_the_familiar_paths() -> None:
    assert next_status("created", "scan") is S.RUNNING
    assert next_status("running", "pause") is S.PAUSED
    assert next_status("paused", "resume") is S.RUNNING
    assert next_status("running", "stop") is S.STOPPING
    assert next_status("stopping", "finish") is S.FINISHED
    with pytest.raises(LifecycleError, match="over"):
        next_status("finished", "resume")  # a finished campaign never runs again
    assert is_final("aborted") and not is_final("paused")
    with pytest.raises(ValueError):
        next_status("done", "finish")  # not a status word
