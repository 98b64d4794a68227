"""The campaign settings schema: every bad map is refused with the key path that is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from planner_cluster.campaign import CampaignSettings
from planner_cluster.campaign.schema import validate_config
from planner_cluster.errors import CampaignConfigError

AXIS = list(np.linspace(-5.0, 5.0, 64))


@pytest.mark.parametrize(("config", "path"), [
    ({"batch": "x"}, "batch"),
    ({"batch": -3}, "batch"),
    ({"batch": 2.0}, "batch"),           # strict: no silent float -> int
    ({"plan_size": 0}, "plan_size"),
    ({"acquisition": "nope"}, "acquisition.name"),
    ({"acquisition": {"name": "ei", "params": {"beta": 1.0}}}, "acquisition"),
    ({"acquisition": {"name": "ucb", "params": {"beta": -1.0}}}, "acquisition"),
    ({"acquisition": {"name": "ei", "diversity": "spread"}}, "acquisition.diversity"),
    ({"scalarizer": "nope"}, "scalarizer"),
    ({"scalarizer": {"name": "loop_area", "params": {"spike": 3.0}}}, "scalarizer"),
    ({"scalarizer": {"name": "band_integral", "params": {"lo": "a"}}}, "scalarizer"),
    ({"budget": "lots"}, "budget"),
    ({"budget": {"points": 0}}, "budget.points"),
    ({"patchsize": 3}, "patchsize"),
    ({"strid": 2}, "strid"),
    ({"acqusition": "ucb"}, "acqusition"),
    ({"model": {"lr": -1.0}}, "model.lr"),
    ({"model": {"hidden": [32, 0]}}, "model.hidden.1"),
    ({"model": {"lrr": 0.1}}, "model.lrr"),
    ({"normalize": "per-patch"}, "normalize"),
    ({"owner": 7}, "owner"),
])
def test_bad_settings_are_refused_with_their_key_path(config: dict[str, Any], path: str) -> None:
    with pytest.raises(CampaignConfigError) as info:
        validate_config(config)
    assert info.value.field == path
    assert path in str(info.value)


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(CampaignConfigError, match="known here: .*'patch'"):
        validate_config({"patchsize": 3})


def test_deeply_nested_or_binary_maps_are_refused() -> None:
    nested: dict[str, Any] = {}
    for _ in range(500):
        nested = {"x": nested}
    with pytest.raises(CampaignConfigError):
        validate_config({"metadata": nested})
    with pytest.raises(CampaignConfigError, match="JSON"):
        validate_config({"owner": b"x"})


def test_a_scalarizer_window_outside_the_spectral_axis_is_refused_at_the_door() -> None:
    config = {"scalarizer": {"name": "band_integral", "params": {"lo": 100.0, "hi": 200.0}}}
    validate_config(config)  # without the axis nothing can tell
    with pytest.raises(CampaignConfigError) as info:
        validate_config(config, AXIS)
    assert info.value.field == "scalarizer.params"


def test_defaults_are_the_settings_defaults_and_round_trip() -> None:
    assert CampaignSettings.from_config({}) == CampaignSettings()
    custom = CampaignSettings.from_config({
        "acquisition": {"name": "ucb", "params": {"beta": 2.0}}, "seeds": 4, "batch": 2,
        "model": {"hidden": [32, 32], "lr": 0.02}, "budget": {"points": 12},
        "metadata": {"sample": "PTO film"}})
    assert custom.model.hidden == (32, 32) and custom.model.lr == 0.02
    assert custom.acquisition.params == {"beta": 2.0}
    assert CampaignSettings.from_config(custom.to_config()) == custom
