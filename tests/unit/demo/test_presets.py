"""Demo presets: every data set names a real scalarizer, and the edge config round-trips."""

from __future__ import annotations

import pytest
import tomllib

from planner_cluster.campaign import CampaignSettings
from planner_cluster.demo.presets import PRESETS, campaign_config, edge_config_toml
from planner_cluster.scalarizers import get_scalarizer


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_a_valid_campaign(name: str) -> None:
    preset = PRESETS[name]
    config = campaign_config(preset, scalarizer=None, acquisition="ucb", batch=2, seed=3)
    settings = CampaignSettings.from_config(config)  # validates names and numbers
    assert settings.scalarizer == preset.scalarizer
    assert set(preset.scalarizer_params) <= set(get_scalarizer(preset.scalarizer).params)
    assert settings.acquisition.name == "ucb" and settings.acquisition.seed == 3
    assert settings.model.seed == 3 and settings.patch == preset.patch
    assert "{seed}" not in preset.instrument_spec(7)


def test_edge_config_round_trips_through_toml() -> None:
    config = campaign_config(PRESETS["eels"], scalarizer=None, acquisition="ei", batch=4,
                             seed=0)
    parsed = tomllib.loads(edge_config_toml(config))
    assert parsed == {"campaign": config}
    assert parsed["campaign"]["scalarizer"]["params"]["background"] == "linear"


def test_scalarizer_override_drops_the_preset_parameters() -> None:
    config = campaign_config(PRESETS["eels"], scalarizer="peak_position", acquisition="ei",
                             batch=1, seed=0)
    assert config["scalarizer"] == {"name": "peak_position", "params": {}}


def test_toml_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        edge_config_toml({"bad": [1, 2]})
