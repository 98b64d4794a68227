"""``autopilot keys``: generate a signing key or a CURVE key pair (protocol/key_files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autopilot_cli.app import fail, new_app, run_app
from protocol.key_files import write_curve_keypair, write_signing_key

keys_app = new_app("Generate a signing key or a CURVE key pair; keys go to files readable "
                   "only by their owner and are never printed.")
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="replace an existing key (whoever holds the old one is locked out)")]


@keys_app.command("signing")
def signing(
    path: Annotated[Path, typer.Argument(help="key file to write (mode 0600)")],
    force: ForceOpt = False,
) -> None:
    """A message-signing key shared by the planner and the edges (--signing-key FILE)."""
    try:
        write_signing_key(path, overwrite=force)
    except FileExistsError:
        fail(f"{path} exists; pass --force to replace that key")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote signing key to {path} (mode 0600)")


@keys_app.command("curve")
def curve(
    directory: Annotated[Path, typer.Argument(help="folder for NAME.key and NAME.key_secret")],
    name: Annotated[str, typer.Argument(help="e.g. 'planner' or the edge id")],
    force: ForceOpt = False,
) -> None:
    """A CURVE key pair: NAME.key (public, share it) and NAME.key_secret (keep it)."""
    try:
        public, secret = write_curve_keypair(directory, name, overwrite=force)
    except FileExistsError as exc:
        fail(f"{exc}; pass --force to replace that key pair")
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror}")
    typer.echo(f"wrote {public} (public) and {secret} (secret, mode 0600)")


def keys_main(argv: list[str] | None = None) -> int:
    return run_app(keys_app, "keys", argv)
