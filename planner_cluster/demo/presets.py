"""What the demo runs on each data set: the instrument, the scalarizer and the patch size.

The settings follow the replay benchmark (``benchmarks/replay.py``): loop area on the BEPS
PbTiO3 loops, the Ti L-edge band on the STEM-EELS titanate, zero-bias conductance on the STS
grid, and loop area on the procedural ferroelectric sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRESETS", "DatasetPreset", "campaign_config", "edge_config_toml"]


@dataclass(frozen=True)
class DatasetPreset:
    """One data set the demo can replay.

    Attributes:
        name: the ``--dataset`` value.
        instrument: the edge's instrument spec (``{seed}`` is filled in for ``sim``).
        scalarizer / scalarizer_params: the reward, maximised.
        patch: patch side in structural pixels.
        description: one line for the terminal and the report.
        metadata: the technique and units, passed in the campaign config's ``metadata``
            table so that the archive labels its axes (docs/archive.md).
    """

    name: str
    instrument: str
    scalarizer: str
    scalarizer_params: Mapping[str, Any] = field(default_factory=dict)
    patch: int = 8
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def instrument_spec(self, seed: int) -> str:
        return self.instrument.format(seed=seed)


PRESETS: dict[str, DatasetPreset] = {p.name: p for p in (
    DatasetPreset("beps", "replay:beps", "loop_area", {}, 7,
                  "BEPS hysteresis loops of a PbTiO3 film (50 x 50, real data)",
                  {"technique": "spm", "axis_name": "bias", "axis_units": "V",
                   "signal_units": "a.u. (piezoresponse)", "sample": "PbTiO3 film"}),
    DatasetPreset("eels", "replay:eels", "band_integral",
                  {"lo": 450.0, "hi": 475.0, "background": "linear"}, 32,
                  "STEM-EELS titanate, Ti L-edge under HAADF (49 x 6, real data)",
                  {"technique": "eels", "axis_name": "energy loss", "axis_units": "eV",
                   "signal_units": "counts"}),
    DatasetPreset("sts", "replay:sts", "band_integral",
                  {"lo": -0.05, "hi": 0.05, "background": "none"}, 5,
                  "Nanonis STS grid, zero-bias dI/dV under height Z (30 x 30, real data)",
                  {"technique": "sts", "axis_name": "bias", "axis_units": "V",
                   "signal_units": "a.u. (dI/dV)"}),
    DatasetPreset("sim", "sim:loops?size=64&seed={seed}", "loop_area", {}, 9,
                  "procedural ferroelectric sample (64 x 64, simulated)",
                  {"technique": "spm", "axis_name": "bias", "axis_units": "V",
                   "signal_units": "a.u."}),
)}


def campaign_config(preset: DatasetPreset, *, scalarizer: str | None, acquisition: str,
                    batch: int, seed: int, seeds: int | None = None) -> dict[str, Any]:
    """The ``[campaign]`` table the edge passes verbatim in ``campaign_start`` (``seeds``:
    the campaign default unless given)."""
    if scalarizer and scalarizer != preset.scalarizer:
        scal: dict[str, Any] = {"name": scalarizer, "params": {}}
    else:
        scal = {"name": preset.scalarizer, "params": dict(preset.scalarizer_params)}
    config = {"scalarizer": scal, "acquisition": {"name": acquisition, "maximize": True},
              "patch": preset.patch, "seed": seed, "batch": batch,
              "model": {"seed": seed}, "owner": "demo",
              "metadata": {**preset.metadata, "dataset": preset.name}}
    if seeds is not None:
        config["seeds"] = seeds
    return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {value!r} to TOML")


def _toml_table(name: str, table: Mapping[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    nested = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in nested:
        lines += ["", *_toml_table(f"{name}.{key}", value)]
    return lines


def edge_config_toml(campaign: Mapping[str, Any]) -> str:
    """An edge config file holding only the ``[campaign]`` table."""
    return "\n".join(_toml_table("campaign", campaign)) + "\n"
