"""A driver plug-in package installed with pip into a fresh environment runs a campaign from
the command line against a real planner (real Redis, local Ray, the planner service)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Any

import pytest

from planner_cluster.state import StateStore
from tests.conftest import REPO
from tests.unit.edge.plugin_folder import EXAMPLE

from .planner_harness import edge_command, running_planner, start_edge

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400),
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")]


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment that sees the project (and its dependencies) through a
    ``.pth`` file, with the example plug-in pip-installed into it; its python."""
    root = tmp_path_factory.mktemp("plugin")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                "get_paths()['purelib'])"], capture_output=True, text=True,
                               check=True, timeout=60).stdout.strip())
    (site / "autopilot-project.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    source = shutil.copytree(EXAMPLE, root / "example-driver")  # builds leave the docs alone
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(source)],
                   check=True, timeout=300)
    return python


def drivers(python: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "autopilot_cli", "edge", "drivers"],
                          capture_output=True, text=True, timeout=60, cwd="/")


def test_the_installed_plugin_is_listed_only_where_it_is_installed(plugin_python: Path) -> None:
    listed = drivers(plugin_python)
    assert listed.returncode == 0, listed.stderr
    assert "plug-ins (microscope_autopilot.drivers): 1" in listed.stdout
    assert "example  example microscope: example:SAMPLE?size=24&journal=PATH" in listed.stdout
    assert ("plug-in autopilot-example-driver 0.1.0 (autopilot_example_driver:make_example)"
            in listed.stdout)
    assert "none installed" in drivers(sys.executable).stdout  # the project's own env


def test_a_campaign_runs_with_the_plugin_from_the_cli(plugin_python: Path, redis_server: Any,
                                                       local_ray: None, tmp_path: Path) -> None:
    prefix = f"plug{uuid.uuid4().hex[:6]}"
    journal = tmp_path / "journal.txt"
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        cmd = edge_command(service, tmp_path, "plug-1", max_points=12,
                           instrument=f"example:film?size=16&journal={journal}")
        proc = start_edge([str(plugin_python), *cmd[1:]], tmp_path / "edge.log")
        code = proc.wait(240)
        log = (tmp_path / "edge.log").read_text()
        assert code == 0, log[-3000:]
    store = StateStore.connect(redis_server.url, prefix)
    try:
        assert store.require_campaign("plug-1").status == "finished"
        stored = store.read_measurements("plug-1")
    finally:
        store.close()
    points = {(m.row, m.col) for m in stored}
    assert len(stored) == len(points) == 12
    assert all(m.spectrum.shape == (64,) and m.spectrum.max() > 50 for m in stored)
    acquired = {(int(r), int(c)) for line in journal.read_text().splitlines()
                if (words := line.split())[1] == "acquire" for r, c in [words[2:4]]}
    assert points <= acquired  # every stored spectrum came from the plug-in's instrument
    assert journal.read_text().splitlines()[-1].endswith("close")
