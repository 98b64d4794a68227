"""Configuration layering: defaults < file < environment < flags; clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_config
from edge_agent.errors import ConfigError


def test_layers_override_in_order(tmp_path: Path) -> None:
    cfg_file = tmp_path / "edge.toml"
    cfg_file.write_text('planner = "tcp://file:1"\nwindow = 8\n[edge]\ndwell_s = 0.25\n'
                        'max_points = 50\n[campaign]\nseeds = 5\nbudget = {seconds = 60}\n')
    env = {"AUTOPILOT_EDGE_WINDOW": "16", "AUTOPILOT_EDGE_CAMPAIGN": "from-env",
           "AUTOPILOT_EDGE_RESUME": "yes", "OTHER": "ignored"}
    cfg = load_config({"campaign": "from-flag", "dwell_s": None, "batch": 3}, cfg_file, env)
    assert cfg.planner == "tcp://file:1"  # file over default
    assert cfg.window == 16  # environment over file
    assert cfg.campaign == "from-flag"  # flag over environment
    assert cfg.dwell_s == 0.25 and cfg.resume is True  # None flags do not override
    assert cfg.campaign_settings() == {"seeds": 5, "batch": 3,
                                       "budget": {"seconds": 60, "points": 50}}


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg_file = tmp_path / "edge.toml"
    cfg_file.write_text('campaign = "c9"\n')
    cfg = load_config({}, None, {"AUTOPILOT_EDGE_CONFIG": str(cfg_file)})
    assert cfg.campaign == "c9"


@pytest.mark.parametrize("flags, env, message", [
    ({}, {}, "campaign id is required"),
    ({"campaign": "c"}, {"AUTOPILOT_EDGE_WINDOW": "many"}, "AUTOPILOT_EDGE_WINDOW"),
    ({"campaign": "c"}, {"AUTOPILOT_EDGE_COLOUR": "red"}, r"unknown setting\(s\) \['colour'\]"),
    ({"campaign": "c", "window": 0}, {}, "window must be >= 1"),
    ({"campaign": "c", "heartbeat_s": 0.0}, {}, "heartbeat_s must be > 0"),
    ({"campaign": "c", "signing_scheme": "md5"}, {}, "signing_scheme"),
    ({"campaign": "c", "curve_secret_file": "k"}, {}, "both"),
])
def test_refusals_name_the_setting(flags: dict[str, object], env: dict[str, str],
                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(flags, None, env)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config({"campaign": "c"}, bad, {})
