"""Shared for the deploy/ file tests: where the files are, and YAML loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..conftest import REPO

DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def load_yaml(path: Path) -> list[Any]:
    """Every document in a YAML file (empty documents dropped)."""
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]
