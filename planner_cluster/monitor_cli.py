"""``autopilot monitor``: serve the dashboard, and manage its users and tokens.

    autopilot monitor --redis URL --bind HOST:PORT [--prefix P] [--users FILE]
    autopilot monitor add-user NAME --role viewer|operator|admin [--campaign ID ...]
                               [--password-file F] [--ttl-days D]   (prints a new token once)
    autopilot monitor token NAME [--ttl-days D]                      (another token)
    autopilot monitor users | remove-user NAME | hash-password       (hash for a users file)
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .config import ConfigError
from .monitor.config import MonitorConfig, load_monitor_config
from .state import StateError, StateStore
from .state.users import ROLES, UserStore, hash_password

log = logging.getLogger(__name__)

COMMANDS = ("serve", "add-user", "token", "users", "remove-user", "hash-password")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file ([monitor] table)")
    common.add_argument("--redis", help="Redis URL of the planner's state")
    common.add_argument("--prefix", help="Redis key prefix (default autopilot)")
    common.add_argument("--redis-password-file", help="file holding the Redis password")
    parser = argparse.ArgumentParser(prog="autopilot monitor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", parents=[common], help="serve the dashboard (default)")
    serve.add_argument("--bind", help="HOST:PORT (default 127.0.0.1:8765)")
    serve.add_argument("--users", help="TOML users file to load at start")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING")
    add = sub.add_parser("add-user", parents=[common], help="create or update a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--campaign", action="append", default=[],
                     help="a campaign this operator controls (repeat; * for all)")
    add.add_argument("--password-file", help="set the password from this file")
    add.add_argument("--ttl-days", type=float, help="token lifetime (default from config)")
    token = sub.add_parser("token", parents=[common], help="issue another token for a user")
    token.add_argument("name")
    token.add_argument("--ttl-days", type=float)
    sub.add_parser("users", parents=[common], help="list users")
    rm = sub.add_parser("remove-user", parents=[common], help="remove a user, revoke tokens")
    rm.add_argument("name")
    sub.add_parser("hash-password", help="read a password, print its hash for a users file")
    return parser


def _config(args: argparse.Namespace) -> MonitorConfig:
    return load_monitor_config(getattr(args, "config", None), overrides={
        "redis_url": getattr(args, "redis", None), "redis_prefix": getattr(args, "prefix", None),
        "redis_password_file": getattr(args, "redis_password_file", None),
        "bind": getattr(args, "bind", None), "users_file": getattr(args, "users", None),
        "log_level": getattr(args, "log_level", None)})


def _store(config: MonitorConfig) -> StateStore:
    if not config.redis_url:
        raise ConfigError("--redis URL is required")
    return StateStore.connect(config.redis_url, config.redis_prefix,
                              password=config.redis_password())


def _serve(config: MonitorConfig) -> int:
    from .monitor.app import MonitorServer

    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = _store(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server = MonitorServer(config, store).start_in_thread()
        log.info("monitor on %s (API docs at /api/docs)", server.url)
        while not stop.wait(1.0):
            if not server.alive:
                log.error("the web server stopped")
                return 1
        server.stop()
    except RuntimeError as exc:
        print(f"autopilot monitor: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def _manage(args: argparse.Namespace, config: MonitorConfig) -> int:
    store = _store(config)
    users = UserStore(store)
    try:
        ttl = args.ttl_days * 86400 if getattr(args, "ttl_days", None) else config.token_ttl_s
        if args.command == "add-user":
            pw = None
            if args.password_file:
                secret = Path(args.password_file).read_text().strip()
                pw = hash_password(secret, config.pbkdf2_iterations)
            user = users.put_user(args.name, args.role, args.campaign, password_hash=pw)
            token, _ = users.issue_token(user.name, ttl, label="cli")
            print(f"user {user.name} ({user.role}); token (shown once):", file=sys.stderr)
            print(token)
        elif args.command == "token":
            token, _ = users.issue_token(args.name, ttl, label="cli")
            print(token)
        elif args.command == "users":
            for u in users.list_users():
                print(f"{u.name}\t{u.role}\t{','.join(u.campaigns) or '-'}\t"
                      f"{'password' if u.has_password else 'token only'}")
        elif args.command == "remove-user":
            if not users.delete_user(args.name):
                print(f"autopilot monitor: no user {args.name!r}", file=sys.stderr)
                return 1
    finally:
        store.close()
    return 0


def monitor_main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    if not args_in or args_in[0] not in (*COMMANDS, "-h", "--help"):
        args_in = ["serve", *args_in]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        _parser().print_help()
        return 0
    try:
        if args.command == "hash-password":
            config = load_monitor_config()
            print(hash_password(getpass.getpass("password: "), config.pbkdf2_iterations))
            return 0
        config = _config(args)
        if args.command == "serve":
            return _serve(config)
        return _manage(args, config)
    except (ConfigError, StateError, OSError) as exc:
        print(f"autopilot monitor: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(monitor_main())
