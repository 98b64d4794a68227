"""``autopilot edges``: issue, rotate, revoke and list the edges' own signing keys.

An edge issued a key can only be spoken for with it (docs/reliability.md, "Edge identity");
the key file goes to that edge's PC and nowhere else.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from autopilot_cli.app import fail, new_app, run_app
from autopilot_cli.exit_codes import ExitCode

from .cli import PLANNER_ERRORS, ConfigOpt, PrefixOpt, RedisOpt, RedisPasswordOpt, planner_store

edges_app = new_app("Issue, rotate, revoke and list the keys that identify each edge to the "
                    "planner.")


@edges_app.command("add")
def add(
    edge_id: Annotated[str, typer.Argument(help="the edge id (its --edge-id)")],
    out: Annotated[Path, typer.Argument(help="key file to write (mode 0600) for that edge")],
    rotate: Annotated[bool, typer.Option(
        "--rotate", help="replace the edge's key (the old one stops working at once)")] = False,
    force: Annotated[bool, typer.Option("--force", help="overwrite OUT if it exists")] = False,
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """Issue EDGE_ID its own signing key and write it to OUT."""
    from .state import StateError
    from .state.credentials import EdgeCredentials

    if out.exists() and not force:
        fail(f"{out} exists; pass --force to overwrite it")
    with planner_store(config_file, redis, prefix, redis_password_file) as store:
        try:
            key = EdgeCredentials(store).issue(edge_id, replace=rotate)
        except StateError as exc:
            fail(str(exc))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    typer.echo(f"issued edge {edge_id} a key: {out} (give it to that edge: --signing-key {out})")


@edges_app.command("revoke")
def revoke(
    edge_id: Annotated[str, typer.Argument(help="the edge id")],
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """Revoke EDGE_ID's key: its messages are refused from now on (its campaigns stay)."""
    from .state.credentials import EdgeCredentials

    with planner_store(config_file, redis, prefix, redis_password_file) as store:
        found = EdgeCredentials(store).revoke(edge_id)
    if not found:
        fail(f"no edge {edge_id!r} was issued a key (autopilot edges list shows them)",
             ExitCode.FAILED)
    typer.echo(f"revoked edge {edge_id}'s key")


@edges_app.command("list")
def list_edges(
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """Every edge issued a key: when, and whether it was revoked (keys are never shown)."""
    from rich.console import Console
    from rich.table import Table

    from .state.credentials import EdgeCredentials

    with planner_store(config_file, redis, prefix, redis_password_file) as store:
        creds = EdgeCredentials(store).list()
    table = Table("edge", "issued", "state")
    for c in creds:
        table.add_row(c.edge_id, time.strftime("%Y-%m-%d %H:%M", time.localtime(c.created)),
                      "revoked" if c.key is None else "active")
    Console().print(table)


def edges_main(argv: list[str] | None = None) -> int:
    return run_app(edges_app, "edges", argv, PLANNER_ERRORS)
