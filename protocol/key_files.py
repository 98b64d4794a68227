"""``autopilot keys``: generate a signing key or a CURVE key pair.

Keys are written to files readable only by their owner; they are never printed or logged.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path


def write_signing_key(path: Path) -> Path:
    """Write 32 random bytes, hex-encoded, to ``path`` with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path


def write_curve_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` (public, share it) and ``NAME.key_secret`` (keep it) to ``directory``."""
    import zmq.auth

    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(directory), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autopilot keys", description=__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    sign = sub.add_parser("signing", help="a shared message-signing key")
    sign.add_argument("path", type=Path)
    curve = sub.add_parser("curve", help="a CURVE key pair (planner or edge)")
    curve.add_argument("directory", type=Path)
    curve.add_argument("name", help="e.g. 'planner' or the edge id")
    args = parser.parse_args(argv)
    if args.kind == "signing":
        print(f"wrote signing key to {write_signing_key(args.path)} (mode 0600)")
    else:
        public, secret = write_curve_keypair(args.directory, args.name)
        print(f"wrote {public} (public) and {secret} (secret, mode 0600)")
    return 0
