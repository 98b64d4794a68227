"""The seed plan the gateway writes is the planning core's first plan, and needs no torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from planner_cluster.campaign import CampaignSettings
from planner_cluster.planning import PlanningCore
from planner_cluster.planning.seeds import seed_plan


def test_the_seed_plan_is_the_planning_cores_first_plan() -> None:
    image = np.random.default_rng(3).normal(size=(20, 24)).astype(np.float32)
    for config in ({"patch": 5, "seeds": 4, "plan_size": 6},
                   {"patch": 3, "seeds": 12, "plan_size": 8, "stride": 2},
                   {"patch": 4, "seeds": 2, "plan_size": 16, "seed": 9}):
        settings = CampaignSettings.from_config(config)
        first = PlanningCore(settings, image).plan()
        assert first.kind == "seed" and first.version == 0
        assert seed_plan(settings, image).tolist() == first.points.tolist()


def test_the_seed_plan_fills_the_field_without_repeats() -> None:
    image = np.random.default_rng(4).normal(size=(16, 16)).astype(np.float32)
    points = seed_plan(CampaignSettings.from_config({"patch": 3, "plan_size": 16}), image)
    assert points.shape == (16, 2)
    assert len({tuple(x) for x in points.tolist()}) == 16
    assert points.min() >= 0 and points.max() < 16


def test_seed_plans_import_no_torch() -> None:
    code = ("import sys; import planner_cluster.gateway; "
            "import planner_cluster.planning.seeds; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
