"""The demo's child processes: the edge agent, the ground-truth export, the dashboard.

Children run in sessions of their own (``start_new_session``), so a Ctrl-C on the terminal
reaches only the demo, which stops them itself, by PID, in order. The planner side never
imports ``edge_agent``: the edge runs as ``python -m autopilot_cli edge ...``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

__all__ = ["Child", "autopilot_command", "has_command"]

log = logging.getLogger(__name__)

COMMANDS = "microscope_autopilot.commands"


def autopilot_command(*args: str) -> list[str]:
    """``autopilot ARGS...`` with this interpreter (works without the script on PATH)."""
    return [sys.executable, "-m", "autopilot_cli", *args]


def has_command(name: str) -> bool:
    """Whether ``autopilot NAME`` is installed (e.g. the monitor)."""
    return any(ep.name == name for ep in entry_points(group=COMMANDS))


@dataclass
class Child:
    """One child process with its output in a log file.

    Attributes:
        name: for messages.
        argv: the command.
        log_path: stdout and stderr go here.
        cwd: its working folder. The demo runs children in the run folder: ``python -m``
            puts the working folder first on ``sys.path``, and a source checkout's stale
            ``*.egg-info`` there would hide installed commands.
    """

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Child:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:  # the child keeps its own handle
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True, cwd=self.cwd)
        log.info("started %s (pid %d): %s", self.name, self.process.pid, " ".join(self.argv))
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def wait(self, timeout_s: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def interrupt(self) -> None:
        """SIGINT (the edge's clean stop), to this child only."""
        if self.running() and self.process is not None:
            self.process.send_signal(signal.SIGINT)

    def stop(self, grace_s: float = 10.0, *, terminate: bool = False) -> int | None:
        """Wait ``grace_s`` for the child to end (after a SIGTERM if ``terminate``), then
        SIGTERM, then SIGKILL; by PID only."""
        proc = self.process
        if proc is None:
            return None
        if terminate and proc.poll() is None:
            proc.terminate()
        if self.wait(grace_s) is None:
            log.warning("%s (pid %d) still running after %g s: %s", self.name, proc.pid,
                        grace_s, "killing" if terminate else "terminating")
            if not terminate:
                proc.terminate()
            if terminate or self.wait(5.0) is None:
                proc.kill()
                proc.wait(5.0)
        return proc.returncode

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
