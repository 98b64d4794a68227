"""Load, short form: four edge agent processes (BEPS replay, 0.1 s dwell) and a latency probe
against one planner process for 20 s, with memory sampled. Nothing lost, nothing twice,
memory bounded. The long form (16 edges, 10 minutes) is ``benchmarks/faults.py load``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .load import Load, run_load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_four_edges_lose_nothing_and_memory_stays_bounded(local_ray: None, tmp_path: Path,
                                                          shared_data: Path) -> None:
    import ray

    fig = run_load(Load(tmp_path, str(ray.get_runtime_context().gcs_address), edges=4,
                        seconds=20.0))
    print(json.dumps(fig, indent=1))
    assert fig["lost"] == 0 and fig["duplicates"] == 0 and fig["wrong_spectra"] == 0
    assert fig["unacked_left"] == 0 and fig["rejected"] == 0 and fig["planner_crashes"] == 0
    assert all(c["stored"] > 0 for c in fig["campaigns"].values())
    assert fig["latency"]["ack"]["n"] > 0
    memory = fig["memory"]
    # the gateway process holds no campaign data: it must not grow with the measurements
    assert memory["planner_mib"]["peak"] < memory["planner_mib"]["first_10pct_mean"] + 100
