"""``autopilot planner`` and ``autopilot campaigns``, and what every planner-side command
shares: the Redis options, opening the state store, the errors reported in one line."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import redis as redis_lib
import typer

from autopilot_cli.addresses import redact
from autopilot_cli.app import fail, new_app, run_app, setup_logging
from autopilot_cli.exit_codes import ExitCode

from .config import ConfigError, load_config
from .errors import PlannerError

if TYPE_CHECKING:
    from .state import StateStore

planner_app = new_app("Run the planner: gateway, Redis state, Ray campaign actors.")
campaigns_app = new_app("List campaigns and their state; export one to an archive.")

#: What the planner-side commands report in one line, and their exit codes (in order).
PLANNER_ERRORS: dict[type[BaseException], ExitCode] = {
    ConfigError: ExitCode.USAGE,
    redis_lib.AuthenticationError: ExitCode.USAGE,
    redis_lib.ConnectionError: ExitCode.UNREACHABLE,
    redis_lib.TimeoutError: ExitCode.UNREACHABLE,
    PlannerError: ExitCode.FAILED,
}

#: Ray's startup notices that are expected here and read like errors: the planner handles
#: SIGTERM itself (and runs Ray in a thread in the demo), and token authentication is a
#: local Ray cluster's default. Shown only with the root logger at DEBUG.
RAY_NOTICES = {
    "ray._private.worker": "SIGTERM handler is not set",
    "ray._private.authentication.authentication_token_setup": "Token authentication is "
                                                              "enabled",
}


class _ExpectedNotice(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return (not record.getMessage().startswith(self.prefix)
                or logging.getLogger().isEnabledFor(logging.DEBUG))


def quiet_ray_notices() -> None:
    """Keep :data:`RAY_NOTICES` out of the user's way (our own errors are untouched)."""
    for name, prefix in RAY_NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ExpectedNotice) for f in logger.filters):
            logger.addFilter(_ExpectedNotice(prefix))


RedisOpt = Annotated[str | None, typer.Option(
    "--redis", help="Redis URL of the planner's state, redis://HOST:PORT (rediss:// for TLS)")]
PlannerRedisOpt = Annotated[str | None, typer.Option(
    "--redis", help="Redis URL, redis://HOST:PORT (rediss:// for TLS); not given: an "
    "embedded server in DATA_DIR/redis")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML config file")]
PrefixOpt = Annotated[str | None, typer.Option("--prefix", help="Redis key prefix")]
RedisPasswordOpt = Annotated[str | None, typer.Option(
    "--redis-password-file", help="file holding the Redis password (the embedded server's: "
    "DATA_DIR/redis/password)")]


@planner_app.command()
def planner(
    config_file: ConfigOpt = None,
    redis: PlannerRedisOpt = None,
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
    """Serve edges until Ctrl-C or SIGTERM."""
    from .redis_folder import RedisServerError
    from .service import PlannerService

    setup_logging(log_level)
    quiet_ray_notices()
    config = load_config(config_file, overrides={
        "redis_url": redis, "redis_prefix": prefix, "ray": ray, "bind": bind,
        "signing_key_file": signing_key, "signing_scheme": signing_scheme,
        "curve_secret_file": curve_secret, "curve_authorized_dir": curve_authorized,
        "data_dir": data_dir, "redis_password_file": redis_password_file,
        "insecure_redis": insecure_redis or None})  # unset: the file's value
    service = PlannerService(config)

    def on_signal(signum: int, frame: Any) -> None:
        service.stop()

    def install_signals() -> None:  # after ray.init, which replaces SIGTERM's handler
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    install_signals()
    try:
        service.run(on_started=install_signals)
    except RedisServerError as exc:
        fail(str(exc))
    except (redis_lib.ConnectionError, redis_lib.TimeoutError) as exc:
        fail(f"cannot reach Redis at {redact(config.redis_url)} ({exc}); is it running, and "
             "is --redis right?", ExitCode.UNREACHABLE)


@contextmanager
def connected_store(url: str, prefix: str, *, password: str | None,
                    ssl: dict[str, str] | None = None, ping: bool = True
                    ) -> Iterator[StateStore]:
    """The state store at ``url`` for a ``with`` block, closed when it ends. With ``ping``, one
    whose Redis answers; a missing URL or an unreachable Redis ends the command with one line
    saying why."""
    from .state import StateStore

    if not url:
        fail("--redis URL is required: the planner's Redis, e.g. redis://HOST:6379")
    store = StateStore.connect(url, prefix, password=password, ssl=ssl)
    try:
        if ping:
            _check_answers(store, url)
        yield store
    finally:
        store.close()


def _check_answers(store: StateStore, url: str) -> None:
    try:
        store.ping()
    except redis_lib.AuthenticationError as exc:
        fail(f"Redis at {redact(url)} refused access ({exc}); check "
             "--redis-password-file")
    except redis_lib.RedisError as exc:
        fail(f"cannot reach Redis at {redact(url)} ({exc}); is it running, and is --redis "
             "right?", ExitCode.UNREACHABLE)


@contextmanager
def planner_store(config_file: str | None, redis_url: str | None, prefix: str | None,
                  password_file: str | None = None) -> Iterator[StateStore]:
    """:func:`connected_store` for the planner's Redis, named by the flags and config."""
    config = load_config(config_file, overrides={"redis_url": redis_url, "redis_prefix": prefix,
                                                 "redis_password_file": password_file})
    with connected_store(config.redis_url, config.redis_prefix, password=config.redis_password(),
                         ssl=config.redis_ssl()) as store:
        yield store


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

    table = Table("campaign", "status", "owner", "edge", "points", "model", "updated")
    with planner_store(config_file, redis, prefix, redis_password_file) as store:
        for c in store.list_campaigns():
            table.add_row(c.campaign_id, c.status, c.owner, c.edge_id, str(c.n_measured),
                          str(c.model_version),
                          time.strftime("%H:%M:%S", time.localtime(c.updated)))
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
    """Write a campaign, running or finished, to a NeXus/HDF5 archive.

    The format is described in docs/archive.md; autopilot replay OUT recomputes its
    decisions."""
    from .archive.from_store import ExportError, export_campaign

    if out.exists() and not force:
        fail(f"{out} exists; pass --force to overwrite it")
    with planner_store(config_file, redis, prefix, redis_password_file) as store:
        try:
            a = export_campaign(store, campaign_id, out)
        except ExportError as exc:
            fail(str(exc), ExitCode.FAILED)
    typer.echo(f"{out}: campaign {campaign_id} ({a.status}), {len(a.coords)} measurements, "
               f"{len(a.schedule['version'])} plans, {len(a.controls)} controls")


def planner_main(argv: list[str] | None = None) -> int:
    return run_app(planner_app, "planner", argv, PLANNER_ERRORS)


def campaigns_main(argv: list[str] | None = None) -> int:
    return run_app(campaigns_app, "campaigns", argv, PLANNER_ERRORS)
