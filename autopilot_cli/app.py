"""How every ``autopilot`` subcommand is built and run (typer, for the edge too).

A mistake is one line on stderr naming the command, what is wrong and what to do, and an
:class:`~autopilot_cli.exit_codes.ExitCode`; never a traceback. Commands raise
:class:`CommandError` (or call :func:`fail`); usage errors from parsing are reworded to the
same one line.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

import typer

from autopilot_cli.exit_codes import ExitCode


class CommandError(Exception):
    """A mistake or failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    raise CommandError(message, code)


def new_app(help_text: str, **kwargs: Any) -> typer.Typer:
    """A typer app in the house style: no shell-completion options, help on ``-h`` too."""
    return typer.Typer(add_completion=False, help=help_text,
                       context_settings={"help_option_names": ["-h", "--help"]}, **kwargs)


def describe(exc: BaseException) -> str:
    """An exception in one line for a person: its message, and the file an OSError names."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}{f': {exc.filename}' if exc.filename else ''}"
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) else str(exc)


def run_app(app: typer.Typer, name: str, argv: list[str] | None,
            errors: Mapping[type[BaseException], ExitCode] | None = None) -> int:
    """Run a typer app without ``sys.exit`` and return its exit code.

    ``errors`` maps the exceptions a command may raise for a person's mistake or a failure
    outside the program (a bad config, an unreachable server) to exit codes, checked in order;
    they are reported in one line like :class:`CommandError`. Anything else is a bug and keeps
    its traceback. With ``standalone_mode=False`` typer returns codes instead of exiting and
    raises usage errors as its own (vendored) click exceptions, recognised by their interface.
    """
    try:
        code = app(args=sys.argv[1:] if argv is None else argv, prog_name=f"autopilot {name}",
                   standalone_mode=False)
    except CommandError as exc:
        print(f"autopilot {name}: {exc.message}", file=sys.stderr)
        return int(exc.code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return ExitCode.INTERRUPTED
    except Exception as exc:
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if not (callable(message) and isinstance(exit_code, int)):
            known = next((c for kind, c in (errors or {}).items() if isinstance(exc, kind)), None)
            if known is None:
                raise
            print(f"autopilot {name}: {describe(exc)}", file=sys.stderr)
            return int(known)
        context = getattr(exc, "ctx", None)
        where = getattr(context, "command_path", None) or f"autopilot {name}"
        print(f"{where}: {message()} (`{where} --help` lists the options)", file=sys.stderr)
        return exit_code
    return int(code) if isinstance(code, int) else 0


def stop_signals() -> list[signal.Signals]:
    """SIGTERM (systemd, kill, a container's stop) and, on Windows, SIGBREAK (Ctrl-Break)."""
    return [signal.SIGTERM, *([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])]


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within the block a stop signal (SIGTERM, SIGBREAK) does what Ctrl-C does at that
    moment: SIGINT's current handler runs, or :class:`KeyboardInterrupt` is raised, so one
    cleanup path stops what the command started."""

    def like_ctrl_c(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored or left to the system: a stop must still stop
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, like_ctrl_c) for sig in stop_signals()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

def setup_logging(level: str) -> None:
    """Log to stderr at ``level`` (the entry point's choice; modules only get loggers)."""
    import logging

    try:
        logging.basicConfig(level=level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except ValueError:
        fail(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
