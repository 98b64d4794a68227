"""Property-based fuzzing: any frame list decodes to a valid message or a ProtocolError."""

from __future__ import annotations

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol as p

from . import forge
from .samples import KEY, SAMPLES

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _decode_or_protocol_error(frames: list[bytes], signer: p.Signer) -> None:
    try:
        _, msg = p.decode(frames, signer)
    except p.ProtocolError as exc:
        assert exc.code in p.ErrorCode
        assert exc.message
    else:
        assert type(msg.body) is p.MESSAGE_TYPES[msg.msg_type]


@SETTINGS
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_frames(frames: list[bytes]) -> None:
    _decode_or_protocol_error(frames, p.Signer(None))
    _decode_or_protocol_error([p.DELIMITER, *frames], p.Signer(None))


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(
    msg_type=st.sampled_from(sorted(SAMPLES)) | st.text(max_size=8),
    overrides=st.dictionaries(
        st.sampled_from(["campaign_id", "row", "col", "spectrum", "image", "points",
                         "scores", "action", "config", "seq", "status", "code", "x"]),
        msgpack_values | st.fixed_dictionaries({
            "dtype": st.sampled_from(["<f4", "<i4", "|u1", ">f8", "<c8", "x"]),
            "shape": st.lists(st.integers(-2, 2**40), max_size=7),
            "buffer": st.integers(-1, 3)}),
        max_size=6),
    buffers=st.lists(st.binary(max_size=64), max_size=3),
)
def test_well_formed_messages_with_wrong_contents(
    msg_type: str, overrides: dict[str, object], buffers: list[bytes]
) -> None:
    """Valid signature and header, contents drawn from anything msgpack can say."""
    signer = p.Signer(KEY)
    content = dict(forge.measurement_content(), **overrides)
    _decode_or_protocol_error(
        forge.frames(signer, forge.header(msg_type), content, buffers), signer)


@SETTINGS
@given(
    msg_type=st.sampled_from(sorted(SAMPLES)),
    data=st.data(),
)
def test_mutated_valid_messages(msg_type: str, data: st.DataObject) -> None:
    """Flip, cut, drop, duplicate or splice frames of real encoded messages."""
    signer = p.Signer(None)
    s = p.Session("e", signer)
    frames = [bytes(f) for f in s.encode(s.message(SAMPLES[msg_type]))]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frames) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "drop", "dup", "insert"]))
        f = frames[i]
        if op == "flip" and f:
            j = data.draw(st.integers(0, len(f) - 1))
            frames[i] = f[:j] + bytes([f[j] ^ data.draw(st.integers(1, 255))]) + f[j + 1:]
        elif op == "cut":
            frames[i] = f[: data.draw(st.integers(0, len(f)))]
        elif op == "drop" and len(frames) > 1:
            frames.pop(i)
        elif op == "dup":
            frames.insert(i, f)
        elif op == "insert":
            frames.insert(i, msgpack.packb(data.draw(msgpack_values)))
    _decode_or_protocol_error(frames, signer)
