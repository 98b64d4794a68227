"""One named test per malformed-input case (issue 2): each raises a specific ProtocolError
with a code and a message that says what was wrong."""

from __future__ import annotations

import math
import tracemalloc

import msgpack
import numpy as np
import pytest

import protocol as p
from protocol import ErrorCode
from protocol.arrays import check_finite

from . import forge
from .samples import KEY

SIGNER = p.Signer(KEY)


def decode(frames: list[bytes], signer: p.Signer = SIGNER, **kw: object) -> p.Message:
    return p.decode(frames, signer, **kw)[1]  # type: ignore[arg-type]


def expect(code: ErrorCode, frames: list[bytes], match: str, **kw: object) -> p.ProtocolError:
    with pytest.raises(p.ProtocolError, match=match) as info:
        decode(frames, **kw)
    assert info.value.code is code
    return info.value


def good() -> list[bytes]:
    return forge.frames(SIGNER, forge.header(), forge.measurement_content())


def test_the_forged_baseline_is_valid() -> None:
    msg = decode(good())
    assert isinstance(msg.body, p.Measurement)


# -- truncated or missing frames ------------------------------------------------------------

def test_truncated_frames_after_delimiter() -> None:
    expect(ErrorCode.MALFORMED_FRAMES, good()[:3], "expected signature, header and content")


def test_missing_delimiter() -> None:
    expect(ErrorCode.MALFORMED_FRAMES, good()[1:], "no protocol delimiter")


def test_missing_buffer_frame() -> None:
    expect(ErrorCode.BAD_SHAPE, forge.frames(SIGNER, forge.header(), forge.measurement_content(),
                                             buffers=[]), "buffer index 0 out of range")


def test_unreferenced_extra_buffer() -> None:
    expect(ErrorCode.MALFORMED_FRAMES, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(), buffers=[b"\0" * 16, b"x"]),
        "not referenced")


def test_too_many_frames() -> None:
    expect(ErrorCode.MALFORMED_FRAMES, good() + [b""] * 40, "more than any valid message")


# -- unknown type or version ----------------------------------------------------------------

def test_unknown_msg_type() -> None:
    err = expect(ErrorCode.UNKNOWN_MSG_TYPE,
                 forge.frames(SIGNER, forge.header("teleport"), {}), "unknown msg_type 'teleport'")
    assert err.detail["msg_type"] == "teleport"


def test_unsupported_protocol_version() -> None:
    err = expect(ErrorCode.UNSUPPORTED_VERSION,
                 forge.frames(SIGNER, forge.header(version=2), forge.measurement_content()),
                 "protocol version 2 is not supported")
    assert err.detail["supported"] == [1]


# -- missing or wrong-typed fields ----------------------------------------------------------

def test_missing_content_field() -> None:
    content = forge.measurement_content()
    del content["row"]
    err = expect(ErrorCode.MISSING_FIELD, forge.frames(SIGNER, forge.header(), content),
                 r"measurement\.row is missing")
    assert err.detail["field"] == "row"


def test_wrong_typed_content_field() -> None:
    expect(ErrorCode.BAD_FIELD, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(row="3")),
        r"measurement\.row must be int, got str")


def test_bool_is_not_an_int() -> None:
    expect(ErrorCode.BAD_FIELD, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(col=True)), "must be int, got bool")


def test_missing_header_field() -> None:
    head = forge.header()
    del head["seq"]
    expect(ErrorCode.MISSING_FIELD, forge.frames(SIGNER, head, forge.measurement_content()),
           "header field 'seq' is missing")


def test_wrong_typed_header_field() -> None:
    expect(ErrorCode.BAD_FIELD, forge.frames(
        SIGNER, forge.header(seq="0"), forge.measurement_content()),
        "header field 'seq' must be int")


def test_semantic_field_check() -> None:
    expect(ErrorCode.BAD_FIELD, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(row=-1)), "must be >= 0")


def test_content_not_msgpack() -> None:
    expect(ErrorCode.MALFORMED_CONTENT, forge.frames(SIGNER, forge.header(), b"\xc1\xc1"),
           "content is not valid msgpack")


