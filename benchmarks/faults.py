"""Faults, load and hostile input, long forms (the short forms run in ``make test`` from
``tests/faults/``). Everything real and on loopback: Redis with AOF (``appendfsync always``)
and a password, local Ray, ``autopilot planner`` processes, ``autopilot edge run`` processes
on the BEPS replay microscope.

1. load: ``--edges`` (16) edge agents, 0.1 s dwell, against one planner process (joined to
   a local Ray at nice 10, so training yields the two cores to the gateway as separate
   training nodes would; ``--ray local``: the planner owns its Ray) for ``--minutes`` (10),
   with a latency probe (measurement sent -> ack, -> plan reply) and RSS sampled every 5 s
   from /proc. Then every campaign is checked against the replay's ground truth: nothing lost,
   nothing stored twice, every spectrum byte-identical.
2. gauntlet: one campaign through 5 gateway SIGKILLs, an actor kill, a Redis SIGKILL + AOF
   restart, a 30 s link cut and an edge SIGKILL + restart; exactly once against the truth.
3. hostile: ``tests/faults/test_hostile_input.py`` with ``--examples`` (5000) per hypothesis
   test, against a gateway process; the tally of inputs and the gateway's RSS.

Run: .venv/bin/python benchmarks/faults.py [--only load|gauntlet|hostile] [--minutes 10]
Results: benchmarks/results/faults.json (each part merged into it as it finishes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_info, print_table  # noqa: E402
from tests.faults.gauntlet import Gauntlet, run_gauntlet  # noqa: E402
from tests.faults.load import Load, run_load  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "faults.json"


def record(out: Path, part: str, result: dict[str, Any]) -> None:
    """Merge one part's result into the JSON file (the others keep their last run)."""
    doc: dict[str, Any] = {"benchmark": "faults", "results": {}}
    if out.exists():
        doc = json.loads(out.read_text())
    doc["results"][part] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            "machine": machine_info(), **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")


def load(args: argparse.Namespace) -> dict[str, Any]:
    # 16 campaigns x 0.25 CPU each, plus the probe's: Ray needs 5 logical CPUs to run every
    # actor at once (they share the machine's real cores)
    cpus = max(2, (args.edges + 1 + 3) // 4)
    env = {"AUTOPILOT_PLANNER_HEARTBEAT_S": "2.0"}  # the default
    if args.ray == "local":
        env.update(AUTOPILOT_PLANNER_RAY_NUM_CPUS=str(cpus), AUTOPILOT_PLANNER_RAY_MEMORY_MB="8192")
    with tempfile.TemporaryDirectory(prefix="faults-load-") as tmp:
        fig = run_load(Load(Path(tmp), args.ray, edges=args.edges, seconds=args.minutes * 60,
                            dwell_s=args.dwell, sample_s=5.0, probe_every_s=0.5,
                            planner_env=env, fast_edges=args.fast_edges))
    fig["ray_mode"] = args.ray
    fig["edge_resend_after_s"] = 1.0 if args.fast_edges else 5.0
    m, lat = fig["memory"], fig["latency"]
    print_table(f"Load: {fig['edges']} edges x {args.minutes} min",
                ["stored", "lost", "duplicates", "wrong spectra", "unacked left"],
                [[fig["measurements"], fig["lost"], fig["duplicates"], fig["wrong_spectra"],
                  fig["unacked_left"]]])
    print_table("Memory (MiB): peak, and means over the first, middle and last 10% of samples",
                ["process", "peak", "first", "middle", "last"],
                [[k, v["peak"], v["first_10pct_mean"], v["mid_10pct_mean"], v["last_10pct_mean"]]
                 for k, v in m.items() if isinstance(v, dict)])
    print_table("Loop latency (ms)", ["", "p50", "p99", "max", "n"],
                [[k, v.get("p50_ms"), v.get("p99_ms"), v.get("max_ms"), v["n"]]
                 for k, v in lat.items()])
    return fig


def gauntlet(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from planner_cluster.actors.supervisor import init_ray
    from planner_cluster.config import PlannerConfig

    init_ray(PlannerConfig(ray="local", ray_num_cpus=2, ray_memory_mb=3072,
                           ray_object_store_mb=256))
    try:
        with tempfile.TemporaryDirectory(prefix="faults-gauntlet-") as tmp:
            fig = run_gauntlet(Gauntlet(Path(tmp), str(ray.get_runtime_context().gcs_address),
                                        gateway_kills=args.gateway_kills, cut_s=30.0))
    finally:
        ray.shutdown()
    print_table("Gauntlet", ["fault", "at s", "stored", "model version"],
                [[s["fault"], s["at_s"], s["stored"], s["model_version"]] for s in fig["steps"]])
    print(f"stored {fig['stored']} of {fig['measured_by_edge']} measured, lost {fig['lost']}, "
          f"duplicates {fig['duplicates']}, wrong spectra {fig['wrong_spectra']}, checksum match "
          f"{fig['checksum_match']}")
    return fig


def hostile(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, AUTOPILOT_FAULTS_EXAMPLES=str(args.examples))
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/faults/test_hostile_input.py", "-o", "timeout=3600"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("HOSTILE ")), "")
    fig = json.loads(line[len("HOSTILE "):]) if line else {}
    fig.update(examples_per_test=args.examples, pytest_exit=done.returncode,
               pytest_summary=done.stdout.strip().splitlines()[-1] if done.stdout else "",
               wall_s=round(time.monotonic() - t0, 1))
    fig["inputs"] = sum(fig.get("tried", {}).values())
    print(json.dumps(fig, indent=1))
    if done.returncode != 0:
        print(done.stdout[-5000:], file=sys.stderr)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["load", "gauntlet", "hostile"], action="append",
                    help="run only this part (repeatable); default: all three")
    ap.add_argument("--minutes", type=float, default=10.0, help="load duration")
    ap.add_argument("--edges", type=int, default=16)
    ap.add_argument("--dwell", type=float, default=0.1, help="edge dwell per point, s")
    ap.add_argument("--ray", choices=["niced", "local"], default="niced",
                    help="load: Ray at nice 10 in a helper (training yields the cores to the "
                    "gateway, as on separate training nodes), or owned by the planner process")
    ap.add_argument("--fast-edges", action="store_true",
                    help="load: edges resend after 1 s (the short tests' setting) instead of "
                    "the default 5 s")
    ap.add_argument("--gateway-kills", type=int, default=5)
    ap.add_argument("--examples", type=int, default=5000, help="per hypothesis test")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    parts = {"load": load, "gauntlet": gauntlet, "hostile": hostile}
    failed = []
    for name in args.only or list(parts):
        result = parts[name](args)
        record(args.out, name, result)
        bad = (result.get("lost", 0) or result.get("duplicates", 0)
               or result.get("wrong_spectra", 0) or result.get("pytest_exit", 0))
        if bad:
            failed.append(name)
    print(f"results: {args.out}")
    if failed:
        sys.exit(f"FAILED: {failed}")


if __name__ == "__main__":
    main()
