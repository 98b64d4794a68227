"""Protocol throughput on loopback, against raw pyzmq in the same run.

Measures (issue 2):
  1. 1 MB float32 arrays through our codec (signing off, BLAKE2b, HMAC-SHA256, CURVE+BLAKE2b)
     vs raw pyzmq PUSH/PULL zero-copy of the same bytes (plain and CURVE);
  2. messages per second for a small measurement (64-point spectrum), signed;
  3. round-trip time p50/p99 for measurement -> ack over DEALER/ROUTER, signed.

The sender runs in its own process (as an edge does), the receiver decodes and verifies.
Each 1 MiB case runs twice: end to end (the sender encodes and signs every message, as an
edge does) and receiver-side (the sender cycles through 64 messages encoded beforehand, so
only the planner's receive path adds work to raw pyzmq's; the receiver's replay guard is
renewed each cycle). On this 2-core machine both processes share the cores, so the end-to-end
ratio also pays for the sender's encoding and signing.

Run: .venv/bin/python benchmarks/protocol_throughput.py [--seconds 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import protocol as p
from benchmarks.machine import print_table, write_result
from protocol import transport
from protocol.signing import SCHEMES, ReplayGuard

KEY = b"benchmark-signing-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _curve_keys() -> dict[str, bytes]:
    (spub, ssec), (cpub, csec) = zmq.curve_keypair(), zmq.curve_keypair()
    return {"spub": spub, "ssec": ssec, "cpub": cpub, "csec": csec}


def _signer(mode: str) -> p.Signer:
    scheme = mode.removeprefix("curve-")
    if scheme not in SCHEMES:
        return p.Signer(None)
    return p.Signer(KEY, scheme)


POOL = 64  # messages encoded beforehand in the receiver-side cases


def _sender(mode: str, port: int, keys: dict[str, bytes], nbytes: int,
            stop: Any, pre_encoded: bool) -> None:
    """Runs in its own process, like an edge: sends until told to stop."""
    ctx: zmq.Context[Any] = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.setsockopt(zmq.SNDHWM, 64)
    if "curve" in mode:
        push.curve_publickey, push.curve_secretkey = keys["cpub"], keys["csec"]
        push.curve_serverkey = keys["spub"]
    push.connect(f"tcp://127.0.0.1:{port}")
    payload = np.random.default_rng(0).random(nbytes // 4).astype(np.float32)
    tx = p.Session("edge", _signer(mode))
    body = p.Measurement("c1", 0, 0, payload)
    buf = memoryview(payload.view(np.uint8).data)
    raw = mode.startswith("raw")
    pool = [tx.encode(tx.message(body)) for _ in range(POOL if pre_encoded and not raw else 0)]
    sent = 0
    while not stop.is_set():
        try:
            if raw:
                push.send(buf, copy=False, flags=zmq.NOBLOCK)
            elif pool:
                push.send_multipart(pool[sent % POOL], copy=False, flags=zmq.NOBLOCK)
            else:
                push.send_multipart(tx.encode(tx.message(body)), copy=False, flags=zmq.NOBLOCK)
            sent += 1
        except zmq.Again:
            push.poll(100, zmq.POLLOUT)
    push.close()
    ctx.term()


def stream(mode: str, nbytes: int, seconds: float, *,
           pre_encoded: bool = False) -> dict[str, float]:
    """An edge process streams ``nbytes`` float32 arrays for ``seconds``; this process
    receives and decodes (verifying signatures), as the gateway does.

    mode: raw, raw-curve, unsigned, a signature scheme, or curve-SCHEME.
    pre_encoded: the sender cycles through :data:`POOL` messages encoded beforehand.
    """
    curve = "curve" in mode
    keys = _curve_keys() if curve else {}
    ctx: zmq.Context[Any] = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVHWM, 64)
    if curve:
        pull.curve_server = True
        pull.curve_publickey, pull.curve_secretkey = keys["spub"], keys["ssec"]
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    mp = multiprocessing.get_context("spawn")
    stop = mp.Event()
    proc = mp.Process(target=_sender, args=(mode, port, keys, nbytes, stop, pre_encoded),
                      daemon=True)
    proc.start()
    rx = p.Session("planner", _signer(mode))
    raw = mode.startswith("raw")
    for _ in range(POOL):  # warm up (process start, CURVE handshake, TCP buffers)
        pull.recv_multipart(copy=False)
    count, received, start = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        frames = pull.recv_multipart(copy=False)
        if raw:
            received += len(frames[0].buffer)
        else:
            if pre_encoded and count % POOL == 0:  # the pool comes round again
                rx.replay_guard = ReplayGuard(rx.replay_guard.window_s)
            _, msg = rx.decode(frames)
            received += msg.body.spectrum.nbytes  # type: ignore[attr-defined]
        count += 1
    stop.set()
    proc.join(10)
    pull.close()
    ctx.term()
    return {"msgs_per_s": count / elapsed, "gb_per_s": received / elapsed / 1e9}


def round_trip(seconds: float) -> dict[str, float]:
    """measurement -> ack RTT over DEALER/ROUTER, signed (BLAKE3), one in flight; the
    ROUTER side runs in a thread of this process."""
    ctx: zmq.Context[Any] = zmq.Context()
    port = free_port()
    router = transport.make_router(ctx, f"tcp://127.0.0.1:{port}")
    dealer = transport.make_dealer(ctx, f"tcp://127.0.0.1:{port}", "edge-1")
    edge, planner = (p.Session("edge-1", p.Signer(KEY, "blake3")),
                     p.Session("planner", p.Signer(KEY, "blake3")))
    stop = threading.Event()

    def server() -> None:
        while not stop.is_set():
            if not router.poll(50):
                continue
            ids, msg = planner.decode(router.recv_multipart(copy=False))
            transport.send(router, planner, p.Ack(msg.header.seq), identities=ids,
                           parent=msg.header)

    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    body = p.Measurement("c1", 3, 4, np.random.default_rng(0).random(64).astype(np.float32))
    samples: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        transport.send(dealer, edge, body)
        transport.recv(dealer, edge, timeout_s=5)
        samples.append(time.perf_counter() - t0)
    stop.set()
    thread.join()
    router.close()
    dealer.close()
    ctx.term()
    ms = np.array(samples[10:]) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "n": int(ms.size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "protocol_throughput.json")
    args = ap.parse_args()
    big, small = 1 << 20, 64 * 4  # bytes: a 1 MiB float32 array; a 64-point spectrum

    modes = ("raw", "unsigned", "hmac-sha256", "blake3", "blake2b", "raw-curve", "curve-blake3")
    big_results = {mode: stream(mode, big, args.seconds) for mode in modes}
    rx_results = {mode: stream(mode, big, args.seconds, pre_encoded=True)
                  for mode in modes if not mode.startswith("raw")}
    raw, raw_curve = big_results["raw"]["gb_per_s"], big_results["raw-curve"]["gb_per_s"]
    rows = []
    for mode, r in big_results.items():
        base = raw_curve if "curve" in mode else raw
        r["ratio_to_raw"] = r["gb_per_s"] / base
        rx = rx_results.get(mode)
        if rx is not None:
            rx["ratio_to_raw"] = rx["gb_per_s"] / base
        rows.append([mode, f"{r['gb_per_s']:.2f}", f"{r['ratio_to_raw']:.0%}",
                     f"{rx['gb_per_s']:.2f}" if rx else "-",
                     f"{rx['ratio_to_raw']:.0%}" if rx else "-",
                     "raw-curve" if "curve" in mode else "raw"])
    print_table("1 MiB float32 arrays, tcp loopback",
                ["mode", "end to end GB/s", "vs raw", "receiver-side GB/s", "vs raw", "raw"],
                rows)

    small_results = {mode: stream(mode, small, args.seconds) for mode in
                     ("raw", "unsigned", "hmac-sha256", "blake3")}
    print_table("64-point spectrum (measurement message)", ["mode", "msg/s"],
                [[m, f"{r['msgs_per_s']:.0f}"] for m, r in small_results.items()])

    rtt = round_trip(args.seconds)
    print_table("measurement -> ack round trip, DEALER/ROUTER, signed",
                ["p50 ms", "p99 ms", "n"], [[f"{rtt['p50_ms']:.3f}", f"{rtt['p99_ms']:.3f}",
                                               rtt["n"]]])
    targets = {f"{name}_{label}": results[mode]["ratio_to_raw"] >= bound
               for label, results in (("end_to_end", big_results), ("receiver", rx_results))
               for name, mode, bound in (("unsigned_ge_90pct_raw", "unsigned", 0.9),
                                         ("signed_blake3_ge_50pct_raw", "blake3", 0.5),
                                         ("signed_hmac_ge_50pct_raw", "hmac-sha256", 0.5))}
    print(f"\ntargets: {targets}")
    path = write_result(args.out, "protocol_throughput",
                        {"array_1mib": big_results, "array_1mib_receiver": rx_results,
                         "small_measurement": small_results,
                         "round_trip": rtt, "targets": targets},
                        seconds_per_case=args.seconds)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
