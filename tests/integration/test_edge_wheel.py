"""The edge installs anywhere: the project's wheel, installed into a clean virtual environment
with only its base dependencies (numpy, pyzmq, msgpack and the CLI's typer from the package
registry), lists its drivers and replays the packaged BEPS crop in a campaign against a real
planner."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.instruments.datasets import load_dataset
from planner_cluster.state import StateStore
from tests.conftest import REPO

from .planner_harness import edge_command, running_planner

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")]

SOURCES = ("pyproject.toml", "README.md", "autopilot_cli", "protocol", "edge_agent",
           "planner_cluster")
#: What pip says when the package registry cannot be reached (the test then skips).
OFFLINE = ("NewConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ProxyError",
           "No matching distribution")


def clean_env() -> dict[str, str]:
    """This environment without anything that points the edge at the repository."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AUTOPILOT_DATA")
            and not k.startswith("AUTOPILOT_EDGE_")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the sources (the tree stays untouched)."""
    root = tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        source, target = REPO / name, root / "src" / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "-w", str(root / "dist"), str(root / "src")],
                   check=True, timeout=300)
    (built,) = (root / "dist").glob("microscope_autopilot-*.whl")
    return built


@pytest.fixture(scope="module")
def clean_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the wheel and its base dependencies only; its bin/."""
    venv = tmp_path_factory.mktemp("clean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300,
                   env=clean_env())
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    installed = subprocess.run([*pip, "install", "--quiet", "--timeout", "30", str(wheel)],
                               capture_output=True, text=True, timeout=480, env=clean_env())
    if installed.returncode != 0 and any(sign in installed.stderr for sign in OFFLINE):
        pytest.skip(f"the package registry is unreachable: {installed.stderr[-300:]}")
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv / "bin"


def test_the_wheel_is_light_and_carries_the_data_and_its_attribution(wheel: Path) -> None:
    assert wheel.stat().st_size < 600_000
    names = zipfile.ZipFile(wheel).namelist()
    assert "edge_agent/instruments/data/beps_crop.npz" in names
    assert "edge_agent/instruments/data/README.md" in names
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: tomli>=2; python_version < \"3.11\"" in metadata


def test_only_the_base_dependencies_are_installed(clean_venv: Path) -> None:
    listed = subprocess.run([str(clean_venv / "python"), "-m", "pip", "list",
                             "--disable-pip-version-check", "--format", "freeze"],
                            capture_output=True, text=True, check=True, timeout=60)
    names = {line.split("==")[0].lower().replace("_", "-") for line in listed.stdout.split()}
    assert {"microscope-autopilot", "numpy", "pyzmq", "msgpack", "typer"} <= names
    typer_needs = {"typer", "click", "rich", "pydantic", "pydantic-core", "annotated-types",
                   "typing-extensions", "typing-inspection", "shellingham", "annotated-doc",
                   "markdown-it-py", "mdurl", "pygments"}  # the CLI library and its own needs
    assert names - {"pip", "setuptools", "wheel"} - typer_needs == {
        "microscope-autopilot", "numpy", "pyzmq", "msgpack"}
    drivers = subprocess.run([str(clean_venv / "autopilot"), "edge", "drivers"],
                             capture_output=True, text=True, timeout=60, cwd="/",
                             env=clean_env())
    assert drivers.returncode == 0, drivers.stderr
    assert "replay   replay a recorded dataset" in drivers.stdout
    assert "none installed" in drivers.stdout


def test_a_replay_campaign_runs_from_the_wheel(clean_venv: Path, redis_server: Any,
                                               local_ray: None, tmp_path: Path) -> None:
    prefix = f"whl{uuid.uuid4().hex[:6]}"
    log = tmp_path / "edge.log"
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        cmd = edge_command(service, tmp_path, "wheel-1", max_points=12)  # replay:beps
        args = [str(clean_venv / "autopilot"), *cmd[3:]]  # not `python -m autopilot_cli`
        with log.open("ab") as out:  # from a folder outside the repository, clean environment
            proc = subprocess.Popen(args, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                    env=clean_env())
        try:
            code = proc.wait(240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = log.read_text()
        assert code == 0, text[-3000:]
    assert "replaying the packaged beps_crop instead" in text
    store = StateStore.connect(redis_server.url, prefix)
    try:
        assert store.require_campaign("wheel-1").status == "finished"
        stored = store.read_measurements("wheel-1")
    finally:
        store.close()
    crop = load_dataset("beps_crop")
    assert len({(m.row, m.col) for m in stored}) == len(stored) == 12
    for m in stored:  # byte-exact: the packaged real data, not a stand-in
        expected = crop.spectra[m.row, m.col].astype(m.spectrum.dtype)
        assert hashlib.sha256(m.spectrum.tobytes()).digest() == hashlib.sha256(
            expected.tobytes()).digest()
    assert np.all([m.row < 24 and m.col < 24 for m in stored])
