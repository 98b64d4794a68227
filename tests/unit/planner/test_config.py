"""The planner's layered config: defaults < TOML < environment < flags, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner_cluster.config import ConfigError, load_config

pytestmark = pytest.mark.unit


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    toml = tmp_path / "planner.toml"
    toml.write_text('[planner]\nheartbeat_s = 3.0\nray_num_cpus = 4\nbind = "tcp://127.0.0.1:7000"\n')
    env = {"AUTOPILOT_PLANNER_RAY_NUM_CPUS": "8", "AUTOPILOT_PLANNER_BIND": "tcp://127.0.0.1:7001"}
    config = load_config(toml, environ=env, overrides={"bind": "tcp://127.0.0.1:7002",
                                                       "heartbeat_s": None})
    assert config.heartbeat_s == 3.0  # file (the None flag is skipped)
    assert config.ray_num_cpus == 8  # environment, coerced to int
    assert config.bind == "tcp://127.0.0.1:7002"  # flag
    assert load_config(environ={}).heartbeat_s == 2.0  # default


def test_actor_resources_from_a_toml_table_or_json(tmp_path: Path) -> None:
    toml = tmp_path / "planner.toml"
    toml.write_text("[planner.actor_resources]\ncampaign_worker = 1\n")
    assert load_config(toml, environ={}).actor_resources == {"campaign_worker": 1.0}
    env = {"AUTOPILOT_PLANNER_ACTOR_RESOURCES": '{"gpu_node": 0.5}'}
    assert load_config(environ=env).actor_resources == {"gpu_node": 0.5}
    with pytest.raises(ConfigError, match="actor_resources.*table of numbers"):
        load_config(environ={"AUTOPILOT_PLANNER_ACTOR_RESOURCES": "[1, 2]"})


def test_redis_server_bin_from_its_usual_variable() -> None:
    config = load_config(environ={"REDIS_SERVER_BIN": "/opt/redis/bin/redis-server"})
    assert config.redis_server_bin == "/opt/redis/bin/redis-server"


@pytest.mark.parametrize(("environ", "message"), [
    ({"AUTOPILOT_PLANNER_NO_SUCH": "1"}, r"unknown setting\(s\) \['no_such'\] in environment"),
    ({"AUTOPILOT_PLANNER_HEARTBEAT_S": "soon"}, "'heartbeat_s' must be"),
    ({"AUTOPILOT_PLANNER_SIGNING_SCHEME": "md5"}, "signing_scheme 'md5' is not one of"),
    ({"AUTOPILOT_PLANNER_RAY": "nowhere"}, "ray must be local, auto or HOST:PORT"),
    ({"AUTOPILOT_PLANNER_EXTRA": "x"}, r"unknown setting\(s\) \['extra'\]"),
])
def test_bad_settings_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_unreadable_file_and_secret_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("heartbeat_s = [")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(bad, environ={})
    config = load_config(environ={}, overrides={"signing_key_file": str(tmp_path / "none")})
    with pytest.raises(ConfigError, match="cannot read secret file"):
        config.signing_key()
    key = tmp_path / "key"
    key.write_text("secret-key\n")
    assert load_config(environ={}, overrides={"signing_key_file": str(key)}).signing_key() \
        == b"secret-key"
