"""The run state machine, point selection and local command parsing."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.control import parse_command
from edge_agent.errors import ControlError, StateTransitionError
from edge_agent.selection import PointPicker
from edge_agent.state import TRANSITIONS, RunState, State


def test_named_transitions() -> None:
    s = RunState()
    seen: list[tuple[str, str, str]] = []
    s.on_change(lambda old, t, new, why: seen.append((old.value, t, new.value)))
    for t in ("start", "pause", "resume", "stop", "finish"):
        s.fire(t, f"because {t}")
    assert s.state is State.FINISHED and s.terminal and s.reason == "because finish"
    assert [x[1] for x in seen] == ["start", "pause", "resume", "stop", "finish"]


@pytest.mark.parametrize("transition", sorted(TRANSITIONS))
def test_nothing_leaves_a_terminal_state(transition: str) -> None:
    s = RunState()
    s.fire("abort")
    with pytest.raises(StateTransitionError, match=f"cannot {transition} while aborted"):
        s.fire(transition)


def test_refusals_name_the_allowed_states() -> None:
    s = RunState()
    s.fire("start")
    with pytest.raises(StateTransitionError, match="resume applies when paused"):
        s.fire("resume")
    with pytest.raises(StateTransitionError, match="unknown transition"):
        s.fire("explode")
    assert s.can("pause") and not s.can("finish")


def test_picker_skips_measured_vetoed_and_out_of_bounds() -> None:
    pk = PointPicker((5, 5))
    pk.mark_measured(0, 0)
    pk.veto((1, 1, 2, 2))
    verdict = pk.offer_plan(3, np.array([[0, 0], [1, 2], [9, 9], [4, 4], [0, 1]]))
    assert verdict.used and verdict.out_of_bounds == [(9, 9)]
    assert pk.remaining() == 2
    first = pk.next_point()
    assert first is not None and (first.row, first.col, first.source) == (4, 4, "plan")
    pk.mark_measured(4, 4)
    second = pk.next_point()
    assert second is not None and (second.row, second.col) == (0, 1)
    assert pk.next_point() is None


def test_newest_plan_wins_and_seed_plans_are_marked() -> None:
    pk = PointPicker((4, 4))
    pk.offer_plan(0, np.array([[1, 1]]))
    choice = pk.next_point()
    assert choice is not None and choice.source == "seed"
    pk.offer_plan(5, np.array([[2, 2]]))
    stale = pk.offer_plan(4, np.array([[3, 3]]))
    assert not stale.used and "older" in stale.reason
    choice = pk.next_point()
    assert choice is not None and (choice.row, choice.col, choice.plan_version) == (2, 2, 5)


def test_manual_points_come_first_and_are_checked() -> None:
    pk = PointPicker((4, 4))
    pk.offer_plan(1, np.array([[0, 0]]))
    pk.add_point({"point": [3, 3]})
    choice = pk.next_point()
    assert choice is not None and choice.source == "manual"
    with pytest.raises(ControlError, match="outside the field of view"):
        pk.add_point({"point": [4, 0]})
    pk.veto((2, 2, 2, 2))
    with pytest.raises(ControlError, match="vetoed"):
        pk.add_point({"point": [2, 2]})
    with pytest.raises(ControlError, match="2 integers"):
        pk.add_point({"point": [1]})


@pytest.mark.parametrize("args, message", [
    ({}, "needs args.points"),
    ({"points": [[1, "a"]]}, "2 integers"),
    ({"region": [3, 3, 1, 1]}, "must be >="),
    ({"points": "all"}, "list of"),
])
def test_bad_vetoes_are_refused_with_reasons(args: dict[str, object], message: str) -> None:
    with pytest.raises(ControlError, match=message):
        PointPicker((4, 4)).parse_veto(args)


def test_parse_local_commands() -> None:
    assert parse_command(["pause"]) == ("pause", {})
    assert parse_command(["veto", "1", "2"]) == ("veto", {"points": [[1, 2]]})
    assert parse_command(["veto-region", "0", "0", "3", "4"]) == ("veto", {"region": [0, 0, 3, 4]})
    assert parse_command(["add_point", "5", "6"]) == ("add_point", {"point": [5, 6]})
    for words, message in [([], "no command"), (["jump"], "unknown command"),
                           (["veto", "1"], "takes 2"), (["veto", "a", "b"], "integers"),
                           (["add-point", "-1", "0"], ">= 0")]:
        with pytest.raises(ControlError, match=message):
            parse_command(words)
