"""Hostile input over real sockets against a real gateway process (``autopilot planner``):
random frames, well-formed messages with wrong contents, huge declared shapes, forged,
unsigned, stale and replayed signatures, unknown campaign ids, one edge writing to another's
campaign, pickle payloads. After every input the gateway answers a valid heartbeat; answers
are error codes (never ``internal``); the victim's campaign is untouched; the gateway
process neither crashes nor grows past a bound.

Inputs come from hypothesis; the tally of inputs tried is printed at the end of the module
and recorded in docs/reliability.md."""

from __future__ import annotations

import json
import os
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol as p
from planner_cluster.redis_server import free_port
from planner_cluster.state import PlanRecord, StateStore
from tests.conftest import wait_for
from tests.unit.protocol.samples import SAMPLES

from .hostile import HostilePeer, Replies
from .stack import KEY, PlannerProcess, rss_kib

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REAL = KEY.encode()
ERROR_CODES = {c.value for c in p.ErrorCode}
#: Examples per hypothesis test; ``benchmarks/faults.py hostile`` raises it for a long run.
N_EXAMPLES = int(os.environ.get("AUTOPILOT_FAULTS_EXAMPLES", "150"))
EXAMPLES = settings(max_examples=N_EXAMPLES, deadline=None, derandomize=N_EXAMPLES <= 150,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
#: The gateway process may grow by this much over its size after start-up, at most.
RSS_BOUND_KIB = 128 * 1024


@dataclass
class Stack:
    planner: PlannerProcess
    store: StateStore
    victim: HostilePeer
    mallory: HostilePeer
    baseline_rss_kib: int
    victim_before: dict[str, Any]
    tried: dict[str, int] = field(default_factory=dict)
    peak_rss_kib: int = 0
    tmp: Path = Path()

    def check(self, kind: str, replies: Replies) -> None:
        """After each input: only error codes we know, never ``internal``, and nothing about
        the victim's campaign reaches mallory."""
        self.tried[kind] = self.tried.get(kind, 0) + 1
        self.peak_rss_kib = max(self.peak_rss_kib, rss_kib(self.planner.pid))
        assert replies.undecodable == 0
        for code in replies.errors:
            assert code in ERROR_CODES, code
            assert code != "internal", f"{kind}: the gateway hit a bug"
        for m in replies.messages:
            assert getattr(m.body, "campaign_id", None) != "victim", (kind, m)


def victim_state(store: StateStore) -> dict[str, Any]:
    record = store.require_campaign("victim")
    return {"count": store.count_measurements("victim"), "status": record.status,
            "config": record.config, "edge": record.edge_id, "owner": record.owner,
            "vetoed": sorted(store.vetoed_points("victim")),
            "measured": sorted(store.measured_points("victim"))}


def start_campaign(peer: HostilePeer, cid: str, n: int, length: int = 8) -> None:
    peer.send(p.Hello(peer.edge_id, {"name": "test"}))
    peer.send(p.CampaignStart(cid, {"owner": peer.edge_id, "seeds": 3},
                              spectral_axis=np.linspace(0, 1, length)))
    peer.send(p.Scan(cid, np.random.default_rng(0).random((10, 12), dtype=np.float32)))
    for i in range(n):
        peer.send(p.Measurement(cid, i, i, np.sin(np.arange(length, dtype=np.float32) + i)))
    replies = peer.drain()
    assert replies.errors == [], replies.errors


@pytest.fixture(scope="module")
def stack(redis_server: Any, local_ray: None,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import ray

    tmp = tmp_path_factory.mktemp("hostile")
    prefix = f"h{uuid.uuid4().hex[:6]}"
    planner = PlannerProcess(redis_url=redis_server.url, prefix=prefix, tmp=tmp,
                             port=free_port(), ray=str(ray.get_runtime_context().gcs_address))
    planner.start()
    store = StateStore.connect(redis_server.url, prefix)
    victim = HostilePeer(planner.endpoint, "alice-edge", REAL)
    mallory = HostilePeer(planner.endpoint, "mallory", REAL)
    try:
        start_campaign(victim, "victim", 4)
        start_campaign(mallory, "m-own", 2)
        s = Stack(planner, store, victim, mallory, rss_kib(planner.pid), victim_state(store),
                  tmp=tmp)
        yield s
        print("\nHOSTILE " + json.dumps({
            "tried": s.tried, "gateway_peak_rss_mib": round(s.peak_rss_kib / 1024, 1),
            "gateway_baseline_rss_mib": round(s.baseline_rss_kib / 1024, 1),
            "gateway_alive": planner.proc is not None and planner.proc.poll() is None}))
    finally:
        victim.close()
        mallory.close()
        campaigns = [c.campaign_id for c in store.list_campaigns()]
        planner.stop()
        for cid in campaigns:
            try:
                ray.kill(ray.get_actor(f"campaign:{prefix}:{cid}", namespace="autopilot"),
                         no_restart=True)
            except ValueError:
                pass
        store.close()


# -- random bytes ----------------------------------------------------------------------


@EXAMPLES
@given(frames=st.lists(st.binary(max_size=200), min_size=1, max_size=24),
       delimited=st.booleans())
def test_random_frames_are_refused(stack: Stack, frames: list[bytes], delimited: bool) -> None:
    if delimited:
        frames = [p.DELIMITER, *frames]
    stack.mallory.send_frames(frames)
    replies = stack.mallory.drain()
    stack.check("random frames", replies)
    assert replies.errors, "every random frame list is refused with an error"


# -- well-formed, validly signed, wrong contents ---------------------------------------

msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)

descriptors = st.fixed_dictionaries({
    "dtype": st.sampled_from(["<f4", "<i4", "|u1", ">f8", "<c8", "|O", "x"]),
    "shape": st.lists(st.integers(-2, 2**40), max_size=7),
    "buffer": st.integers(-1, 3)})

CONTENT_KEYS = ["campaign_id", "row", "col", "spectrum", "image", "points", "scores",
                "action", "args", "config", "resume", "spectral_axis", "seq", "status",
                "code", "state", "stats", "edge_id", "instrument", "versions", "x"]


def sample_content(msg_type: str) -> tuple[dict[str, Any], list[bytes]]:
    """The content map and buffers of the valid sample of ``msg_type``."""
    s = p.Session("x", p.Signer(None))
    frames = [bytes(f) for f in s.encode(s.message(SAMPLES[msg_type]))]
    return msgpack.unpackb(frames[3]), frames[4:]


@EXAMPLES
@given(msg_type=st.sampled_from(sorted(SAMPLES)) | st.text(max_size=8),
       campaign=st.sampled_from(["m-own", "victim", "nope", ""]),
       overrides=st.dictionaries(st.sampled_from(CONTENT_KEYS), msgpack_values | descriptors,
                                 max_size=5),
       header=st.dictionaries(st.sampled_from(["version", "seq", "time", "session",
                                               "parent_id", "sender", "extra"]),
                              msgpack_values, max_size=2),
       buffers=st.none() | st.lists(st.binary(max_size=64), max_size=3))
def test_signed_messages_with_wrong_contents(
        stack: Stack, msg_type: str, campaign: str, overrides: dict[str, Any],
        header: dict[str, Any], buffers: list[bytes] | None) -> None:
    base, real_buffers = sample_content(msg_type) if msg_type in SAMPLES else ({}, [])
    if "campaign_id" in base:
        base["campaign_id"] = campaign
    if msg_type == "control" and campaign != "victim":
        base["action"] = "veto"  # never stop mallory's own campaign: it keeps the checks live
    content = {**base, **overrides}
    frames = stack.mallory.signed_frames(stack.mallory.header(msg_type, **header), content,
                                         real_buffers if buffers is None else buffers)
    stack.mallory.send_frames(frames)
    stack.check("wrong contents", stack.mallory.drain())


# -- huge declared shapes and oversized frames -----------------------------------------

@pytest.mark.parametrize("shape", [[2**40, 2**40], [2**31] * 3, [2**62], [-1, 4], [1] * 7,
                                   [2**20, 2**20, 2**20, 2**20, 2**20, 2**20]])
def test_huge_declared_shapes_allocate_nothing(stack: Stack, shape: list[int]) -> None:
    content = {"campaign_id": "m-own", "row": 0, "col": 0,
               "spectrum": {"dtype": "<f8", "shape": shape, "buffer": 0}}
    m = stack.mallory
    m.send_frames(m.signed_frames(m.header("measurement"), content, [b"\0" * 64]))
    replies = m.drain()
    stack.check("huge shapes", replies)
    assert set(replies.errors) <= {"array_too_large", "bad_shape", "shape_mismatch"}
    assert replies.errors


def test_oversized_frame_is_dropped_before_allocation(stack: Stack) -> None:
    """A frame over the 256 MiB limit: libzmq drops it and the connection, unread."""
    m = HostilePeer(stack.planner.endpoint, "mallory-big", REAL)
    try:
        big = np.zeros(p.DEFAULT_LIMITS.max_buffer_bytes + 1, np.uint8)  # zero pages, lazily
        content = {"campaign_id": "m-own", "row": 0, "col": 0,
                   "spectrum": {"dtype": "|u1", "shape": [big.size], "buffer": 0}}
        m.send_frames([p.DELIMITER, b"\0" * 32, msgpack.packb(m.header("measurement")),
                       msgpack.packb(content), big.data])  # type: ignore[list-item]
        del big
        m.reconnect()
        stack.check("oversized frame", m.drain())
    finally:
        m.close()
    assert rss_kib(stack.planner.pid) < stack.baseline_rss_kib + RSS_BOUND_KIB


# -- signatures ------------------------------------------------------------------------

def test_unsigned_forged_stale_and_replayed_messages_are_refused(stack: Stack) -> None:
    # each peer its own routing identity: two live sockets with one identity take it from
    # each other (ROUTER_HANDOVER) and their replies cross
    unsigned = HostilePeer(stack.planner.endpoint, "mallory-u", None, reader_key=REAL)
    forger = HostilePeer(stack.planner.endpoint, "mallory-f", b"a-guess-at-the-key-0123456789ab",
                         reader_key=REAL)
    try:
        for peer, code in ((unsigned, "missing_signature"), (forger, "bad_signature")):
            for body in (p.Hello(peer.edge_id, {}), p.Measurement("m-own", 0, 1, np.ones(8)),
                         p.Control("victim", "stop"), p.Bye("forged")):
                peer.send(body)
                replies = peer.drain()
                stack.check("unsigned/forged", replies)
                assert replies.errors == [code]
        # a correctly signed message from 10 minutes ago
        m = stack.mallory
        old = m.signed_frames(m.header("heartbeat", time=__import__("time").time() - 600),
                              {"state": "x"}, [])
        m.send_frames(old)
        replies = m.drain()
        stack.check("stale", replies)
        assert replies.errors == ["stale"]
        # the victim's own measurement, captured on the wire and replayed verbatim, twice:
        # from the victim's connection and from mallory's
        v = stack.victim
        msg = v.session.message(p.Measurement("victim", 9, 9, np.full(8, 9.0, np.float32)))
        frames = [bytes(f) for f in v.session.encode(msg)]
        v.send_frames(frames)
        assert v.drain().errors == []
        count = stack.store.count_measurements("victim")
        for peer in (v, m):
            peer.send_frames(frames)
            replies = peer.drain()
            stack.check("replayed", replies)
            assert replies.errors == ["replayed"]
        assert stack.store.count_measurements("victim") == count
    finally:
        unsigned.close()
        forger.close()
    stack.victim_before = victim_state(stack.store)  # the victim stored (9, 9) itself


# -- other edges' campaigns, and campaigns that do not exist ---------------------------

@EXAMPLES
@given(kind=st.sampled_from(["measurement", "scan", "control", "resume"]),
       row=st.integers(0, 60), col=st.integers(0, 60),
       action=st.sampled_from(sorted(p.CONTROL_ACTIONS)))
def test_one_edge_cannot_touch_another_edges_campaign(stack: Stack, kind: str, row: int,
                                                      col: int, action: str) -> None:
    body: p.Body = {
        "measurement": p.Measurement("victim", row, col, np.ones(8, np.float32)),
        "scan": p.Scan("victim", np.ones((row + 1, col + 1), np.float32)),
        "control": p.Control("victim", action, {"points": [[row, col]]}),
        "resume": p.CampaignStart("victim", {"owner": "mallory"}, resume=True),
    }[kind]
    stack.mallory.send(body)
    replies = stack.mallory.drain()
    stack.check("cross-edge", replies)
    assert replies.errors == ["forbidden"]
    assert victim_state(stack.store) == stack.victim_before


@EXAMPLES
@given(cid=st.text(min_size=1, max_size=40).filter(lambda s: s not in ("victim", "m-own")),
       kind=st.sampled_from(["measurement", "scan", "control"]))
def test_unknown_campaigns_are_refused(stack: Stack, cid: str, kind: str) -> None:
    cid = f"unknown-{cid}"
    body: p.Body = {"measurement": p.Measurement(cid, 0, 0, np.ones(8, np.float32)),
                    "scan": p.Scan(cid, np.ones((4, 4), np.float32)),
                    "control": p.Control(cid, "pause")}[kind]
    stack.mallory.send(body)
    replies = stack.mallory.drain()
    stack.check("unknown campaign", replies)
    # an id outside the id rule is refused as a field before any lookup (docs/protocol.md)
    assert replies.errors == ["unknown_campaign" if p.valid_id(cid) else "bad_field"]
    assert stack.store.get_campaign(cid) is None


def test_a_heartbeat_cannot_read_another_edges_plan(stack: Stack) -> None:
    """Campaign "quiet" belongs to alice-edge and has a plan, but no message of hers has gone
    through this gateway process since it started: mallory asks for it in a heartbeat."""
    store = stack.store
    assert store.create_campaign("quiet", edge_id="alice-edge", owner="alice", config={},
                                 spectral_axis=None)
    store.put_plan("quiet", PlanRecord(3, np.array([[1, 2]], np.int32),
                                       np.ones(1, np.float32), "ei", 0.0))
    stack.mallory.send(p.Heartbeat("measuring", "quiet", {"plan_version": -1}))
    replies = stack.mallory.drain()
    stack.check("heartbeat for another edge's campaign", replies)
    leaked = [m for m in replies.messages if getattr(m.body, "campaign_id", None) == "quiet"]
    assert leaked == [], "another edge's plan was sent to mallory"


def test_binary_values_where_the_store_keeps_json_are_refused(stack: Stack) -> None:
    """Found by the long hypothesis run: a binary value in a campaign's config was an
    ``internal`` error (the store keeps configs as JSON); now ``bad_field``."""
    m = stack.mallory
    for body in (p.Hello("mallory", {"name": b"\x00"}),
                 p.CampaignStart("m-bin", {"owner": b"x"}),
                 p.Heartbeat("x", "m-own", {"s": [b"x"]}),
                 p.Control("m-own", "veto", {"points": [], "x": b"x"})):
        m.send(body)
        replies = m.drain()
        stack.check("binary in JSON maps", replies)
        assert replies.errors == ["bad_field"], body
    assert stack.store.get_campaign("m-bin") is None


def test_a_huge_veto_region_is_bounded(stack: Stack) -> None:
    """A veto region far larger than the grid must not make the gateway enumerate it."""
    before = len(stack.store.vetoed_points("m-own"))
    rows, cols = stack.store.require_campaign("m-own").stats["grid"]
    stack.mallory.send(p.Control("m-own", "veto", {"region": [0, 0, 10**9, 10**9]}))
    replies = stack.mallory.drain(timeout_s=20)
    stack.check("veto region", replies)
    assert replies.errors == []
    assert len(stack.store.vetoed_points("m-own")) <= before + rows * cols
    for args in ({"region": [0, 0, "x", 1]}, {"region": [1, 2]}, {"points": [[1, 2, 3]]},
                 {"points": [{"a": 1}]}):
        stack.mallory.send(p.Control("m-own", "veto", args))
        replies = stack.mallory.drain()
        stack.check("veto region", replies)
        assert replies.errors == ["bad_field"], args


# -- pickle ----------------------------------------------------------------------------

class _Payload:
    """Unpickling this creates the marker file: proof that something ran pickle.loads."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_pickle_payloads_from_the_wire_are_never_unpickled(stack: Stack) -> None:
    marker = stack.tmp / "pickle-ran"
    payload = pickle.dumps(_Payload(marker), protocol=pickle.HIGHEST_PROTOCOL)
    m = HostilePeer(stack.planner.endpoint, "pickler", REAL)
    try:
        start_campaign(m, "p-camp", 2, length=len(payload))
        _send_pickles(stack, m, payload)
    finally:
        m.close()
    # the campaign's actor has read the pickle-bearing spectrum from Redis meanwhile
    import ray

    actor = ray.get_actor(f"campaign:{stack.planner.prefix}:p-camp", namespace="autopilot")

    def observed() -> int:
        try:
            status: Any = ray.get(actor.status.remote(), timeout=10)
            return int(status.get("n_observed", 0))
        except ray.exceptions.GetTimeoutError:  # the actor is still starting
            return 0

    wait_for(lambda: observed() >= 3, timeout=120,
             what="the actor to read the pickle-bearing measurement")
    assert not marker.exists(), "a pickle from the wire was loaded"


def _send_pickles(stack: Stack, m: HostilePeer, payload: bytes) -> None:
    # as raw array bytes: stored as bytes, byte for byte
    m.send(p.Measurement("p-camp", 5, 5, np.frombuffer(payload, np.uint8)))
    assert m.drain().errors == []
    stored = [x for x in stack.store.read_measurements("p-camp") if (x.row, x.col) == (5, 5)]
    assert len(stored) == 1 and stored[0].spectrum.tobytes() == payload
    # as the header frame, the content frame, a msgpack binary field, an extension type
    attempts = [
        m.signed_frames(payload, {"state": "x"}, []),  # type: ignore[arg-type]
        m.signed_frames(m.header("heartbeat"), payload, []),
        m.signed_frames(m.header("heartbeat"), {"state": payload, "stats": {"p": payload}},
                        []),
        m.signed_frames(m.header("control"), msgpack.packb(
            {"campaign_id": "p-camp", "action": "veto",
             "args": msgpack.ExtType(1, payload)}), []),
    ]
    for frames in attempts:
        m.send_frames(frames)
        replies = m.drain()
        stack.check("pickle", replies)


def test_no_pickle_loader_in_the_code_that_reads_the_wire() -> None:
    import re

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"\b(c?pickle|cloudpickle|marshal|dill|shelve|jsonpickle)\b|"
                         r"allow_pickle\s*=\s*True|yaml\.(unsafe_)?load\(|torch\.load\(|"
                         r"(?<![.\w])(eval|exec)\(")
    hits = []
    for package in ("protocol", "edge_agent", "planner_cluster"):
        for path in sorted((root / package).rglob("*.py")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert hits == []


# -- afterwards ------------------------------------------------------------------------

def test_after_everything_the_gateway_is_up_and_the_victim_untouched(stack: Stack) -> None:
    assert stack.planner.proc is not None and stack.planner.proc.poll() is None
    replies = stack.victim.drain()
    assert replies.errors == []
    stack.victim.send(p.Measurement("victim", 8, 8, np.full(8, 8.0, np.float32)))
    assert stack.victim.drain().errors == []
    after = victim_state(stack.store)
    assert after["count"] == stack.victim_before["count"] + 1
    assert {k: v for k, v in after.items() if k not in ("count", "measured")} == {
        k: v for k, v in stack.victim_before.items() if k not in ("count", "measured")}
    log = stack.planner.log.read_text(errors="replace")
    assert "gateway bug" not in log and "Traceback" not in log
    assert stack.peak_rss_kib < stack.baseline_rss_kib + RSS_BOUND_KIB
    assert sum(stack.tried.values()) >= 3 * N_EXAMPLES
