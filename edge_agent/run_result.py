"""How a run of the edge agent ended, and the process exit code that says so."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.state import State


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``pending`` measurements stay in the spool for the next run."""

    state: str
    reason: str
    measured: int
    acked: int
    pending: int
    rejected: int
    error: str = ""
    error_code: str = ""

    @property
    def exit_code(self) -> int:
        """0 finished and all acked; 1 failed; 2 the planner refused the campaign's settings
        (``bad_field``: a configuration error, like a bad flag); 3 aborted; 4 finished with
        data still spooled (or stopped because the spool was full); 5
        interrupted by a service stop (SIGTERM): the campaign stays open and the next run
        resumes it."""
        if self.error_code == "bad_field":
            return 2
        return EXIT_CODES.get(self.state, 4 if self.pending or self.error else 0)


#: Exit codes fixed by the final state (``finished`` gives 0 or 4, see RunResult.exit_code).
EXIT_CODES = {State.FAILED.value: 1, State.ABORTED.value: 3, State.INTERRUPTED.value: 5}
