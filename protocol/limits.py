"""Size limits, checked before anything is parsed or allocated."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what a receiver accepts.

    ``max_buffer_bytes`` is also set as ZeroMQ's ``MAXMSGSIZE`` by the socket helpers, so an
    oversized frame is dropped by libzmq before Python ever sees it.
    """

    max_header_bytes: int = 4096
    max_content_bytes: int = 1 * MiB
    max_buffer_bytes: int = 256 * MiB
    max_buffers: int = 16
    max_total_bytes: int = 512 * MiB
    max_ndim: int = 6
    max_identities: int = 4
    max_str_len: int = 64 * 1024
    max_container_len: int = 100_000

    @property
    def max_frame_bytes(self) -> int:
        return max(self.max_header_bytes, self.max_content_bytes, self.max_buffer_bytes)


DEFAULT_LIMITS = Limits()
