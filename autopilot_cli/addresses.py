"""Checks for the addresses a user types (planner endpoints, Redis URLs), made before any
process starts, so a mistake fails at once with a message instead of a silent wait.

Each check returns what is wrong, or ``None``; the caller raises its own package's error.
"""

from __future__ import annotations

from urllib.parse import urlsplit

ZMQ_SCHEMES = ("tcp", "ipc")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def endpoint_problem(endpoint: str, *, wildcard: bool = False) -> str | None:
    """What is wrong with a ZeroMQ endpoint ``tcp://HOST:PORT`` (``*`` as HOST only when
    ``wildcard``, for a bind) or ``ipc://PATH``; ``None`` if nothing."""
    scheme, sep, rest = endpoint.strip().partition("://")
    if not sep or scheme not in ZMQ_SCHEMES:
        host, colon, port = (rest or endpoint).rpartition(":")
        example = f" (here tcp://{host}:{port}?)" if colon and host and port.isdigit() else ""
        return f"{endpoint!r} is not a ZeroMQ address: write tcp://HOST:PORT{example}"
    if scheme == "ipc":
        return None if rest else f"{endpoint!r} names no socket file after ipc://"
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{endpoint!r} needs a host and a port from 1 to 65535: tcp://HOST:PORT"
    if host == "*" and not wildcard:
        return f"{endpoint!r}: '*' binds every interface; to connect, name the planner's host"
    return None


def endpoints_problem(value: str) -> str | None:
    """What is wrong with a comma-separated list of planner endpoints; ``None`` if nothing."""
    endpoints = [part.strip() for part in value.split(",")]
    if not any(endpoints):
        return "no planner address given: write tcp://HOST:PORT"
    return next((p for p in map(endpoint_problem, endpoints) if p), None)


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL (``redis://``, ``rediss://`` for TLS, ``unix://``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{redact(url)!r} is not a Redis URL ({exc})"
    if parts.scheme not in REDIS_SCHEMES:
        return (f"{redact(url)!r} is not a Redis URL: write redis://HOST:PORT "
                "(rediss:// for TLS)")
    if parts.scheme != "unix" and not parts.hostname:
        return f"{redact(url)!r} names no host: write redis://HOST:PORT"
    if port == 0:
        return f"{redact(url)!r}: port 0 is not a port"
    return None


def redact(url: str) -> str:
    """``url`` without a password (for messages and logs)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
