"""``autopilot monitor``: serve the dashboard, and manage its users and tokens.

``autopilot monitor --redis URL ...`` (no subcommand) means ``serve``.
"""

from __future__ import annotations

import getpass
import logging
import signal
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import redis as redis_lib
import typer

from autopilot_cli.addresses import redact
from autopilot_cli.app import fail, new_app, run_app, setup_logging
from autopilot_cli.exit_codes import ExitCode

from .cli import (
    PLANNER_ERRORS,
    ConfigOpt,
    PrefixOpt,
    RedisOpt,
    RedisPasswordOpt,
    connected_store,
)
from .monitor.config import MonitorConfig, load_monitor_config
from .state import StateError, StateStore
from .state.users import ROLES, UserStore, hash_password

log = logging.getLogger(__name__)

monitor_app = new_app("The campaign dashboard and HTTP API, and its users and tokens.")
COMMANDS = ("serve", "add-user", "token", "users", "remove-user", "hash-password")
TtlOpt = Annotated[float | None, typer.Option(
    "--ttl-days", help="token lifetime in days (default: token_ttl_s of the config)")]


def _config(config_file: str | None, redis: str | None, prefix: str | None,
            password_file: str | None, **more: Any) -> MonitorConfig:
    return load_monitor_config(config_file, overrides={
        "redis_url": redis, "redis_prefix": prefix, "redis_password_file": password_file,
        **more})


def _store(config: MonitorConfig, *, ping: bool = True) -> AbstractContextManager[StateStore]:
    """The planner's state store for a ``with`` block; with ``ping``, one that answers (else
    one line, exit 6)."""
    return connected_store(config.redis_url, config.redis_prefix,
                           password=config.redis_password(), ping=ping)


@monitor_app.command("serve")
def serve(
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
    bind: Annotated[str | None, typer.Option(help="HOST:PORT to serve on (default "
                                             "127.0.0.1:8765)")] = None,
    users: Annotated[str | None, typer.Option(help="TOML users file to load at start")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING")] = None,
) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM (the default command)."""
    from .monitor.app import MonitorServer

    config = _config(config_file, redis, prefix, redis_password_file, bind=bind,
                     users_file=users, log_level=log_level)
    setup_logging(config.log_level)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    with _store(config, ping=False) as store:
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            try:
                store.ping()
            except redis_lib.RedisError as exc:  # it may come up later: serve, answering 503
                log.warning("Redis at %s does not answer (%s); the monitor answers 503 until "
                            "it does", redact(config.redis_url), exc)
            server = MonitorServer(config, store).start_in_thread()
            log.info("monitor on %s (API docs at /api/docs)", server.url)
            while not stop.wait(1.0):
                if not server.alive:
                    fail("the web server stopped; see the log above", ExitCode.FAILED)
            server.stop()
        except RuntimeError as exc:
            fail(str(exc))


@monitor_app.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="the user's name")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    campaign: Annotated[list[str] | None, typer.Option(
        help="a campaign this operator controls (repeat; * for all)")] = None,
    password_file: Annotated[Path | None, typer.Option(
        help="set the password from this file (else token only)")] = None,
    ttl_days: TtlOpt = None,
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """Create or update a user and print a new token for them, once."""
    if role not in ROLES:
        fail(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    config = _config(config_file, redis, prefix, redis_password_file)
    with _store(config) as store:
        users = UserStore(store)
        pw = None
        if password_file:
            pw = hash_password(password_file.read_text().strip(), config.pbkdf2_iterations)
        user = users.put_user(name, role, campaign or [], password_hash=pw)
        token, _ = users.issue_token(user.name, _ttl(ttl_days, config), label="cli")
    print(f"user {user.name} ({user.role}); token (shown once):", file=sys.stderr)
    typer.echo(token)


def _ttl(ttl_days: float | None, config: MonitorConfig) -> float:
    return ttl_days * 86400 if ttl_days else config.token_ttl_s


@monitor_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="the user's name")],
    ttl_days: TtlOpt = None,
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """Issue another token for a user (printed once)."""
    config = _config(config_file, redis, prefix, redis_password_file)
    with _store(config) as store:
        issued, _ = UserStore(store).issue_token(name, _ttl(ttl_days, config), label="cli")
    typer.echo(issued)


@monitor_app.command("users")
def list_users(
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """List users: name, role, campaigns, password or token only."""
    with _store(_config(config_file, redis, prefix, redis_password_file)) as store:
        for u in UserStore(store).list_users():
            typer.echo(f"{u.name}\t{u.role}\t{','.join(u.campaigns) or '-'}\t"
                       f"{'password' if u.has_password else 'token only'}")


@monitor_app.command("remove-user")
def remove_user(
    name: Annotated[str, typer.Argument(help="the user's name")],
    config_file: ConfigOpt = None,
    redis: RedisOpt = None,
    prefix: PrefixOpt = None,
    redis_password_file: RedisPasswordOpt = None,
) -> None:
    """Remove a user and revoke their tokens."""
    with _store(_config(config_file, redis, prefix, redis_password_file)) as store:
        found = UserStore(store).delete_user(name)
    if not found:
        fail(f"no user {name!r} (autopilot monitor users lists them)", ExitCode.FAILED)


@monitor_app.command("hash-password")
def hash_password_command() -> None:
    """Read a password and print its hash, for a users file."""
    config = load_monitor_config()
    typer.echo(hash_password(getpass.getpass("password: "), config.pbkdf2_iterations))


def monitor_main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in (*COMMANDS, "-h", "--help"):
        args.insert(0, "serve")  # `autopilot monitor --redis ...` means serve
    errors: dict[type[BaseException], ExitCode] = {
        StateError: ExitCode.USAGE, **PLANNER_ERRORS, OSError: ExitCode.USAGE}
    return run_app(monitor_app, "monitor", args, errors)


if __name__ == "__main__":
    sys.exit(monitor_main())
