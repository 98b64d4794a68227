"""Loop closure, microscope idle fraction and ingest throughput of the running planner.

Everything real and on loopback: an embedded Redis server, a local Ray, the planner service
(gateway + campaign actors), and edges speaking the signed protocol.

0. First measurement: a new campaign's scan sent -> its first plan received -> the first
   measurement acked, before its actor has started (the gateway's seed plan). Target 0.5 s.
1. Loop closure: time from an edge sending a measurement to it receiving the plan reply,
   p50/p99, while the campaign's actor trains a small and then a large DKL (the gateway does
   no model work, so the figure should not depend on model size). Target p99 <= 5 ms.
2. Idle fraction: a real edge agent process on the BEPS replay at 0.5 s dwell; idle time is
   the time between measurements beyond the dwell. In the same run, the published
   sequential workflow (retrain from scratch, rank, then measure) is timed on the same
   points with the same model. Target <= 5 %.
3. Throughput: measurements/s stored and acknowledged with 1, 4 and 16 edge processes.

Run: .venv/bin/python benchmarks/loop_latency.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import protocol as p  # noqa: E402
from benchmarks.machine import print_table, write_result  # noqa: E402
from edge_agent.instruments.datasets import load_beps  # noqa: E402
from planner_cluster.config import PlannerConfig  # noqa: E402
from planner_cluster.redis_server import RedisServer, free_port  # noqa: E402
from planner_cluster.service import PlannerService  # noqa: E402
from planner_cluster.state import StateStore  # noqa: E402
from protocol import transport  # noqa: E402

KEY = b"loop-latency-benchmark-key-0123456789"
MODELS = {"small": {"hidden": [32, 16]}, "large": {"hidden": [512, 256, 128]}}


class Client:
    """A protocol-level edge: enough to drive the gateway without an instrument."""

    def __init__(self, endpoint: str, edge_id: str) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = transport.make_dealer(self.ctx, endpoint, edge_id)
        self.session = p.Session(edge_id, p.Signer(KEY))
        self.edge_id = edge_id

    def request(self, body: p.Body, reply: type[p.Body]) -> p.Message:
        sent = transport.send(self.sock, self.session, body)
        while True:
            _, msg = transport.recv(self.sock, self.session, 30)
            if msg.header.parent_id == sent.header.msg_id and isinstance(msg.body, reply):
                return msg
            if isinstance(msg.body, p.Error) and msg.header.parent_id == sent.header.msg_id:
                raise RuntimeError(f"refused: {msg.body}")

    def start(self, campaign: str, image: np.ndarray[Any, Any], axis: np.ndarray[Any, Any],
              config: dict[str, Any]) -> None:
        self.request(p.Hello(self.edge_id, {"name": "bench"}), p.Welcome)
        self.request(p.CampaignStart(campaign, config, spectral_axis=axis), p.Ack)
        self.request(p.Scan(campaign, image), p.Ack)

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def first_measurement(endpoint: str, data: Any) -> dict[str, float]:
    """Scan sent -> first plan received -> first measurement acked, for a new campaign whose
    actor has not started (the plan is the gateway's seed plan when it comes first)."""
    client = Client(endpoint, "first")
    client.request(p.Hello("first", {"name": "bench"}), p.Welcome)
    client.request(p.CampaignStart("first", {"scalarizer": "loop_area", "seeds": 3},
                                   spectral_axis=data.axis), p.Ack)
    t0 = time.perf_counter()
    client.request(p.Scan("first", data.image), p.Ack)
    scan_acked = time.perf_counter() - t0
    while True:
        _, msg = transport.recv(client.sock, client.session, 60)
        if isinstance(msg.body, p.Plan) and len(msg.body.points):
            break
    plan_at = time.perf_counter() - t0
    r, c = (int(v) for v in msg.body.points[0])
    client.request(p.Measurement("first", r, c, data.spectra[r, c]), p.Ack)
    measured_at = time.perf_counter() - t0
    client.close()
    return {"scan_ack_s": scan_acked, "first_plan_s": plan_at,
            "first_measurement_acked_s": measured_at}


def loop_closure(endpoint: str, store: StateStore, model: str, n: int,
                 data: Any) -> dict[str, float]:
    """Send ``n`` real spectra one at a time; time measurement -> plan reply."""
    client = Client(endpoint, f"lat-{model}")
    rows, cols = data.spectra.shape[:2]
    client.start(f"lat-{model}", data.image, data.axis,
                 {"scalarizer": "loop_area", "model": MODELS[model], "seeds": 3})
    deadline = time.monotonic() + 300
    # the actor's own first plan: it runs (and trains) while the loop is measured; the
    # gateway's seed plan would let the loop finish before the actor has started
    while ((plan := store.get_plan(f"lat-{model}")) is None
           or plan.stats.get("by") == "gateway"):
        if time.monotonic() > deadline:
            raise RuntimeError("the campaign's actor wrote no plan within 300 s")
        time.sleep(0.05)
    order = np.random.default_rng(1).permutation(rows * cols)[:n]
    samples = []
    for i in order:
        r, c = divmod(int(i), cols)
        t0 = time.perf_counter()
        sent = transport.send(client.sock, client.session,
                              p.Measurement(f"lat-{model}", r, c, data.spectra[r, c]))
        while True:
            _, msg = transport.recv(client.sock, client.session, 30)
            if isinstance(msg.body, p.Plan) and msg.header.parent_id == sent.header.msg_id:
                break
        samples.append(time.perf_counter() - t0)
    client.close()
    ms = np.array(samples[5:]) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()), "n": int(ms.size)}


