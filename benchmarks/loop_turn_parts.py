"""Where a one-edge loop closure's time goes: the parts of a gateway turn, each timed alone.

- the turn's Redis pipeline (:class:`~planner_cluster.state.ingest.Ingest`: replay guard, the
  measurement script, the plan's points checked), one measurement, embedded Redis with AOF
  ``appendfsync always`` and ``everysec``;
- the codec: encode + sign, and decode + verify, of one 64-value measurement;
- a raw ZeroMQ round trip (DEALER -> ROUTER echo on loopback): the floor of any loop closure.

Compare the sum with the loop closure that ``scale.py --edges 1`` measures end to end; what is
left is the gateway's and the client's Python around these parts.

Run: .venv/bin/python benchmarks/loop_turn_parts.py [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import protocol as p  # noqa: E402
from benchmarks.machine import print_table, write_result  # noqa: E402
from planner_cluster.redis_server import RedisServer  # noqa: E402
from planner_cluster.state import StateStore  # noqa: E402
from planner_cluster.state.ingest import Ingest, MeasurementIn  # noqa: E402
from protocol.signing import Signer  # noqa: E402

WARMUP = 50


def timed(fn: Callable[[int], object], n: int) -> dict[str, float]:
    """p50 / p99 in ms of ``fn(i)`` over ``n`` calls, after a warm-up."""
    times = []
    for i in range(n + WARMUP):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    ms = np.array(times[WARMUP:]) * 1000
    return {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99))}


def redis_commit(fsync: str, n: int) -> dict[str, float]:
    with RedisServer(appendonly=True, appendfsync=fsync) as server:
        store = StateStore.connect(server.url, "parts")
        store.create_campaign("c1", edge_id="e", owner="o", config={}, spectral_axis=None)
        ingest = Ingest(store)
        plan = {"c1": np.array([[i, 0] for i in range(16)], np.int32)}
        spectrum = np.ones(64, np.float32)

        def commit(i: int) -> None:
            m = MeasurementIn("c1", "e", "s", i, i % 50, i // 50, spectrum, "plan", 1, 0.0)
            ingest.commit([i.to_bytes(4, "big") * 8], [m], plan)

        try:
            return timed(commit, n)
        finally:
            store.close()


def codec(n: int) -> tuple[dict[str, float], dict[str, float]]:
    signer = Signer(b"k" * 32)
    tx, rx = p.Session("e1", signer), p.Session("gw", signer)
    body = p.Measurement("c1", 1, 2, np.ones(64, np.float32))
    frames: list[list[object]] = []
    encode = timed(lambda i: frames.append(tx.encode(tx.message(body))), n)
    decode = timed(lambda i: rx.decode(frames[i]), n)
    return encode, decode


def raw_zmq(n: int) -> dict[str, float]:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def echo() -> None:
        for _ in range(n + WARMUP):
            router.send_multipart(router.recv_multipart())

    peer = threading.Thread(target=echo)
    peer.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        return timed(lambda i: (dealer.send(b"x" * 400), dealer.recv()), n)
    finally:
        peer.join()
        dealer.close(linger=0)
        router.close(linger=0)
        ctx.term()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="timed calls per part")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/loop_turn_parts.json")
    args = ap.parse_args()
    encode, decode = codec(args.n)
    parts = {"redis pipeline, appendfsync always": redis_commit("always", args.n),
             "redis pipeline, appendfsync everysec": redis_commit("everysec", args.n),
             "encode + sign (64 values)": encode, "decode + verify (64 values)": decode,
             "raw ZeroMQ round trip": raw_zmq(args.n)}
    print_table("Parts of one loop turn, one measurement (ms)", ["part", "p50", "p99"],
                [[k, f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}"] for k, v in parts.items()])
    print(f"wrote {write_result(args.out, 'loop_turn_parts', parts)}")


if __name__ == "__main__":
    main()
