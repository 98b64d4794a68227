"""The exit codes every ``autopilot`` command uses (docs/operations.md lists them)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    #: the command ran and failed: a replay that does not reproduce, a refused control, ...
    FAILED = 1
    #: a mistake in what was asked: unknown option, bad value, bad URL, missing or unreadable
    #: file, a file that would be overwritten without --force; nothing was done
    USAGE = 2
    #: the edge's campaign was aborted
    ABORTED = 3
    #: the edge stopped with measurements still spooled (the next run resends them)
    SPOOLED = 4
    #: the edge was stopped as a service (SIGTERM, SIGBREAK); the campaign stays open
    SERVICE_STOP = 5
    #: a service the command needs cannot be reached (Redis, the planner)
    UNREACHABLE = 6
    #: interrupted by Ctrl-C or SIGTERM; what the command started was stopped
    INTERRUPTED = 130
