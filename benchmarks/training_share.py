"""Campaigns x plan freshness: how stale plans get as concurrent campaigns share the cores.

Everything real and on loopback: an embedded Redis (AOF), the planner service in its own
process (gateway + a local Ray with ``--cpus`` CPUs + one campaign actor per campaign, each
training with the campaign defaults), and N edges speaking the signed protocol from a few
client processes. Each edge replays the BEPS PbTiO3 data set: it sends the scan, then one
measurement every 1/rate s (paced like an instrument, never waiting), always the best point of
the newest plan it received that it has not measured yet, and a heartbeat every 2 s.

Measured, from Redis after the run, over a window of ``--seconds`` that opens once every
campaign has its first model (the actors' cold start is not counted):

- **plan data age** (the definition: ``planner_cluster/state/freshness.py``): 0 when the
  campaign's newest plan used every stored measurement, else the time since the oldest one it
  has not used arrived; sampled every 0.1 s per campaign, p50 / p95 over all samples;
- **data -> plan**: per measurement, the time from its arrival to the first plan that used
  it (p50 / p95);
- **model versions** per campaign trained in the window (min / median / max), and the median
  fit time of those models (with N fits at once on a shared machine, each takes longer).

Each N runs twice: with the training gate (``training_slots = 0``: one fit per CPU, most
stale plan first) and without it (``training_slots = 1000``: every campaign with new data
trains at once, as before the gate); ``--modes`` also takes a number of slots. The machine's
load average is recorded: on a shared machine other processes take cores too.

Run: .venv/bin/python benchmarks/training_share.py [--campaigns 4,8,16] [--seconds 60]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import protocol as p  # noqa: E402
from benchmarks.edge_clients import start_edges  # noqa: E402
from benchmarks.machine import print_table, write_result  # noqa: E402
from planner_cluster.redis_server import RedisServer, free_port  # noqa: E402
from planner_cluster.state import StateStore  # noqa: E402
from planner_cluster.state.freshness import CURSOR  # noqa: E402
from protocol import transport  # noqa: E402

KEY = b"training-share-benchmark-key-0123456789"
HEARTBEAT_S = 2.0
MODES = {"gate": 0, "no gate": 1000}  # training_slots; a number: that many slots


def slots_of(mode: str) -> int:
    return MODES[mode] if mode in MODES else int(mode)


def _planner(overrides: dict[str, Any], ready: Any, stop: Any) -> None:
    """The planner service in its own process, as ``autopilot planner`` runs it."""
    import threading

    from planner_cluster.config import PlannerConfig
    from planner_cluster.service import PlannerService

    service = PlannerService(PlannerConfig(**overrides))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    if service.ready.wait(300):
        ready.set()
    stop.wait()
    service.stop()
    thread.join(60)


def _edges(endpoint: str, names: list[str], rate: float, stop: Any) -> None:
    """Paced BEPS replay edges in one process, following their plans, until ``stop``."""
    from edge_agent.instruments.datasets import load_beps

    data = load_beps()
    rows, cols = data.spectra.shape[:2]
    edges = start_edges(endpoint, names, KEY, name="training-share",
                        config={"scalarizer": "loop_area"}, axis=data.axis, image=data.image,
                        timeout_s=120)
    socks, sessions, poller, by_sock = edges.socks, edges.sessions, edges.poller, edges.by_sock
    plan: dict[str, list[tuple[int, int]]] = {n: [] for n in names}
    measured: dict[str, set[tuple[int, int]]] = {n: set() for n in names}
    order = {n: iter(np.random.default_rng(i).permutation(rows * cols).tolist())
             for i, n in enumerate(names)}
    count = dict.fromkeys(names, 0)
    beats = dict.fromkeys(names, 0)
    start = time.perf_counter()
    phase = {n: i / (rate * len(names)) for i, n in enumerate(names)}
    while not stop.is_set():
        now = time.perf_counter()
        for n in names:
            if now >= start + phase[n] + count[n] / rate:
                point = next((q for q in plan[n] if q not in measured[n]), None)
                while point is None or point in measured[n]:  # no plan left: any new point
                    point = divmod(next(order[n]), cols)
                measured[n].add(point)
                transport.send(socks[n], sessions[n],
                               p.Measurement(n, point[0], point[1], data.spectra[point]))
                count[n] += 1
            if now >= start + phase[n] + beats[n] * HEARTBEAT_S:
                transport.send(socks[n], sessions[n], p.Heartbeat(
                    "measuring", n, {"plan_version": 1, "measured": count[n]}))
                beats[n] += 1
        for sock, _ in poller.poll(5):
            n = by_sock[sock]
            _, reply = transport.recv(sock, sessions[n], 1)
            if isinstance(reply.body, p.Plan) and len(reply.body.points):
                plan[n] = [(int(r), int(c)) for r, c in reply.body.points]
    edges.close()


def freshness_of_run(store: StateStore, campaign: str, t0: float,
                     t1: float) -> dict[str, Any]:
    """Plan data age samples, data -> plan times and models trained in [t0, t1]."""
    measurements = store.read_measurements(campaign)
    received = np.array([m.received for m in measurements])
    index = {m.stream_id: i for i, m in enumerate(measurements)}
    plans = [(e.time, index.get(str(e.data.get(CURSOR) or ""), -1) + 1,
              int(e.data.get("model_version", 0)), float(e.data.get("fit_s", 0.0)))
             for e in store.read_events("0-0", campaign_id=campaign) if e.kind == "plan"]
    plans.sort()
    times = np.array([t for t, *_ in plans])
    used = np.array([u for _, u, *_ in plans])  # measurements each plan used
    ages = []
    for t in np.arange(t0, t1, 0.1):
        k = int(np.searchsorted(times, t, side="right")) - 1
        first = int(used[k]) if k >= 0 else 0  # the oldest measurement the plan has not used
        ages.append(t - received[first] if first < received.size and received[first] <= t
                    else 0.0)
    waits = []
    for i in np.flatnonzero((received >= t0) & (received <= t1)):
        later = np.flatnonzero((used > i) & (times >= received[i]))
        waits.append(times[later[0]] - received[i] if later.size else t1 - received[i])
    fits = [fit for t, _, _, fit in plans if t0 <= t <= t1 and fit > 0]
    return {"ages": ages, "waits": waits, "models": len(fits), "fits": fits,
            "measured": int(((received >= t0) & (received <= t1)).sum())}


def run(n: int, mode: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    mp = multiprocessing.get_context("spawn")
    key = tmp / "key"
    key.write_bytes(KEY)
    with RedisServer(appendonly=True, data_dir=tmp / f"redis-{n}-{mode.replace(' ', '')}"
                     ) as redis:
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        overrides = {"redis_url": redis.url, "bind": endpoint, "signing_key_file": str(key),
                     "data_dir": str(tmp / f"planner-{n}"), "ray_num_cpus": args.cpus,
                     "ray_memory_mb": 4096, "actor_cpus": args.actor_cpus,
                     "max_active_campaigns": 64, "max_live_campaigns_per_edge": 64,
                     "training_slots": slots_of(mode)}
        ready, stop = mp.Event(), mp.Event()
        planner = mp.Process(target=_planner, args=(overrides, ready, stop))
        planner.start()
        if not ready.wait(300):
            raise RuntimeError("the planner did not start within 300 s")
        names = [f"c{i:02d}" for i in range(n)]
        groups = [names[i::min(n, 4)] for i in range(min(n, 4))]
        edges = [mp.Process(target=_edges, args=(endpoint, g, args.rate, stop)) for g in groups]
        for e in edges:
            e.start()
        store = StateStore.connect(redis.url, "autopilot")
        started = time.monotonic()
        while not all((c := store.get_campaign(x)) and c.model_version >= 1 for x in names):
            if time.monotonic() - started > args.warmup:
                raise RuntimeError(f"not every campaign had a model within {args.warmup} s")
            time.sleep(0.5)
        warm_s = time.monotonic() - started
        load_before = os.getloadavg()
        t0 = time.time()
        time.sleep(args.seconds)
        t1 = time.time()
        load_after = os.getloadavg()
        stop.set()
        for e in edges:
            e.join(60)
        per = {x: freshness_of_run(store, x, t0, t1) for x in names}
        store.close()
        planner.join(120)
    ages = np.concatenate([r["ages"] for r in per.values()])
    waits = np.concatenate([r["waits"] for r in per.values()])
    models = [r["models"] for r in per.values()]
    fits = np.concatenate([r["fits"] for r in per.values()])
    return {"campaigns": n, "mode": mode, "training_slots": slots_of(mode),
            "rate_per_campaign": args.rate, "window_s": args.seconds,
            "warmup_s": round(warm_s, 1), "load_before": load_before, "load_after": load_after,
            "measured": sum(r["measured"] for r in per.values()),
            "age_p50_s": float(np.percentile(ages, 50)),
            "age_p95_s": float(np.percentile(ages, 95)),
            "wait_p50_s": float(np.percentile(waits, 50)) if waits.size else None,
            "wait_p95_s": float(np.percentile(waits, 95)) if waits.size else None,
            "models_min": int(min(models)), "models_median": float(np.median(models)),
            "models_max": int(max(models)),
            "fit_p50_s": float(np.median(fits)) if fits.size else None,
            "per_campaign": {x: {k: v for k, v in r.items() if k not in ("ages", "waits", "fits")}
                             for x, r in per.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--campaigns", default="4,8,16")
    ap.add_argument("--modes", default="gate,no gate",
                    help="gate (training_slots 0), no gate (1000), or a number of slots")
    ap.add_argument("--rate", type=float, default=2.0, help="measurements/s per campaign")
    ap.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    ap.add_argument("--warmup", type=float, default=600.0,
                    help="longest wait for every campaign's first model")
    ap.add_argument("--cpus", type=int, default=2, help="the local Ray's CPUs")
    ap.add_argument("--actor-cpus", type=float, default=0.1,
                    help="each actor's reservation (0.1: 20 campaigns on 2 CPUs)")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "benchmarks" / "results" / "training_share.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for n in (int(x) for x in args.campaigns.split(",")):
            for mode in args.modes.split(","):
                rows.append(run(n, mode, args, Path(tmpdir)))
                r = rows[-1]
                print(f"{n} campaigns, {mode}: age p50 {r['age_p50_s']:.2f} s, p95 "
                      f"{r['age_p95_s']:.2f} s, load {r['load_after'][0]:.1f}", flush=True)
    print_table(f"Campaigns x plan freshness: BEPS replay, {args.rate:g} measurements/s per "
                f"campaign, {args.seconds:g} s window, local Ray with {args.cpus} CPUs",
                ["campaigns", "training", "plan data age p50 / p95 s", "data -> plan p50 / p95 s",
                 "models per campaign min / median / max", "fit p50 s", "measured",
                 "load (1 min)"],
                [[r["campaigns"], r["mode"], f"{r['age_p50_s']:.2f} / {r['age_p95_s']:.2f}",
                  "-" if r["wait_p50_s"] is None else
                  f"{r['wait_p50_s']:.2f} / {r['wait_p95_s']:.2f}",
                  f"{r['models_min']} / {r['models_median']:g} / {r['models_max']}",
                  "-" if r["fit_p50_s"] is None else f"{r['fit_p50_s']:.2f}", r["measured"],
                  f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}"]
                 for r in rows])
    at16 = [r["age_p50_s"] <= 2.0 for r in rows if r["campaigns"] >= 16 and r["mode"] == "gate"]
    targets = {"16_campaigns_age_p50_le_2s": all(at16) if at16 else None}
    print(f"\ntargets: {targets}")
    print(f"wrote {write_result(args.out, 'training_share', {'rows': rows, 'targets': targets})}")


if __name__ == "__main__":
    main()
