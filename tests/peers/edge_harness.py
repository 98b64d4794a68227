"""Helpers for edge tests: run a real EdgeAgent in a thread against a real peer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent import EdgeAgent, EdgeConfig, RunResult


def edge_config(planner: str, spool: Path, **overrides: Any) -> EdgeConfig:
    """A fast test configuration: no dwell, short timeouts."""
    settings: dict[str, Any] = dict(
        campaign="c1", planner=planner, instrument="replay:beps", dwell_s=0.0,
        edge_id="edge-test", spool=spool, heartbeat_s=0.5, resend_after_s=1.0,
        hello_timeout_s=1.0, backoff_initial_s=0.05, backoff_max_s=0.5, drain_timeout_s=10.0,
    )
    settings.update(overrides)
    return EdgeConfig(**settings)


@dataclass
class AgentThread:
    """An agent running in a thread; ``result`` once it ended."""

    agent: EdgeAgent
    thread: threading.Thread = field(init=False)
    result: RunResult | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="edge-agent", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.agent.run()
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def start(self) -> AgentThread:
        self.thread.start()
        return self

    def join(self, timeout: float = 30.0) -> RunResult:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.agent.submit("abort")
            self.thread.join(5)
            raise AssertionError(f"agent still running after {timeout} s")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def start_agent(config: EdgeConfig, **kwargs: Any) -> AgentThread:
    return AgentThread(EdgeAgent(config, **kwargs)).start()
