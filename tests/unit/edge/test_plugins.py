"""Driver plug-ins from the ``microscope_autopilot.drivers`` entry-point group: listed with their
help and origin, built on demand, and a broken one breaks nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

from .plugin_folder import env_with, plugin_folder

SCRIPT = """
import sys
from edge_agent.instruments.registry import make_instrument
inst = make_instrument(sys.argv[1], dwell_s=0.0, seed=0)
image = inst.scan()
spectrum = inst.acquire(3, 4)
inst.close()
print(inst.info.kind, inst.info.grid_shape, image.shape, spectrum.shape, float(spectrum.max()))
"""


def run(args: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env_with(folder),
                          capture_output=True, text=True, timeout=60)


def test_an_installed_plugin_is_listed_and_builds_its_instrument(tmp_path: Path) -> None:
    folder = plugin_folder(tmp_path / "site", {"example": "autopilot_example_driver:make_example"})
    listed = run(["-m", "edge_agent", "drivers"], folder)
    assert listed.returncode == 0, listed.stderr
    assert "plug-ins (microscope_autopilot.drivers): 1" in listed.stdout
    assert "example  example microscope: example:SAMPLE?size=24" in listed.stdout
    assert "plug-in example-plugin 0.1.0 (autopilot_example_driver:make_example)" in listed.stdout
    assert "replay   replay a recorded dataset" in listed.stdout  # the built-ins stay
    built = run(["-c", SCRIPT, "example:film?size=12"], folder)
    assert built.returncode == 0, built.stderr
    # seed is the agent's generic setting: a driver without one is simply not given it
    assert built.stdout.split()[:3] == ["example", "(12,", "12)"]
    assert float(built.stdout.split()[-1]) > 50


def test_a_broken_plugin_is_reported_and_leaves_the_others_working(tmp_path: Path) -> None:
    folder = plugin_folder(tmp_path / "site", {
        "example": "autopilot_example_driver:make_example",
        "broken": "no_such_module:make",
        "replay": "autopilot_example_driver:make_example",  # may not shadow a built-in
    })
    listed = run(["-m", "edge_agent", "drivers"], folder)
    assert listed.returncode == 1
    assert "broken   driver plug-in 'broken'" in listed.stdout
    assert "ModuleNotFoundError" in listed.stdout
    assert "replay   a built-in driver has this name" in listed.stdout
    built = run(["-c", SCRIPT, "example:film?size=8"], folder)
    assert built.returncode == 0, built.stderr
    failed = run(["-c", SCRIPT, "broken:x"], folder)
    assert failed.returncode == 1 and "failed to load: ModuleNotFoundError" in failed.stderr
    unknown = run(["-c", SCRIPT, "vendor:x"], folder)
    assert "no instrument driver 'vendor'; known: broken, example" in unknown.stderr
