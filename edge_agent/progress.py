"""The agent's progress: a snapshot, and a one-line display of it for interactive runs (stderr
on a TTY)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    state: str
    link: str
    measured: int
    pending: int
    acked: int
    plan_version: int
    max_points: int | None


class ProgressLine:
    """Rewrites one line: state, link, measured / budget, unacked, plan version, rate."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._start = time.monotonic()
        self._width = 0

    def update(self, progress: Progress) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        budget = f"/{progress.max_points}" if progress.max_points is not None else ""
        text = (f"{progress.state:9s} link {progress.link:10s} measured {progress.measured}"
                f"{budget}  unacked {progress.pending}  plan v{progress.plan_version}  "
                f"{progress.acked / elapsed:5.1f} acked/s")
        self._width = max(self._width, len(text))
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()

    def close(self) -> None:
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
