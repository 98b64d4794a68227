"""Exporting a campaign from a real Redis to a NeXus archive: what nexusformat and hyperspy's
reader (rosettasciio) see in it, steering with the model version it took effect at, the
round trip, and the ``autopilot campaigns export`` command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner_cluster.archive import read_archive
from planner_cluster.archive.from_store import ExportError, export_campaign
from planner_cluster.cli import campaigns_main
from planner_cluster.state import PlanRecord, StateStore

GRID = (8, 6)
AXIS = np.linspace(-1.0, 1.0, 16)
XI = {"name": "ei", "maximize": True, "params": {"xi": 0.1}}
CONFIG: dict[str, Any] = {
    "scalarizer": {"name": "band_integral", "params": {"lo": -0.5, "hi": 0.5}},
    "acquisition": XI, "patch": 3, "seeds": 2,
    "metadata": {"technique": "sts", "axis_name": "bias", "axis_units": "V",
                 "signal_units": "nA", "pixel_size": 2.5, "pixel_units": "nm",
                 "sample": "Au(111)"}}


def _plan(store: StateStore, version: int, n: int) -> None:
    store.put_plan("c1", PlanRecord(version, np.array([[1, 1], [2, 3]], np.int32),
                                    np.array([2.0, 1.0], np.float32), "ei", time.time(),
                                    {"n_observed": n, "n_train": n, "loss": 0.5}))


def steered_campaign(store: StateStore) -> None:
    """A campaign as the gateway, monitor and worker leave it: a seed plan, a pause, an
    exploration change the planner applied before its first model, predictions."""
    assert store.create_campaign("c1", edge_id="edge-1", owner="olga", config=CONFIG,
                                 spectral_axis=AXIS)
    store.put_scan("c1", np.arange(48, dtype=np.float32).reshape(GRID), ["topography"])
    store.update_stats("c1", {"grid": list(GRID)})
    _plan(store, 0, 0)
    for i in range(4):
        store.add_measurement("c1", sender="edge-1", session="s", seq=i, row=i, col=i % 3,
                              spectrum=(i + 1) * np.exp(-AXIS ** 2).astype(np.float32),
                              source="seed", plan_version=0, dwell_s=0.1)
    store.push_control("c1", {"action": "pause", "args": {}, "control_id": "p1",
                              "user": "olga"}, origin="dashboard")
    changes = {"acquisition": {**XI, "params": {"xi": 0.5}}}
    store.push_control("c1", {"action": "set_acquisition", "args": changes["acquisition"],
                              "control_id": "k1", "requested": "set_exploration",
                              "user": "olga"}, origin="dashboard")
    store.update_config("c1", changes)
    store.publish_event("c1", "replanned", {"reason": "set_acquisition", "control_id": "k1",
                                            "changes": changes,
                                            "previous": {"acquisition": XI}})
    _plan(store, 1, 4)
    store.put_predictions("c1", 1, np.linspace(0, 1, 48), np.full(48, 0.04))


@pytest.fixture
def archive(store: StateStore, tmp_path: Path) -> Path:
    steered_campaign(store)
    path = tmp_path / "c1.nxs"
    export_campaign(store, "c1", path)
    return path


def test_nexusformat_reads_the_maps_on_the_grid_with_calibration(archive: Path) -> None:
    from nexusformat.nexus import nxload

    root = nxload(str(archive))
    entry = root["entry"]
    assert entry.nxclass == "NXentry" and str(entry["definition"]) == "NXsts"
    assert str(entry["sample/name"]) == "Au(111)" and str(entry["user/name"]) == "olga"
    data = root.plottable_data  # the default NXdata: the map
    assert data.nxsignal.nxname == "scalar" and data.nxsignal.shape == GRID
    y, x = data.nxaxes
    assert (y.nxname, x.nxname) == ("y", "x") and y.attrs["units"] == "nm"
    np.testing.assert_allclose(x.nxvalue, np.arange(6) * 2.5)
    measured = np.isfinite(data.nxsignal.nxvalue)
    assert measured.sum() == 4 and measured[3, 0] and measured[2, 2]
    mean = data["mean"].nxvalue
    np.testing.assert_allclose(mean.reshape(-1), np.linspace(0, 1, 48), rtol=1e-6)
    m = entry["measurements"]
    assert m.nxsignal.shape == (4, 16) and m.nxsignal.attrs["units"] == "nA"
    assert m.nxaxes[-1].nxname == "bias" and m.nxaxes[-1].attrs["units"] == "V"
    assert str(m["time"].nxvalue[0]).endswith("+00:00")  # ISO 8601, UTC


def test_hyperspy_reader_opens_maps_and_spectra_with_units(archive: Path) -> None:
    from rsciio.nexus import file_reader

    signals = {s["metadata"]["General"]["title"]: s for s in file_reader(str(archive))}
    assert {"map", "measurements", "scan", "predictions"} <= set(signals)
    image = signals["map"]
    assert image["data"].shape == GRID
    units = {ax["name"]: ax.get("units") for ax in image["axes"]}
    assert units == {"y": "nm", "x": "nm"}
    assert all(not ax["navigate"] for ax in image["axes"])  # an image, not a stack
    spectra = signals["measurements"]
    bias = next(ax for ax in spectra["axes"] if ax.get("name") == "bias")
    assert bias["units"] == "V" and not bias["navigate"]
    assert bias["scale"] == pytest.approx(AXIS[1] - AXIS[0])


def test_controls_keep_the_model_version_they_took_effect_at(archive: Path) -> None:
    a = read_archive(archive)
    pause, explore = a.controls
    assert (pause.action, pause.status, pause.plan_index, pause.model_version) == (
        "pause", "recorded", -1, 0)
    assert (explore.requested, explore.status, explore.plan_index,
            explore.model_version) == ("set_exploration", "applied", 1, 1)
    assert a.config["acquisition"]["params"] == {"xi": 0.1}  # as it started
    assert a.final_config["acquisition"]["params"] == {"xi": 0.5}
    assert a.settings["acquisition"]["params"] == {"xi": 0.1}
    assert [e.kind for e in a.log] == ["campaign_created", "scan", "control", "control",
                                       "config", "replanned"]
    assert a.log[-1].model_version == 0 and a.status == "created"
    assert a.schedule["version"].tolist() == [0, 1]
    assert abs(a.schedule["time"][1] - time.time()) < 600
    np.testing.assert_array_equal(a.coords, [[0, 0], [1, 1], [2, 2], [3, 0]])
    assert a.spectra.shape == (4, 16) and np.all(np.isfinite(a.scalars))
    assert sorted(a.recorded_predictions) == [1] and sorted(a.recorded_plans) == [1]
    np.testing.assert_allclose(a.recorded_predictions[1][1], 0.04, rtol=1e-6)


def test_export_command(store: StateStore, redis_server: Any, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    steered_campaign(store)
    out = tmp_path / "c1.h5"
    args = ["--redis", redis_server.url, "--prefix", store.prefix]
    assert campaigns_main(["export", "c1", str(out), *args]) == 0
    assert "4 measurements, 2 plans, 2 controls" in capsys.readouterr().out
    assert read_archive(out).campaign_id == "c1"
    assert campaigns_main(["export", "c1", str(out), *args]) == 2  # no silent overwrite
    assert "--force" in capsys.readouterr().err
    assert campaigns_main(["export", "nope", str(tmp_path / "x.h5"), *args]) == 1
    assert "no campaign 'nope'" in capsys.readouterr().err
    assert campaigns_main(args) == 0 and "c1" in capsys.readouterr().out  # still lists


def test_a_campaign_without_a_scan_cannot_be_exported(store: StateStore, tmp_path: Path) -> None:
    store.create_campaign("c0", edge_id="e", owner="o", config={}, spectral_axis=None)
    with pytest.raises(ExportError, match="no structural scan"):
        export_campaign(store, "c0", tmp_path / "c0.h5")
