"""The agent's run state: an explicit state machine with named transitions (bluesky-style).

::

    idle --start--> running --pause--> paused --resume--> running
    running|paused --stop--> stopping --finish--> finished      (clean: in-flight work completes,
                                                                 every measurement acked, bye)
    idle|running|paused|stopping --abort--> aborted             (now: acquisition interrupted,
                                                                 unacked data stay spooled)
    idle|running|paused|stopping --fail--> failed               (a fatal error; data stay spooled)
    idle|running|paused|stopping --interrupt--> interrupted     (a service stop, SIGTERM: the
                                                                 instrument is stopped and closed,
                                                                 the campaign stays open to resume)

``finished``, ``aborted``, ``failed`` and ``interrupted`` are terminal. A transition the current
state does not allow raises :class:`~edge_agent.errors.StateTransitionError`;
:meth:`RunState.can` asks first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import Enum

from edge_agent.transitions import next_state

log = logging.getLogger(__name__)


class State(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    ABORTED = "aborted"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


TERMINAL = frozenset({State.FINISHED, State.ABORTED, State.FAILED, State.INTERRUPTED})
_LIVE = frozenset({State.IDLE, State.RUNNING, State.PAUSED, State.STOPPING})

#: transition name -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[State], State]] = {
    "start": (frozenset({State.IDLE}), State.RUNNING),
    "pause": (frozenset({State.RUNNING}), State.PAUSED),
    "resume": (frozenset({State.PAUSED}), State.RUNNING),
    "stop": (frozenset({State.RUNNING, State.PAUSED, State.IDLE}), State.STOPPING),
    "finish": (frozenset({State.STOPPING}), State.FINISHED),
    "abort": (_LIVE, State.ABORTED),
    "fail": (_LIVE, State.FAILED),
    "interrupt": (_LIVE, State.INTERRUPTED),
}

Listener = Callable[[State, str, State, str], None]


class RunState:
    """Thread-safe holder of the current :class:`State`.

    ``reason`` records why the last transition happened (shown to the operator, sent in
    heartbeats and ``bye``).
    """

    def __init__(self) -> None:
        self._state = State.IDLE
        self.reason = ""
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    @property
    def state(self) -> State:
        return self._state

    @property
    def terminal(self) -> bool:
        return self._state in TERMINAL

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(old, transition, new, reason)`` after every transition."""
        self._listeners.append(listener)

    def can(self, transition: str) -> bool:
        sources, _ = TRANSITIONS[transition]
        return self._state in sources

    def fire(self, transition: str, reason: str = "") -> State:
        """Apply ``transition``; return the new state.

        Raises:
            StateTransitionError: unknown transition, or not allowed from the current state.
        """
        with self._lock:
            old = self._state
            target = next_state(TRANSITIONS, old, transition)
            self._state = target
            self.reason = reason
        log.info("state %s -[%s]-> %s%s", old.value, transition, target.value,
                 f" ({reason})" if reason else "")
        for listener in self._listeners:
            listener(old, transition, target, reason)
        return target