def test_content_not_a_map() -> None:
    expect(ErrorCode.MALFORMED_CONTENT, forge.frames(SIGNER, forge.header(), msgpack.packb([1])),
           "content must be a map")


def test_msgpack_extension_types_are_refused() -> None:
    ext = msgpack.packb({"campaign_id": msgpack.ExtType(1, b"x")})
    expect(ErrorCode.MALFORMED_CONTENT, forge.frames(SIGNER, forge.header(), ext),
           "not valid msgpack")


# -- arrays ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [">f4", "|O", "<M8[s]", "|S4", "<V8", 7])
def test_dtype_outside_whitelist(dtype: object) -> None:
    spectrum = {"dtype": dtype, "shape": [4], "buffer": 0}
    expect(ErrorCode.BAD_DTYPE, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(spectrum=spectrum)), "is not allowed")


def test_shape_disagrees_with_buffer_length() -> None:
    spectrum = {"dtype": "<f4", "shape": [5], "buffer": 0}
    expect(ErrorCode.SHAPE_MISMATCH, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(spectrum=spectrum)),
        r"needs 20 bytes, buffer 0 has 16")


def test_huge_declared_shape_allocates_nothing() -> None:
    spectrum = {"dtype": "<f8", "shape": [2**40, 2**40, 2**40], "buffer": 0}
    frames = forge.frames(SIGNER, forge.header(), forge.measurement_content(spectrum=spectrum))
    tracemalloc.start()
    try:
        expect(ErrorCode.ARRAY_TOO_LARGE, frames, "exceeds the")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("shape", [[-1], [1.5], "4", [1] * 7])
def test_bad_shape(shape: object) -> None:
    spectrum = {"dtype": "<f4", "shape": shape, "buffer": 0}
    expect(ErrorCode.BAD_SHAPE, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(spectrum=spectrum)), "shape must be")


def test_one_buffer_used_twice() -> None:
    content = forge.measurement_content()
    frames = forge.frames(SIGNER, forge.header("plan"), {
        "campaign_id": "c", "model_version": 1,
        "points": {"dtype": "<i4", "shape": [2, 2], "buffer": 0},
        "scores": {"dtype": "<f4", "shape": [4], "buffer": 0}})
    del content
    expect(ErrorCode.BAD_SHAPE, frames, "used twice")


# -- NaN where forbidden --------------------------------------------------------------------

def test_nan_in_spectrum() -> None:
    spectrum = np.array([1.0, math.nan, 2.0, 3.0], dtype="<f4").tobytes()
    err = expect(ErrorCode.NON_FINITE, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(), buffers=[spectrum]),
        r"'spectrum' holds 1 non-finite value\(s\), first at \(1,\)")
    assert err.detail["count"] == 1


def test_infinity_in_float64_spectrum_that_overflows_the_sum() -> None:
    values = np.array([1e308, 1e308, math.inf, 0.0], dtype="<f8")
    content = forge.measurement_content(spectrum={"dtype": "<f8", "shape": [4], "buffer": 0})
    expect(ErrorCode.NON_FINITE, forge.frames(SIGNER, forge.header(), content,
                                              buffers=[values.tobytes()]), "first at \\(2,\\)")


def test_large_finite_float64_values_pass() -> None:
    values = np.array([1e308, 1e308, -1e308, 0.0], dtype="<f8")
    content = forge.measurement_content(spectrum={"dtype": "<f8", "shape": [4], "buffer": 0})
    decode(forge.frames(SIGNER, forge.header(), content, buffers=[values.tobytes()]))


def test_nan_in_float_field() -> None:
    expect(ErrorCode.NON_FINITE, forge.frames(
        SIGNER, forge.header(), forge.measurement_content(dwell_s=math.nan)),
        r"measurement\.dwell_s must be finite")


def test_nan_nested_in_a_map() -> None:
    content = {"campaign_id": "c1", "config": {"budget": {"dose": math.inf}}}
    expect(ErrorCode.NON_FINITE, forge.frames(SIGNER, forge.header("campaign_start"), content,
                                              buffers=[]), "non-finite")


def test_nan_header_time() -> None:
    expect(ErrorCode.NON_FINITE, forge.frames(
        SIGNER, forge.header(time=math.nan), forge.measurement_content()), "'time' must be finite")


