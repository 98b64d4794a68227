"""Contract: every registered message type round-trips through the codec, signed or not."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import msgpack
import numpy as np
import pytest

import protocol as p

from .samples import KEY, SAMPLES


def test_every_message_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(p.MESSAGE_TYPES)


def _equal(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool(np.array_equal(a, b)))
    return a == b


@pytest.mark.parametrize("key", [None, KEY], ids=["unsigned", "signed"])
@pytest.mark.parametrize("scheme", ["hmac-sha256", "blake3", "blake2b"])
@pytest.mark.parametrize("msg_type", sorted(SAMPLES))
def test_round_trip(msg_type: str, key: bytes | None, scheme: str) -> None:
    tx = p.Session("edge-1", p.Signer(key, scheme))
    rx = p.Session("planner", p.Signer(key, scheme))
    body = SAMPLES[msg_type]
    sent = tx.message(body)
    identities, got = rx.decode([b"route-id", *tx.encode(sent)])
    assert identities == [b"route-id"]
    assert got.header == sent.header
    assert type(got.body) is type(body)
    for f in fields(body):
        assert _equal(getattr(got.body, f.name), getattr(body, f.name)), f.name


def test_decoded_arrays_are_read_only_views() -> None:
    tx = p.Session("e", p.Signer(None))
    frames = tx.encode(tx.message(SAMPLES["measurement"]))
    _, got = tx.decode(frames)
    spectrum = got.body.spectrum  # type: ignore[attr-defined]
    assert not spectrum.flags.writeable
    assert not spectrum.flags.owndata  # a view on the frame, not a copy


def test_big_endian_and_strided_arrays_travel_as_little_endian_contiguous() -> None:
    tx = p.Session("e", p.Signer(None))
    big = np.arange(20, dtype=">f8")[::2]
    _, got = tx.decode(tx.encode(tx.message(p.Measurement("c", 0, 0, big))))
    assert got.body.spectrum.dtype == np.dtype("<f8")  # type: ignore[attr-defined]
    np.testing.assert_array_equal(got.body.spectrum, big)  # type: ignore[attr-defined]


def test_parent_links_a_reply_to_its_request() -> None:
    s = p.Session("planner", p.Signer(None))
    request = s.message(SAMPLES["measurement"])
    reply = s.message(p.Ack(request.header.seq), parent=request.header)
    _, got = s.decode(s.encode(reply))
    assert got.header.parent_id == request.header.msg_id


def test_seq_is_monotonic_and_can_be_given_for_resends() -> None:
    s = p.Session("e", p.Signer(None))
    seqs = [s.message(p.Bye()).header.seq for _ in range(3)]
    assert seqs == [0, 1, 2]
    resend = s.message(SAMPLES["measurement"], seq=1, session="old-session")
    assert (resend.header.seq, resend.header.session) == (1, "old-session")


def test_the_worked_signing_example_in_the_spec_holds(tmp_path: Path) -> None:
    """docs/protocol.md, section 5: the key file's text is the key, the signature is the raw
    HMAC-SHA256 of the length-prefixed frames."""
    spec = (Path(__file__).parents[3] / "docs" / "protocol.md").read_text()
    key_text = re.search(r"Key file\s+content `([0-9a-f]{64})`", spec)
    signature = re.search(r"=\s+([0-9a-f]{64})\s+\(sent as 32 raw bytes\)", spec)
    assert key_text and signature, "the worked example is missing from the spec"
    header = msgpack.packb({"version": 1, "msg_type": "heartbeat", "msg_id": "0" * 32,
                            "sender": "edge-1", "session": "1" * 32, "seq": 0,
                            "parent_id": "", "time": 1700000000.0})
    content = msgpack.packb({"state": "idle", "campaign_id": None, "stats": {}})
    assert (len(header), len(content)) == (156, 32)
    assert header.hex()[:80] in spec and content.hex() in spec
    key_file = tmp_path / "signing.key"
    key_file.write_text(key_text.group(1) + "\n")
    assert p.Signer.from_file(key_file).sign([header, content]).hex() == signature.group(1)
