"""Edges x latency: how the gateway's ack time grows with the number of edges.

A gateway process (no Ray, no model: its hot path alone) on an embedded Redis with AOF and
``appendfsync always``; N edges, each sending one BEPS-sized spectrum every 1/rate s (open
loop, paced like an instrument, never waiting for the ack) and a heartbeat every 2 s (as the
agent), spread over a few client processes with one DEALER socket per edge. Each edge's
campaign has a plan, so every stored measurement is answered with ack + plan. Reported per N:
ack latency (sent -> ack) p50/p99/max, plan reply p99, measurements acked per second, and
lost (sent, never acked within 10 s of the end).

Run: .venv/bin/python benchmarks/scale.py [--edges 1,4,16] [--rate 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import protocol as p  # noqa: E402
from benchmarks.edge_clients import start_edges  # noqa: E402
from benchmarks.machine import print_table, write_result  # noqa: E402
from planner_cluster.redis_server import RedisServer, free_port  # noqa: E402
from planner_cluster.state import PlanRecord, StateStore  # noqa: E402
from protocol import transport  # noqa: E402

KEY = b"scale-benchmark-signing-key-0123456789"
GRID = (50, 50)
HEARTBEAT_S = 2.0  # the edge agent's default


def _gateway(endpoint: str, redis_url: str, password: str, prefix: str,
             ready: Any, stop: Any) -> None:
    """The gateway in its own process, as ``autopilot planner`` runs it."""
    import asyncio

    from planner_cluster.gateway import Gateway, GatewaySettings

    store = StateStore.connect(redis_url, prefix, password=password)
    gw = Gateway(store, GatewaySettings(bind=endpoint, signer=p.Signer(KEY)))
    loop = asyncio.new_event_loop()
    threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(gw.stop)),
                     daemon=True).start()
    ready.set()
    loop.run_until_complete(gw.serve())


def _edges(endpoint: str, names: list[str], rate: float, seconds: float, out: Any) -> None:
    """Several paced edges in one process: send on schedule, collect acks and plans."""
    edges = start_edges(endpoint, names, KEY, name="scale", config={"seeds": 2},
                        axis=np.arange(64.0), image=np.zeros(GRID, np.float32))
    socks, sessions, poller, by_sock = edges.socks, edges.sessions, edges.poller, edges.by_sock
    spectrum = np.random.default_rng(0).random(64).astype(np.float32)
    sent_at: dict[tuple[str, int], float] = {}
    by_id: dict[str, float] = {}
    acks: list[float] = []
    plans: list[float] = []
    count = {n: 0 for n in names}
    beats = {n: 0 for n in names}
    start = time.perf_counter()
    phase = {n: i / (rate * len(names)) for i, n in enumerate(names)}
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now < end:
            for n in names:
                due = start + phase[n] + count[n] / rate
                if now >= due:
                    r, c = divmod(count[n] % (GRID[0] * GRID[1]), GRID[1])
                    msg = transport.send(socks[n], sessions[n], p.Measurement(n, r, c, spectrum))
                    sent_at[(n, msg.header.seq)] = by_id[msg.header.msg_id] = \
                        time.perf_counter()
                    count[n] += 1
                if now >= start + phase[n] + beats[n] * HEARTBEAT_S:  # as the agent does
                    transport.send(socks[n], sessions[n], p.Heartbeat(
                        "measuring", n, {"plan_version": 1, "measured": count[n]}))
                    beats[n] += 1
        elif not sent_at or now > end + 10:
            break
        for sock, _ in poller.poll(2):
            n = by_sock[sock]
            _, reply = transport.recv(sock, sessions[n], 1)
            if isinstance(reply.body, p.Ack):
                t0 = sent_at.pop((n, reply.body.seq), None)
                if t0 is not None:
                    acks.append(time.perf_counter() - t0)
            elif isinstance(reply.body, p.Plan) and reply.header.parent_id in by_id:
                plans.append(time.perf_counter() - by_id.pop(reply.header.parent_id))
    edges.close()
    out.put({"acks": acks, "plans": plans, "sent": sum(count.values()),
             "lost": len(sent_at)})


def run(edges: int, rate: float, seconds: float, tmp: Path,
        fsync: str = "always") -> dict[str, Any]:
    mp = multiprocessing.get_context("spawn")
    with RedisServer(appendonly=True, appendfsync=fsync,
                     data_dir=tmp / f"redis-{edges}-{fsync}") as redis:
        prefix = f"scale{edges}"
        store = StateStore.connect(redis.url, prefix, password=redis.password)
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        ready, stop = mp.Event(), mp.Event()
        gateway = mp.Process(target=_gateway, args=(endpoint, redis.url, redis.password,
                                                    prefix, ready, stop))
        gateway.start()
        ready.wait(60)
        names = [f"edge-{i}" for i in range(edges)]
        for n in names:  # every campaign has a model plan: each stored point gets a reply
            store.create_campaign(n, edge_id=n, owner="scale", config={},
                                  spectral_axis=None)
            store.put_plan(n, PlanRecord(1, np.argwhere(np.ones(GRID))[-16:].astype(np.int32),
                                         np.ones(16, np.float32), "ei", time.time()))
        queue = mp.Queue()
        groups = [names[i::min(edges, 4)] for i in range(min(edges, 4))]
        clients = [mp.Process(target=_edges, args=(endpoint, g, rate, seconds, queue))
                   for g in groups]
        for c in clients:
            c.start()
        parts = [queue.get(timeout=seconds + 180) for _ in clients]
        for c in clients:
            c.join(30)
        stop.set()
        gateway.join(30)
        stored = sum(store.count_measurements(n) for n in names)
        store.close()
    acks = np.array([x for part in parts for x in part["acks"]]) * 1e3
    plans = np.array([x for part in parts for x in part["plans"]]) * 1e3
    return {"edges": edges, "rate_per_edge": rate, "appendfsync": fsync,
            "sent": sum(x["sent"] for x in parts),
            "acked": int(acks.size), "stored": stored, "lost": sum(x["lost"] for x in parts),
            "ack_p50_ms": float(np.percentile(acks, 50)),
            "ack_p99_ms": float(np.percentile(acks, 99)), "ack_max_ms": float(acks.max()),
            "plan_p99_ms": float(np.percentile(plans, 99)) if plans.size else None,
            "acked_per_s": acks.size / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--edges", default="1,4,16")
    ap.add_argument("--rate", type=float, default=10.0, help="measurements/s per edge")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fsync", default="always",
                    help="Redis appendfsync (always: an ack means on disk; everysec: to "
                         "see what the disk costs)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        rows = [run(int(e), args.rate, args.seconds, Path(tmpdir), args.fsync)
                for e in args.edges.split(",")]
    print_table(f"Edges x latency: {args.rate:g} measurements/s per edge, {args.seconds:g} s, "
                f"gateway + Redis (appendfsync {args.fsync})",
                ["edges", "sent", "stored", "lost", "ack p50 ms", "ack p99 ms", "ack max ms",
                 "plan p99 ms", "acked/s"],
                [[r["edges"], r["sent"], r["stored"], r["lost"], f"{r['ack_p50_ms']:.2f}",
                  f"{r['ack_p99_ms']:.2f}", f"{r['ack_max_ms']:.2f}",
                  f"{r['plan_p99_ms']:.2f}" if r["plan_p99_ms"] is not None else "-",
                  f"{r['acked_per_s']:.0f}"] for r in rows])
    targets = {"lost_0": all(r["lost"] == 0 for r in rows),
               "ack_p99_le_50ms_at_16": all(r["ack_p99_ms"] <= 50 for r in rows
                                            if r["edges"] >= 16)}
    print(f"\ntargets: {targets}")
    print(f"wrote {write_result(args.out, 'scale', {'rows': rows, 'targets': targets})}")


if __name__ == "__main__":
    main()