def _throughput_edge(endpoint: str, edge_id: str, seconds: float, data_shape: tuple[int, int],
                     spectrum: np.ndarray[Any, Any], out: Any) -> None:
    client = Client(endpoint, edge_id)
    image = np.zeros(data_shape, np.float32)
    client.start(edge_id, image, np.arange(spectrum.size, dtype=np.float64),
                 {"scalarizer": "band_integral", "model": MODELS["small"], "seeds": 2})
    acked, window, seq = 0, 32, 0
    inflight: set[int] = set()
    rows, cols = data_shape
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        while len(inflight) < window:
            r, c = divmod(seq % (rows * cols), cols)
            msg = transport.send(client.sock, client.session, p.Measurement(edge_id, r, c,
                                                                          spectrum))
            inflight.add(msg.header.seq)
            seq += 1
        _, reply = transport.recv(client.sock, client.session, 30)
        if isinstance(reply.body, p.Ack) and reply.body.seq in inflight:
            inflight.discard(reply.body.seq)
            acked += 1
    elapsed = time.perf_counter() - start
    client.close()
    out.put((acked, elapsed))


def throughput(endpoint: str, edges: int, seconds: float) -> dict[str, float]:
    mp = multiprocessing.get_context("spawn")
    queue = mp.Queue()
    spectrum = np.random.default_rng(0).random(64).astype(np.float32)
    procs = [mp.Process(target=_throughput_edge, args=(
        endpoint, f"tp{edges}-{i}", seconds, (50, 50), spectrum, queue)) for i in range(edges)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(30)
    total = sum(a for a, _ in results)
    wall = max(e for _, e in results)
    return {"edges": edges, "acked": total, "per_s": total / wall}


def idle_fraction(service: PlannerService, tmp: Path, store: StateStore, points: int,
                  dwell: float) -> dict[str, Any]:
    key = tmp / "key"
    key.write_bytes(KEY)
    cmd = [sys.executable, "-m", "autopilot_cli", "edge", "run", "--planner",
           service.config.bind, "--instrument", "replay:beps", "--dwell", str(dwell),
           "--campaign", "idle", "--edge-id", "idle-edge", "--spool", str(tmp / "spool"),
           "--signing-key", str(key), "--max-points", str(points), "--batch", "4",
           "--progress", "off"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=points * dwell * 10 + 120)
    stored = store.read_measurements("idle")
    received = np.array([m.received for m in stored])
    gaps = np.diff(received)
    total = float(received[-1] - received[0])
    idle = float(np.clip(gaps - dwell, 0, None).sum())
    return {"points": len(stored), "dwell_s": dwell, "wall_s": total, "idle_s": idle,
            "idle_fraction": idle / total, "order": [(m.row, m.col) for m in stored]}


def sequential_baseline(order: list[tuple[int, int]], data: Any, dwell: float,
                        seeds: int = 5) -> dict[str, float]:
    """The published loop on the same points: retrain from scratch, rank, then measure."""
    from planner_cluster.candidates import make_candidates
    from planner_cluster.learner import ActiveLearner
    from planner_cluster.models import DKLConfig
    from planner_cluster.scalarizers import scalarize

    cands = make_candidates(data.image, patch=8)
    learner = ActiveLearner(cands, model_config=DKLConfig())
    idx = cands.index_of(np.array(order))
    values = scalarize("loop_area", data.spectra[tuple(np.array(order).T)], data.axis)
    compute = 0.0
    for i, (j, v) in enumerate(zip(idx, values, strict=True)):
        learner.observe([int(j)], [float(v)])
        if i + 1 < seeds:
            continue
        t0 = time.perf_counter()
        learner.update(cold=True)
        learner.rank(q=1)
        compute += time.perf_counter() - t0
    steps = len(order) - seeds + 1
    total = compute + len(order) * dwell
    return {"steps": steps, "compute_s": compute, "per_step_s": compute / steps,
            "idle_fraction": compute / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "loop_latency.json")
    args = ap.parse_args()
    n_lat = 60 if args.quick else 300
    idle_points, dwell = (12, 0.5) if args.quick else (40, 0.5)
    tp_seconds = 3.0 if args.quick else 8.0
    data = load_beps()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir, RedisServer(appendonly=True) as redis:
        tmp = Path(tmpdir)
        (tmp / "key").write_bytes(KEY)
        config = PlannerConfig(redis_url=redis.url, bind=f"tcp://127.0.0.1:{free_port()}",
                               signing_key_file=str(tmp / "key"), data_dir=str(tmp / "pl"),
                               ray_num_cpus=2, ray_memory_mb=4096,
                               # the 16-edge throughput case runs 16 campaigns at once
                               max_active_campaigns=64)
        service = PlannerService(config)
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        service.ready.wait(120)
        store = StateStore.connect(redis.url, config.redis_prefix)
        try:
            results["first_measurement"] = first_measurement(config.bind, data)
            results["loop_closure"] = {m: loop_closure(config.bind, store, m, n_lat, data)
                                       for m in MODELS}
            for m in MODELS:
                rec = store.require_campaign(f"lat-{m}")
                results["loop_closure"][m]["model_versions_during"] = rec.model_version
            idle = idle_fraction(service, tmp, store, idle_points, dwell)
            order = idle.pop("order")
            results["idle"] = {"pipelined": idle,
                               "sequential": sequential_baseline(order, data, dwell)}
            results["throughput"] = [throughput(config.bind, e, tp_seconds) for e in (1, 4, 16)]
        finally:
            store.close()
            service.stop()
            thread.join(60)

    first = results["first_measurement"]
    print_table("First measurement after the scan, actor cold (s)",
                ["scan acked", "first plan received", "first measurement acked"],
                [[f"{first['scan_ack_s']:.3f}", f"{first['first_plan_s']:.3f}",
                  f"{first['first_measurement_acked_s']:.3f}"]])
    lc = results["loop_closure"]
    print_table("Loop closure: measurement sent -> plan received (ms)",
                ["model", "p50", "p99", "max", "n", "model versions meanwhile"],
                [[m, f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['max_ms']:.2f}", r["n"],
                  r["model_versions_during"]] for m, r in lc.items()])
    idle, seq = results["idle"]["pipelined"], results["idle"]["sequential"]
    print_table(f"Microscope idle fraction, BEPS replay, dwell {dwell} s",
                ["workflow", "points/steps", "idle", "notes"],
                [["autopilot (pipelined)", idle["points"], f"{idle['idle_fraction']:.1%}",
                  f"idle {idle['idle_s']:.2f} s of {idle['wall_s']:.1f} s"],
                 ["sequential (retrain, rank, measure)", seq["steps"],
                  f"{seq['idle_fraction']:.1%}", f"{seq['per_step_s']:.2f} s compute/step"]])
    print_table("Ingest throughput (stored + acked)", ["edges", "measurements/s"],
                [[r["edges"], f"{r['per_s']:.0f}"] for r in results["throughput"]])
    targets = {"first_measurement_le_0.5s": first["first_measurement_acked_s"] <= 0.5,
               "loop_p99_le_5ms": all(r["p99_ms"] <= 5 for r in lc.values()),
               "idle_le_5pct": idle["idle_fraction"] <= 0.05}
    results["targets"] = targets
    print(f"\ntargets: {targets}")
    print(f"wrote {write_result(args.out, 'loop_latency', results, quick=args.quick)}")


if __name__ == "__main__":
    main()
