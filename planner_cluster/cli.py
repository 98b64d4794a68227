"""``autopilot planner`` and ``autopilot campaigns`` (typer; the edge's CLI is argparse)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .config import ConfigError, load_config

planner_app = typer.Typer(add_completion=False, help="Run the planner: gateway, Redis state, "
                          "Ray campaign actors.")
campaigns_app = typer.Typer(add_completion=False, help="List campaigns and their state; "
                             "export one to an archive.")

RedisOpt = Annotated[str | None, typer.Option("--redis", help="Redis URL; empty: embedded")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML config file")]
PrefixOpt = Annotated[str | None, typer.Option("--prefix", help="Redis key prefix")]
RedisPasswordOpt = Annotated[str | None, typer.Option(
    "--redis-password-file", help="file holding the Redis password (the embedded server's: "
    "DATA_DIR/redis/password)")]


@planner_app.command()
def planner(
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    ray: Annotated[str | None, typer.Option(help="local | auto | HOST:PORT")] = None,
    bind: Annotated[str | None, typer.Option(help="gateway endpoint, tcp://*:PORT")] = None,
    signing_key: Annotated[str | None, typer.Option(help="signing key file")] = None,
    signing_scheme: Annotated[str | None, typer.Option(help="hmac-sha256|blake3|blake2b")]
    = None,
    curve_secret: Annotated[str | None, typer.Option(help="planner .key_secret file")] = None,
    curve_authorized: Annotated[str | None, typer.Option(help="folder of edge .key files")]
    = None,
    data_dir: Annotated[str | None, typer.Option(help="blobs and embedded Redis data")] = None,
    redis_password_file: RedisPasswordOpt = None,
    insecure_redis: Annotated[bool, typer.Option(
        "--insecure-redis", help="accept an external Redis without a password (test networks)")]
    = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Serve edges until interrupted."""
    from .redis_folder import RedisServerError
    from .service import PlannerService

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_file, overrides={
            "redis_url": redis, "redis_prefix": prefix, "ray": ray, "bind": bind,
            "signing_key_file": signing_key, "signing_scheme": signing_scheme,
            "curve_secret_file": curve_secret, "curve_authorized_dir": curve_authorized,
            "data_dir": data_dir, "redis_password_file": redis_password_file,
            "insecure_redis": insecure_redis or None})  # unset: the file's value
    except ConfigError as exc:
        typer.echo(f"autopilot planner: {exc}", err=True)
        raise typer.Exit(2) from None
    service = PlannerService(config)

    def on_signal(signum: int, frame: Any) -> None:
        service.stop()

    def install_signals() -> None:  # after ray.init, which replaces SIGTERM's handler
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    install_signals()
    try:
        service.run(on_started=install_signals)
    except (ConfigError, RedisServerError) as exc:
        typer.echo(f"autopilot planner: {exc}", err=True)
        raise typer.Exit(2) from None


def open_store(config_file: str | None, redis_url: str | None, prefix: str | None,
                command: str, password_file: str | None = None) -> Any:
    """The state store named by the flags and config; exit 2 with one line if there is none."""
    from .state import StateStore

    try:
        config = load_config(config_file, overrides={"redis_url": redis_url,
                                                     "redis_prefix": prefix,
                                                     "redis_password_file": password_file})
    except ConfigError as exc:
        typer.echo(f"autopilot {command}: {exc}", err=True)
        raise typer.Exit(2) from None
    if not config.redis_url:
        typer.echo(f"autopilot {command}: --redis URL is required", err=True)
        raise typer.Exit(2)
    return StateStore.connect(config.redis_url, config.redis_prefix,
                              password=config.redis_password(), ssl=config.redis_ssl())


@campaigns_app.callback(invoke_without_command=True)
def campaigns(
    ctx: typer.Context,
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """List every campaign: status, owner, edge, points, model version."""
    if ctx.invoked_subcommand is not None:
        return
    import time

    from rich.console import Console
    from rich.table import Table

    store = open_store(config_file, redis, prefix, "campaigns", redis_password_file)
    table = Table("campaign", "status", "owner", "edge", "points", "model", "updated")
    for c in store.list_campaigns():
        table.add_row(c.campaign_id, c.status, c.owner, c.edge_id, str(c.n_measured),
                      str(c.model_version), time.strftime("%H:%M:%S", time.localtime(c.updated)))
    store.close()
    Console().print(table)


@campaigns_app.command("export")
def export(
    campaign_id: Annotated[str, typer.Argument(help="the campaign to export")],
    out: Annotated[Path, typer.Argument(help="the archive to write (NeXus/HDF5, .nxs or .h5)")],
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite OUT if it exists")] = False,
) -> None:
    """Write a campaign, running or finished, to a self-describing NeXus/HDF5 archive
    (docs/archive.md); `autopilot replay OUT` recomputes its decisions."""
    import redis as redis_lib

    from .archive.from_store import ExportError, export_campaign

    if out.exists() and not force:
        typer.echo(f"autopilot campaigns export: {out} exists; pass --force to overwrite it",
                   err=True)
        raise typer.Exit(2)
    store = open_store(config_file, redis, prefix, "campaigns export", redis_password_file)
    try:
        a = export_campaign(store, campaign_id, out)
    except ExportError as exc:
        typer.echo(f"autopilot campaigns export: {exc}", err=True)
        raise typer.Exit(1) from None
    except redis_lib.RedisError as exc:
        typer.echo(f"autopilot campaigns export: cannot read Redis ({exc})", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"{out}: campaign {campaign_id} ({a.status}), {len(a.coords)} measurements, "
               f"{len(a.schedule['version'])} plans, {len(a.controls)} controls")


def run_app(app: typer.Typer, name: str, argv: list[str] | None) -> int:
    """Run a typer app without sys.exit and return its exit code (usage errors: 2).

    With ``standalone_mode=False`` typer returns codes instead of exiting, and raises usage
    errors as its own (vendored) click exceptions, recognised here by their interface.
    """
    try:
        code = app(args=sys.argv[1:] if argv is None else argv, prog_name=f"autopilot {name}",
                   standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except Exception as exc:
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            return exit_code
        raise
    return int(code) if isinstance(code, int) else 0


def planner_main(argv: list[str] | None = None) -> int:
    return run_app(planner_app, "planner", argv)


def campaigns_main(argv: list[str] | None = None) -> int:
    return run_app(campaigns_app, "campaigns", argv)
