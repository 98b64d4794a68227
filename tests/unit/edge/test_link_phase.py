"""The link's phase machine: the handshake order, losing the link from anywhere, refusals."""

from __future__ import annotations

import pytest

from edge_agent.errors import StateTransitionError
from edge_agent.link_phase import TRANSITIONS, LinkPhase, LinkPhases


def test_the_handshake_runs_in_order_and_a_lost_campaign_starts_again() -> None:
    phases = LinkPhases()
    seen = [phases.fire(t) for t in ("open", "hello", "start_campaign", "acked",
                                     "start_campaign", "acked")]
    assert seen == [LinkPhase.CONNECTING, LinkPhase.HELLO, LinkPhase.CAMPAIGN, LinkPhase.READY,
                    LinkPhase.CAMPAIGN, LinkPhase.READY]


@pytest.mark.parametrize("steps", [(), ("open",), ("open", "hello"),
                                   ("open", "hello", "start_campaign", "acked")])
def test_the_link_can_be_lost_in_every_phase(steps: tuple[str, ...]) -> None:
    phases = LinkPhases()
    for step in steps:
        phases.fire(step)
    assert phases.fire("lose") is LinkPhase.DOWN


@pytest.mark.parametrize("transition", sorted(set(TRANSITIONS) - {"open", "lose"}))
def test_only_open_and_lose_apply_while_down(transition: str) -> None:
    phases = LinkPhases()
    assert not phases.can(transition)
    with pytest.raises(StateTransitionError, match=f"cannot {transition} while down"):
        phases.fire(transition)
    with pytest.raises(StateTransitionError, match="unknown link transition"):
        phases.fire("explode")
    assert phases.phase is LinkPhase.DOWN
