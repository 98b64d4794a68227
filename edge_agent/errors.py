"""One error tree for the edge agent.

``EdgeAgentError`` is the root. Subclasses also inherit the builtin they resemble, carry
structured fields, and fall in three families that callers treat differently:

- the link failed (:class:`LinkError`: timeouts, planner gone) -> buffer and reconnect;
- the planner said no (:class:`PlannerRefusedError`, wraps a :class:`protocol.RemoteError`)
  -> handled per error code (docs/protocol.md section 8);
- everything else here is a local condition (bad config, full spool, refused point) and any
  exception outside this tree is a bug.
"""

from __future__ import annotations

from typing import Any


class EdgeAgentError(Exception):
    """Root of every error the edge agent raises on purpose.

    Attributes:
        message: what went wrong, for a person.
        detail: structured context for machines (never secrets).
    """

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ConfigError(EdgeAgentError, ValueError):
    """A configuration value is missing or invalid (``detail['field']``, ``detail['source']``)."""


class InstrumentError(EdgeAgentError, RuntimeError):
    """The instrument could not do what was asked."""


class UnknownDriverError(InstrumentError, LookupError):
    """No driver is registered under the requested name (``detail['known']`` lists them)."""


class OutOfBoundsError(InstrumentError, IndexError):
    """A point outside the field of view: refused, never executed."""

    def __init__(self, row: int, col: int, shape: tuple[int, int]) -> None:
        super().__init__(
            f"point ({row}, {col}) is outside the field of view: the grid is "
            f"{shape[0]} x {shape[1]} (rows 0..{shape[0] - 1}, cols 0..{shape[1] - 1})",
            row=row, col=col, shape=list(shape),
        )
        self.row, self.col, self.shape = row, col, shape


class AcquisitionStopped(InstrumentError):
    """``stop()`` interrupted an acquisition; its partial data are discarded."""


class SpoolError(EdgeAgentError, OSError):
    """The durable spool failed (disk, corruption, locked by another agent)."""


class SpoolFullError(SpoolError):
    """The spool holds as many unacknowledged measurements as it may; nothing was lost."""

    def __init__(self, count: int, nbytes: int, max_count: int, max_bytes: int) -> None:
        super().__init__(
            f"spool full: {count} unacknowledged measurements, {nbytes} bytes "
            f"(limits {max_count} measurements, {max_bytes} bytes); measuring stops until "
            "the planner acknowledges them. Nothing was lost.",
            count=count, nbytes=nbytes, max_count=max_count, max_bytes=max_bytes,
        )


class StateTransitionError(EdgeAgentError, RuntimeError):
    """A transition that the current state does not allow (``detail['state']``, ``['event']``)."""


class ControlError(EdgeAgentError, ValueError):
    """An operator command that is malformed or cannot apply (the reason is the message)."""


class AgentNotRunningError(ControlError):
    """``autopilot edge ctl`` found no live agent on the spool folder."""


class LinkError(EdgeAgentError, ConnectionError):
    """The link to the planner failed (timeout, planner gone, handshake unanswered)."""


class PlannerRefusedError(EdgeAgentError, PermissionError):
    """The planner answered with an error that stops this agent (``detail['code']``)."""

    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(f"planner refused [{code}]: {message}", code=code, **detail)
        self.code = code
