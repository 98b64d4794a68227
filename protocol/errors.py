"""One error tree for the wire format.

Every error a peer can cause carries a machine-readable :class:`ErrorCode` that travels in
``error`` replies, and a human message that says exactly what was wrong. Anything else raised
while decoding is a bug.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """Machine-readable error codes (docs/protocol.md, "Error codes")."""

    # framing and size
    MALFORMED_FRAMES = "malformed_frames"
    FRAME_TOO_LARGE = "frame_too_large"
    # header and content
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_MSG_TYPE = "unknown_msg_type"
    MALFORMED_HEADER = "malformed_header"
    MALFORMED_CONTENT = "malformed_content"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    NON_FINITE = "non_finite"
    # arrays
    BAD_DTYPE = "bad_dtype"
    BAD_SHAPE = "bad_shape"
    SHAPE_MISMATCH = "shape_mismatch"
    ARRAY_TOO_LARGE = "array_too_large"
    # authentication
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"
    STALE = "stale"
    # application-level codes the planner answers with (defined here so both sides share them)
    NOT_WELCOMED = "not_welcomed"
    UNKNOWN_CAMPAIGN = "unknown_campaign"
    FORBIDDEN = "forbidden"
    OUT_OF_BOUNDS = "out_of_bounds"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    # spec 1.1
    SCAN_REQUIRED = "scan_required"
    CAMPAIGN_ENDED = "campaign_ended"
    NO_CAPACITY = "no_capacity"


class ProtocolError(Exception):
    """Root of every wire-format error.

    Attributes:
        code: the machine-readable code sent in ``error`` replies.
        message: what was wrong, for a human.
        detail: structured context (field name, sizes, ...), msgpack-serialisable.
        parent_id / parent_seq: ``msg_id`` and ``seq`` of the refused message, read from
            its header even when the message was refused (``""`` / None when the header
            itself could not be read), so the ``error`` reply names what it answers.
    """

    code: ErrorCode = ErrorCode.MALFORMED_FRAMES
    parent_id: str = ""
    parent_seq: int | None = None

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, **detail: Any
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message}"


class FramingError(ProtocolError, ValueError):
    """Missing, extra or truncated frames."""

    code = ErrorCode.MALFORMED_FRAMES


class FrameTooLargeError(ProtocolError, ValueError):
    """A frame is over its size limit (checked before it is parsed)."""

    code = ErrorCode.FRAME_TOO_LARGE


class VersionError(ProtocolError, ValueError):
    """The peer speaks a protocol version this side does not support."""

    code = ErrorCode.UNSUPPORTED_VERSION


class UnknownMessageTypeError(ProtocolError, ValueError):
    code = ErrorCode.UNKNOWN_MSG_TYPE


class HeaderError(ProtocolError, ValueError):
    code = ErrorCode.MALFORMED_HEADER


class ContentError(ProtocolError, ValueError):
    """Content is not a valid msgpack map, or a field is missing or of the wrong type."""

    code = ErrorCode.MALFORMED_CONTENT


class NonFiniteError(ProtocolError, ValueError):
    """NaN or infinity where the spec requires finite values."""

    code = ErrorCode.NON_FINITE


class ArrayError(ProtocolError, ValueError):
    """An array descriptor disagrees with the whitelist, the limits or its buffer."""

    code = ErrorCode.BAD_SHAPE


class AuthenticationError(ProtocolError, PermissionError):
    """Missing, forged, replayed or stale signature."""

    code = ErrorCode.BAD_SIGNATURE


class RemoteError(ProtocolError):
    """An ``error`` reply received from the peer, raised on this side."""

    def __init__(self, code: ErrorCode | str, message: str, **detail: Any) -> None:
        try:
            parsed = ErrorCode(code)
        except ValueError:
            parsed = ErrorCode.INTERNAL
            detail.setdefault("remote_code", str(code))
        super().__init__(message, code=parsed, **detail)


class TransportError(ProtocolError, ConnectionError):
    """The link failed: timeout, peer gone, socket closed."""

    code = ErrorCode.UNAVAILABLE
