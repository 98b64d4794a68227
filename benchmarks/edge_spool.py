"""Edge delivery rate: measurements per second through the durable spool vs without a spool.

All in one run, tcp loopback, signed (the protocol's default scheme). The planner side is a
ROUTER in its own process that decodes, verifies and acks every measurement, as the gateway
does (without storage). The edge side, in this process, streams N measurements with a window
of 32 in flight and waits for the last ack:

  no-spool      send only (what an edge that can lose data would do)
  spool-full    write to the spool (SQLite WAL, synchronous=FULL: fsync per measurement),
                send, delete on ack (acks batched per receive)  <- what the agent does
  spool-normal  the same with synchronous=NORMAL (survives an agent crash, not power loss)
  agent         the whole EdgeAgent (simulated instrument, dwell 0) against the fake planner
                peer in its own process (plans after every measurement): the end-to-end rate

Run: .venv/bin/python benchmarks/edge_spool.py [--n 3000] [--out PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import protocol as p
from benchmarks.machine import print_table, write_result
from edge_agent.spool import Spool
from protocol import transport

KEY = b"benchmark-signing-key-0123456789"
WINDOW = 32


def _acker(port: int, ready: Any, stop: Any) -> None:
    """The planner stand-in: decode (verifying signatures) and ack every measurement."""
    ctx: zmq.Context[Any] = zmq.Context()
    router = transport.make_router(ctx, f"tcp://127.0.0.1:{port}")
    session = p.Session("planner", p.Signer(KEY))
    ready.set()
    while not stop.is_set():
        if not router.poll(50):
            continue
        ids, msg = session.decode(router.recv_multipart(copy=False))
        transport.send(router, session, p.Ack(msg.header.seq), identities=ids,
                       parent=msg.header)
    router.close(linger=0)
    ctx.term()


def stream(mode: str, port: int, n: int, length: int, directory: Path) -> float:
    """Measurements per second for ``n`` spectra of ``length`` float32 values."""
    ctx: zmq.Context[Any] = zmq.Context()
    dealer = transport.make_dealer(ctx, f"tcp://127.0.0.1:{port}", f"edge-{mode}")
    session = p.Session(f"edge-{mode}", p.Signer(KEY))
    spool = None
    if mode != "no-spool":
        spool = Spool(directory / mode, synchronous=mode.split("-")[1].upper())
    rng = np.random.default_rng(0)
    spectra = rng.random((64, length)).astype(np.float32)
    inflight, sent, acked, seq = 0, 0, 0, 0
    start = time.perf_counter()
    while acked < n:
        while sent < n and inflight < WINDOW:
            spectrum = spectra[sent % 64]
            row, col = divmod(sent, 1000)
            if spool is not None:
                item = spool.put("bench", row, col, spectrum)
                seq = item.seq
            else:
                seq = sent
            transport.send(dealer, session, p.Measurement("bench", row, col, spectrum),
                           seq=seq)
            sent += 1
            inflight += 1
        done: list[int] = []
        timeout = 5.0
        while dealer.poll(int(timeout * 1000)):
            _, msg = session.decode(dealer.recv_multipart(copy=False))
            done.append(msg.body.seq)  # type: ignore[attr-defined]
            timeout = 0.0
        if spool is not None:
            spool.ack(done)
        inflight -= len(done)
        acked += len(done)
    elapsed = time.perf_counter() - start
    if spool is not None:
        assert spool.count == 0
        spool.close()
    dealer.close(linger=0)
    ctx.term()
    return n / elapsed


def _fake_planner(endpoint_out: Any, ready: Any, stop: Any) -> None:
    from tests.peers.fake_planner import FakePlanner

    peer = FakePlanner(heartbeat_s=1.0)
    peer.faults(batch=8)
    peer.start()
    endpoint_out.put(peer.endpoint)
    ready.set()
    stop.wait()
    peer.close()


def agent_rate(n: int, directory: Path) -> float:
    """The whole agent: sim instrument (dwell 0) -> spool -> fake planner, until n stored."""
    from edge_agent import EdgeAgent, EdgeConfig

    mp = multiprocessing.get_context("spawn")
    endpoint_q, ready, stop = mp.Queue(), mp.Event(), mp.Event()
    proc = mp.Process(target=_fake_planner, args=(endpoint_q, ready, stop), daemon=True)
    proc.start()
    ready.wait(30)
    endpoint = endpoint_q.get(timeout=5)
    config = EdgeConfig(campaign="bench", planner=endpoint, instrument="sim:loops?size=64",
                        dwell_s=0.0, edge_id="edge-agent", spool=directory / "agent",
                        max_points=n, heartbeat_s=1.0)
    agent = EdgeAgent(config)
    start = time.perf_counter()
    result = agent.run()
    elapsed = time.perf_counter() - start
    stop.set()
    proc.join(10)
    assert result.exit_code == 0, result
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3000, help="measurements per mode")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "edge_spool.json")
    ap.add_argument("--dir", type=Path, default=None, help="spool folder (default: a temp dir)")
    args = ap.parse_args()
    mp = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        ready, stop = mp.Event(), mp.Event()
        with zmq.Context() as probe_ctx:
            probe = probe_ctx.socket(zmq.ROUTER)
            port = probe.bind_to_random_port("tcp://127.0.0.1")
            probe.close(linger=0)
        proc = mp.Process(target=_acker, args=(port, ready, stop), daemon=True)
        proc.start()
        ready.wait(30)
        stream("no-spool", port, 200, 64, directory)  # warm up
        results: dict[str, dict[str, float]] = {}
        for length in (64, 1024):
            rates = {mode: stream(mode, port, args.n, length, directory)
                     for mode in ("no-spool", "spool-full", "spool-normal")}
            base = rates["no-spool"]
            results[f"spectrum_{length}"] = {
                **{f"{m}_per_s": r for m, r in rates.items()},
                **{f"{m}_vs_no_spool": r / base for m, r in rates.items() if m != "no-spool"},
            }
        stop.set()
        proc.join(10)
        agent = agent_rate(min(args.n, 1500), directory)
        fs = os.statvfs(directory) if hasattr(os, "statvfs") else None
    rows = []
    for key, r in results.items():
        rows.append([key.replace("spectrum_", "") + " x f4", f"{r['no-spool_per_s']:.0f}",
                     f"{r['spool-full_per_s']:.0f}", f"{r['spool-full_vs_no_spool']:.0%}",
                     f"{r['spool-normal_per_s']:.0f}"])
    print_table(f"measurements/s, window {WINDOW}, signed, tcp loopback, N={args.n}",
                ["spectrum", "no spool", "spool FULL", "FULL vs none", "spool NORMAL"], rows)
    print_table("whole agent (sim instrument, dwell 0, fake planner process)",
                ["measurements/s"], [[f"{agent:.0f}"]])
    path = write_result(args.out, "edge_spool", {**results, "agent_end_to_end_per_s": agent},
                        n=args.n, window=WINDOW, spool_dir_block_size=fs.f_bsize if fs else None)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
