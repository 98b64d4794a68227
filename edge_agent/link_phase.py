"""The link's phases: an explicit state machine with named transitions (like state.py).

::

    down --open--> connecting --hello--> hello --start_campaign--> campaign --acked--> ready
    campaign|ready --start_campaign--> campaign     (the planner lost the campaign: start again)
    any --lose--> down                              (silence, unanswered handshake, failed send)

The phase is the link's; the run state (:mod:`edge_agent.state`) is the campaign's. A
transition the current phase does not allow raises
:class:`~edge_agent.errors.StateTransitionError` (a bug in the conversation, never the
planner's doing); :meth:`LinkPhases.can` asks first.
"""

from __future__ import annotations

import logging
from enum import Enum

from edge_agent.transitions import next_state

log = logging.getLogger(__name__)


class LinkPhase(str, Enum):
    DOWN = "down"  # waiting to retry
    CONNECTING = "connecting"  # fresh DEALER, waiting for the connection
    HELLO = "hello"  # hello sent, waiting for welcome
    CAMPAIGN = "campaign"  # welcome got, campaign_start sent, waiting for its ack
    READY = "ready"  # campaign acked: scan, measurements, controls and heartbeats flow


#: Phases in which an answer from the planner is awaited within ``hello_timeout_s``.
HANDSHAKE = frozenset({LinkPhase.CONNECTING, LinkPhase.HELLO, LinkPhase.CAMPAIGN})

#: transition name -> (phases it may start from, phase it leads to)
TRANSITIONS: dict[str, tuple[frozenset[LinkPhase], LinkPhase]] = {
    "open": (frozenset({LinkPhase.DOWN}), LinkPhase.CONNECTING),
    "hello": (frozenset({LinkPhase.CONNECTING}), LinkPhase.HELLO),
    "start_campaign": (frozenset({LinkPhase.HELLO, LinkPhase.CAMPAIGN, LinkPhase.READY}),
                       LinkPhase.CAMPAIGN),
    "acked": (frozenset({LinkPhase.CAMPAIGN}), LinkPhase.READY),
    "lose": (frozenset(LinkPhase), LinkPhase.DOWN),
}


class LinkPhases:
    """The current :class:`LinkPhase` (used by the agent's loop thread only)."""

    def __init__(self) -> None:
        self.phase = LinkPhase.DOWN

    def can(self, transition: str) -> bool:
        return self.phase in TRANSITIONS[transition][0]

    def fire(self, transition: str) -> LinkPhase:
        """Apply ``transition``; return the new phase.

        Raises:
            StateTransitionError: unknown transition, or not allowed from the current phase.
        """
        target = next_state(TRANSITIONS, self.phase, transition, machine="link")
        if target is not self.phase:
            log.debug("link %s -[%s]-> %s", self.phase.value, transition, target.value)
        self.phase = target
        return target
