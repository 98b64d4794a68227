"""A driver plug-in made importable without pip: the package plus a ``.dist-info`` folder in a
folder put on ``PYTHONPATH``. ``importlib.metadata`` finds its entry points exactly as it finds
a pip-installed package's (the full pip install is tests/integration/test_edge_plugins.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "driver_plugin"
GROUP = "microscope_autopilot.drivers"


def plugin_folder(folder: Path, entry_points: dict[str, str], name: str = "example-plugin",
                  with_example: bool = True) -> Path:
    """Write ``folder`` holding the example driver package (if ``with_example``) and the
    metadata of a distribution ``name`` declaring ``entry_points`` (kind -> value)."""
    folder.mkdir(parents=True, exist_ok=True)
    if with_example:
        shutil.copytree(EXAMPLE / "autopilot_example_driver",
                        folder / "autopilot_example_driver", dirs_exist_ok=True)
    info = folder / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = [f"[{GROUP}]"] + [f"{kind} = {value}" for kind, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return folder


def env_with(*folders: Path) -> dict[str, str]:
    """The environment for a child process that sees ``folders`` and the repository."""
    path = os.pathsep.join([*map(str, folders), str(REPO)])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