@pytest.mark.parametrize("dtype", ["<f4", "<f8", ">f4", "<f2", "<c8"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("size", [7, 5000, 300_000])
def test_a_single_non_finite_value_anywhere_in_a_large_array(dtype: str, bad: float,
                                                             size: int) -> None:
    values = np.random.default_rng(size).random(size).astype(dtype)
    for where in (0, size // 2, size - 1):
        spoiled = values.copy()
        spoiled[where] = bad
        expected = rf"1 non-finite value\(s\), first at \({where},\)"
        with pytest.raises(p.NonFiniteError, match=expected):
            check_finite(spoiled, "spectrum")
    check_finite(values, "spectrum")


def test_huge_finite_values_are_not_mistaken_for_infinity() -> None:
    check_finite(np.full(10_000, 3e38, np.float32), "spectrum")  # x.x overflows; all finite
    check_finite(np.full(10_000, -1e300), "spectrum")


def test_encoder_refuses_nan_too() -> None:
    s = p.Session("e", SIGNER)
    with pytest.raises(p.NonFiniteError):
        s.encode(s.message(p.Measurement("c", 0, 0, np.array([np.nan]))))


# -- signatures -----------------------------------------------------------------------------

def test_missing_signature() -> None:
    frames = good()
    frames[1] = b""
    expect(ErrorCode.MISSING_SIGNATURE, frames, "not signed")


def test_bad_signature() -> None:
    frames = good()
    frames[1] = bytes(32)
    expect(ErrorCode.BAD_SIGNATURE, frames, "does not match")


def test_signature_from_another_key() -> None:
    frames = forge.frames(p.Signer(b"another key of 32 bytes........."), forge.header(),
                          forge.measurement_content())
    expect(ErrorCode.BAD_SIGNATURE, frames, "does not match")


def test_tampered_buffer_breaks_the_signature() -> None:
    frames = good()
    frames[-1] = b"\1" + frames[-1][1:]
    expect(ErrorCode.BAD_SIGNATURE, frames, "does not match")


def test_bytes_moved_across_frames_break_the_signature() -> None:
    frames = good()
    frames[3], frames[4] = frames[3] + frames[4][:1], frames[4][1:]
    expect(ErrorCode.BAD_SIGNATURE, frames, "does not match")


def test_replayed_signature() -> None:
    guard = p.ReplayGuard()
    frames = good()
    decode(frames, replay_guard=guard)
    expect(ErrorCode.REPLAYED, frames, "replay", replay_guard=guard)


def test_stale_message_outside_window() -> None:
    frames = forge.frames(SIGNER, forge.header(time=1.0), forge.measurement_content())
    expect(ErrorCode.STALE, frames, "outside the 300 s replay window",
           replay_guard=p.ReplayGuard())


def test_signed_message_to_an_unsigned_receiver() -> None:
    expect(ErrorCode.BAD_SIGNATURE, good(), "signing disabled", signer=p.Signer(None))


# -- sizes ----------------------------------------------------------------------------------

def test_oversized_buffer_frame() -> None:
    limits = p.Limits(max_buffer_bytes=1024)
    frames = forge.frames(SIGNER, forge.header(), forge.measurement_content(),
                          buffers=[bytes(2048)])
    expect(ErrorCode.FRAME_TOO_LARGE, frames, "buffer 0 is 2048 bytes", limits=limits)


def test_oversized_header_frame() -> None:
    frames = forge.frames(SIGNER, forge.header(sender="x" * 5000), forge.measurement_content())
    expect(ErrorCode.FRAME_TOO_LARGE, frames, "header frame is")


def test_oversized_content_frame() -> None:
    limits = p.Limits(max_content_bytes=100)
    frames = forge.frames(SIGNER, forge.header(),
                          forge.measurement_content(campaign_id="c" * 200))
    expect(ErrorCode.FRAME_TOO_LARGE, frames, "content frame is", limits=limits)


def test_error_str_names_code() -> None:
    err = p.ContentError("x is missing", code=ErrorCode.MISSING_FIELD)
    assert str(err) == "[missing_field] x is missing"
    assert isinstance(err, ValueError)
