"""Faults during a running campaign on the replay microscope (issue 9, part 1, short form):
two gateway SIGKILLs, the campaign actor killed, Redis SIGKILLed and restarted from its AOF,
the edge's link cut for 30 s, the edge agent SIGKILLed and restarted. Real processes, real
Redis (AOF, password), the test session's local Ray. The long form (five gateway kills) is
``benchmarks/faults.py gauntlet``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .gauntlet import Gauntlet, run_gauntlet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def ray_address(local_ray: None) -> str:
    import ray

    return str(ray.get_runtime_context().gcs_address)


def test_campaign_survives_every_fault_exactly_once(ray_address: str, tmp_path: Path,
                                                    shared_data: Path) -> None:
    fig = run_gauntlet(Gauntlet(tmp_path, ray_address, gateway_kills=2, cut_s=30.0))
    print(json.dumps(fig, indent=1))
    assert fig["status"] == "finished"
    assert fig["stored"] == fig["measured_by_edge"] > 0
    assert fig["lost"] == 0 and fig["duplicates"] == 0
    assert fig["wrong_spectra"] == 0 and fig["checksum_match"]
    assert fig["spool_left"] == 0
    assert fig["planner_crashes"] == 0
    # plans resumed: the model kept training across every fault
    versions = [s["model_version"] for s in fig["steps"]]
    assert fig["final_model_version"] > max(versions[:-1])
