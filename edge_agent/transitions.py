"""How the edge's state machines move: the run state (:mod:`edge_agent.state`) and the link
phases (:mod:`edge_agent.link_phase`) are each an enum and a table of named transitions, every
transition allowed from some states and leading to one.

The campaign lifecycle (:mod:`protocol.lifecycle`) is not one of these: there a transition's
target depends on where it starts (``stop`` from ``created`` finishes, from ``running`` it
goes to ``stopping``), and refusing one is the planner's ``conflict`` error.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

from edge_agent.errors import StateTransitionError

S = TypeVar("S", bound=Enum)


def next_state(transitions: Mapping[str, tuple[frozenset[S], S]], current: S, transition: str,
               *, machine: str = "") -> S:
    """The state ``transition`` leads to from ``current``; ``machine`` names the state machine
    in the error (``link``; "" for the run state).

    Raises:
        StateTransitionError: unknown transition, or not allowed from ``current``.
    """
    subject = f"{machine} " if machine else ""
    if transition not in transitions:
        raise StateTransitionError(f"unknown {subject}transition {transition!r}; known: "
                                   f"{sorted(transitions)}", event=transition,
                                   state=current.value)
    sources, target = transitions[transition]
    if current not in sources:
        raise StateTransitionError(
            f"{subject}cannot {transition} while {current.value}; {transition} applies when "
            f"{' or '.join(sorted(s.value for s in sources))}",
            event=transition, state=current.value)
    return target
