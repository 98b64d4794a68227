"""What the demo shows in the terminal (rich): the live progress panel and the tables.

Only this module and the CLI write to the terminal; the rest of the package logs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .provenance import Check
from .watch import LoopMetrics

__all__ = ["ProgressDisplay", "checks_table", "summary_table"]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


class ProgressDisplay:
    """A live panel: a bar of measured points and the loop's numbers, four times a second."""

    def __init__(self, console: Console, steps: int, label: str) -> None:
        self.console = console
        self.steps = steps
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self.task = self.progress.add_task(label, total=steps)
        self.started = time.monotonic()
        self.metrics = LoopMetrics()
        self.note = ""
        self.live = Live(self._render(), console=console, refresh_per_second=4,
                         transient=False, redirect_stdout=False, redirect_stderr=False)

    def _render(self) -> Group:
        m = self.metrics
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim")
        table.add_column()
        table.add_column(style="dim")
        table.add_column()
        best = "-" if m.best is None else f"{m.best:.4g}"
        table.add_row("step", f"{m.measured}/{self.steps}", "campaign", m.status)
        table.add_row("best value so far", best, "model version", str(m.model_version))
        table.add_row("loop latency", _seconds(m.latency_s), "microscope idle",
                      f"{_seconds(m.idle_s)} ({100 * m.idle_fraction:.0f}%)")
        parts: list[Any] = [self.progress, table]
        if self.note:
            parts.append(self.note)
        return Group(*parts)

    def update(self, metrics: LoopMetrics, note: str = "") -> None:
        self.metrics = metrics
        self.note = note
        self.progress.update(self.task, completed=min(metrics.measured, self.steps))
        self.live.update(self._render())

    def __enter__(self) -> ProgressDisplay:
        self.live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.live.update(self._render())
        self.live.stop()
        if not self.console.is_terminal:
            self.console.line()  # the last frame has no newline of its own there


def summary_table(rows: Sequence[tuple[str, str]], title: str) -> Table:
    """A two-column table of (quantity, value)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


def checks_table(checks: Sequence[Check], title: str) -> Table:
    """The provenance verdicts: check, result, detail."""
    table = Table("check", "result", "detail", title=title, title_justify="left")
    for c in checks:
        table.add_row(c.name, "[green]reproduced[/]" if c.ok else "[red]DIFFERS[/]", c.detail)
    return table
