"""The codec: pure functions between :class:`Message` and a list of ZeroMQ frames.

Frames (docs/protocol.md, "Frames")::

    [identity ...] DELIMITER signature header content buffer ...

Decoding order is fixed so that no untrusted byte is parsed before it is authenticated, and
nothing is allocated from a declared size: frame count and sizes, then the signature, then
the header, then the content, then each array descriptor against its buffer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

from .arrays import Buffer, check_finite, describe, from_descriptor, wire_array
from .errors import (
    ContentError,
    ErrorCode,
    FrameTooLargeError,
    FramingError,
    HeaderError,
    NonFiniteError,
    ProtocolError,
    VersionError,
)
from .ids import ID_RULE, valid_id
from .limits import DEFAULT_LIMITS, Limits
from .messages import Body, Header, Message, body_class, check_value
from .signing import ReplayGuard, Signer
from .version import SUPPORTED_VERSIONS

#: Separates routing identities from the message proper.
DELIMITER = b"<MA|v1>"
_HEADER_FIELDS: dict[str, type] = {
    "version": int, "msg_type": str, "msg_id": str, "sender": str, "session": str,
    "seq": int, "time": float, "parent_id": str,
}


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def _unpack(data: Buffer, what: str, limits: Limits, error: type[ProtocolError]) -> Any:
    def no_ext(code: int, data: bytes) -> Any:
        raise ValueError(f"msgpack extension type {code} is not allowed")

    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True, ext_hook=no_ext,
            max_str_len=limits.max_str_len, max_bin_len=limits.max_content_bytes,
            max_array_len=limits.max_container_len, max_map_len=limits.max_container_len,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.exceptions.ExtraData) as exc:
        raise error(f"{what} is not valid msgpack: {exc}") from None


def encode(message: Message, signer: Signer) -> list[Buffer]:
    """Frames for ``message`` (without routing identities), buffers sent without copying.

    Raises:
        ProtocolError: the body holds a non-finite float or an array that cannot travel.
    """
    content: dict[str, Any] = {}
    buffers: list[Buffer] = []
    body = message.body
    for spec in body._fields:
        value = getattr(body, spec.name)
        if spec.kind is np.ndarray and value is not None:
            arr = wire_array(value)
            check_finite(arr, spec.name)
            content[spec.name] = describe(arr, len(buffers))
            buffers.append(memoryview(arr.reshape(-1).view(np.uint8).data))
        else:
            if isinstance(value, float) and not math.isfinite(value):
                raise NonFiniteError(f"{body.msg_type}.{spec.name} must be finite",
                                     field=spec.name)
            content[spec.name] = value
    h = message.header
    header = _pack({name: getattr(h, name) for name in _HEADER_FIELDS})
    payload: list[Buffer] = [header, _pack(content), *buffers]
    return [DELIMITER, signer.sign(payload), *payload]


def split_identities(frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> int:
    """Index of the delimiter frame: the frames before it are routing identities."""
    for i, frame in enumerate(frames[: limits.max_identities + 1]):
        view = _view(frame)
        if len(view) == len(DELIMITER) and bytes(view) == DELIMITER:
            return i
    raise FramingError(
        f"no protocol delimiter among the first {limits.max_identities + 1} frames "
        "(not a microscope-autopilot v1 message?)"
    )


def _view(frame: Any) -> Buffer:
    """The bytes of a frame as given: bytes, memoryview, or a zmq.Frame (zero-copy)."""
    buf = getattr(frame, "buffer", frame)
    return buf if isinstance(buf, bytes | memoryview) else memoryview(buf)


def decode(
    frames: Sequence[Any],
    signer: Signer,
    *,
    limits: Limits = DEFAULT_LIMITS,
    replay_guard: ReplayGuard | None = None,
) -> tuple[list[bytes], Message]:
    """Parse frames into (routing identities, message), or raise a :class:`ProtocolError`.

    Arrays in the body are read-only views on the received frames.
    """
    if len(frames) > limits.max_identities + 4 + limits.max_buffers:
        raise FramingError(f"{len(frames)} frames is more than any valid message has")
    start = split_identities(frames, limits)
    identities = [bytes(_view(f)) for f in frames[:start]]
    parts = [_view(f) for f in frames[start + 1:]]
    if len(parts) < 3:
        raise FramingError(
            f"expected signature, header and content after the delimiter, got {len(parts)} "
            "frame(s)"
        )
    signature, header_raw, content_raw, buffers = parts[0], parts[1], parts[2], parts[3:]
    try:
        _check_sizes(signature, header_raw, content_raw, buffers, limits)
        signer.verify(signature, parts[1:])
        header = _decode_header(header_raw, limits)
        if replay_guard is not None and signer.enabled:
            replay_guard.check(bytes(signature), header.time)
        cls = body_class(header.msg_type)
        content = _unpack(content_raw, "content", limits, ContentError)
        if not isinstance(content, dict):
            raise ContentError(f"content must be a map, got {type(content).__name__}")
        body = _decode_body(cls, content, list(buffers), limits)
    except ProtocolError as exc:
        if len(header_raw) <= limits.max_header_bytes:
            exc.parent_id, exc.parent_seq = _peek_header(header_raw, limits)
        raise
    return identities, Message(header, body)


def _peek_header(raw: Buffer, limits: Limits) -> tuple[str, int | None]:
    """``msg_id`` and ``seq`` of a refused message's header, if they can be read at all.

    Unauthenticated when the signature was the problem: they are only echoed back so the
    sender can tell which of its messages was refused, never trusted for anything else.
    """
    try:
        data = _unpack(raw, "header", limits, HeaderError)
    except ProtocolError:
        return "", None
    if not isinstance(data, dict):
        return "", None
    msg_id, seq = data.get("msg_id"), data.get("seq")
    msg_id = msg_id if isinstance(msg_id, str) and len(msg_id) <= 64 else ""
    seq = seq if type(seq) is int and 0 <= seq < 2**63 else None
    return msg_id, seq


def _check_sizes(
    signature: Buffer, header: Buffer, content: Buffer, buffers: Sequence[Buffer], limits: Limits
) -> None:
    if len(signature) > 64:
        raise FrameTooLargeError(f"signature frame is {len(signature)} bytes (max 64)")
    if len(header) > limits.max_header_bytes:
        raise FrameTooLargeError(
            f"header frame is {len(header)} bytes (max {limits.max_header_bytes})")
    if len(content) > limits.max_content_bytes:
        raise FrameTooLargeError(
            f"content frame is {len(content)} bytes (max {limits.max_content_bytes})")
    if len(buffers) > limits.max_buffers:
        raise FramingError(f"{len(buffers)} buffer frames (max {limits.max_buffers})")
    total = 0
    for i, buf in enumerate(buffers):
        if len(buf) > limits.max_buffer_bytes:
            raise FrameTooLargeError(
                f"buffer {i} is {len(buf)} bytes (max {limits.max_buffer_bytes})")
        total += len(buf)
    if total > limits.max_total_bytes:
        raise FrameTooLargeError(f"buffers total {total} bytes (max {limits.max_total_bytes})")


def _decode_header(raw: Buffer, limits: Limits) -> Header:
    data = _unpack(raw, "header", limits, HeaderError)
    if not isinstance(data, dict):
        raise HeaderError(f"header must be a map, got {type(data).__name__}")
    version = data.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise VersionError(
            f"protocol version {version!r} is not supported; this side speaks "
            f"{sorted(SUPPORTED_VERSIONS)}",
            version=str(version),
            supported=sorted(SUPPORTED_VERSIONS),
        )
    values: dict[str, Any] = {}
    for name, kind in _HEADER_FIELDS.items():
        if name not in data:
            raise HeaderError(f"header field {name!r} is missing", code=ErrorCode.MISSING_FIELD,
                              field=name)
        value = data[name]
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise HeaderError(
                f"header field {name!r} must be {kind.__name__}, got {type(value).__name__}",
                code=ErrorCode.BAD_FIELD, field=name)
        values[name] = value
    if not math.isfinite(values["time"]):
        raise NonFiniteError("header field 'time' must be finite", field="time")
    if not valid_id(values["sender"]):
        raise HeaderError(f"header field 'sender' {values['sender']!r} is not a valid id "
                          f"({ID_RULE})", code=ErrorCode.BAD_FIELD, field="sender")
    if values["seq"] < 0:
        raise HeaderError("header field 'seq' must be >= 0", code=ErrorCode.BAD_FIELD,
                          field="seq")
    return Header(**values)


def _decode_body(
    cls: type[Body], content: dict[str, Any], buffers: list[Buffer], limits: Limits
) -> Body:
    kwargs: dict[str, Any] = {}
    used: set[int] = set()
    for spec in cls._fields:
        if spec.name not in content:
            if spec.required:
                raise ContentError(f"{cls.msg_type}.{spec.name} is missing",
                                   code=ErrorCode.MISSING_FIELD, field=spec.name)
            kwargs[spec.name] = spec.default
            continue
        value = content[spec.name]
        if spec.kind is np.ndarray and value is not None:
            arr = from_descriptor(value, buffers, used, spec.name, limits)
            check_finite(arr, spec.name)
            kwargs[spec.name] = arr
        else:
            kwargs[spec.name] = check_value(spec, value, cls.msg_type)
    if len(used) != len(buffers):
        raise FramingError(
            f"{len(buffers) - len(used)} buffer frame(s) not referenced by any field")
    return cls(**kwargs)
