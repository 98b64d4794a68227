"""Key files: a shared signing key or a CURVE key pair (``autopilot keys`` writes them).

Keys are written to files readable only by their owner; they are never printed or logged.
An existing key is replaced only when asked (``overwrite``): a key silently replaced on one
side locks the other side out.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_signing_key(path: Path, *, overwrite: bool = False) -> Path:
    """Write 32 random bytes, hex-encoded, to ``path`` with mode 0600.

    Raises :class:`FileExistsError` if ``path`` exists and ``overwrite`` is false.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path


def curve_keypair_paths(directory: Path, name: str) -> tuple[Path, Path]:
    """``NAME.key`` (public, share it) and ``NAME.key_secret`` (keep it) in ``directory``."""
    return directory / f"{name}.key", directory / f"{name}.key_secret"


def write_curve_keypair(directory: Path, name: str, *,
                        overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.key`` and ``NAME.key_secret`` (mode 0600) to ``directory``.

    Raises :class:`FileExistsError` if either exists and ``overwrite`` is false.
    """
    import zmq.auth

    existing = [p for p in curve_keypair_paths(directory, name) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} exists")
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(directory), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)
