"""Every ``autopilot`` command speaks the same way: one library (typer), help on every option
and argument, help text without reStructuredText markup, one-line summaries."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest
import typer
from typer.main import get_command

from autopilot_cli.dispatch import GROUP, main
from autopilot_cli.keys import keys_app
from edge_agent.cli import edge_app
from planner_cluster.cli import campaigns_app, planner_app
from planner_cluster.demo_cli import demo_app, replay_app
from planner_cluster.edges_cli import edges_app
from planner_cluster.monitor_cli import monitor_app

APPS = {"keys": keys_app, "edge": edge_app, "planner": planner_app, "campaigns": campaigns_app,
        "edges": edges_app, "monitor": monitor_app, "demo": demo_app, "replay": replay_app}


def commands(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_every_installed_command_is_a_typer_app_checked_here() -> None:
    assert {ep.name for ep in entry_points(group=GROUP)} == set(APPS)
    assert all(isinstance(app, typer.Typer) for app in APPS.values())


@pytest.mark.parametrize("name", sorted(APPS))
def test_help_on_every_option_and_argument(name: str) -> None:
    for path, command in commands(get_command(APPS[name]), f"autopilot {name}"):
        summary = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert summary and "\n" not in summary, f"{path}: summary {summary!r}"
        for param in command.params:
            text = getattr(param, "help", None) or ""
            assert text.strip(), f"{path}: {param.name} has no help"
            assert "``" not in text, f"{path}: {param.name}: {text!r}"
        assert "``" not in (command.help or ""), f"{path}: {command.help!r}"


def test_the_dispatcher_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name}\n" in listed for name in APPS)
    assert main(["nope"]) == 2
