"""Where replay data come from: the configured data folder, else the packaged BEPS crop."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edge_agent.config import data_dir_from_environment, load_config
from edge_agent.instruments.datasets import BEPS_FILE, load_dataset, read_beps_loops
from edge_agent.instruments.packaged import CROP_SIZE, CROP_START, crop_file
from edge_agent.instruments.registry import make_instrument


def test_the_packaged_crop_is_the_centre_of_the_real_file(shared_data: Path) -> None:
    pytest.importorskip("h5py")
    loops, volts = read_beps_loops(shared_data / BEPS_FILE)
    crop = load_dataset("beps_crop")
    rows = slice(CROP_START, CROP_START + CROP_SIZE)
    np.testing.assert_array_equal(crop.spectra, loops[rows, rows].astype(np.float32))
    np.testing.assert_array_equal(crop.axis, volts)
    assert crop.grid_shape == (24, 24) and "pycroscopy/DTMicroscope" in crop.attribution
    assert crop_file().stat().st_size < 200_000  # the wheel stays light
    assert (crop_file().parent / "README.md").read_text().count("MIT licence") == 1


def test_beps_comes_from_the_data_folder_else_from_the_package(
        shared_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("h5py")
    full = make_instrument("replay:beps", dwell_s=0.0, data_dir=str(shared_data))
    assert full.info.grid_shape == (50, 50)
    with caplog.at_level(logging.WARNING):
        fallback = make_instrument("replay:beps", dwell_s=0.0, data_dir=str(tmp_path))
    assert fallback.info.grid_shape == (24, 24)
    assert "replaying the packaged beps_crop instead" in caplog.text
    assert str(tmp_path) in caplog.text
    with pytest.raises(FileNotFoundError, match=BEPS_FILE):  # the data set itself is exact
        load_dataset("beps", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset file not found"):
        load_dataset("sts", data_dir=tmp_path)


def test_the_data_folder_setting_and_its_environment_names(tmp_path: Path) -> None:
    env = {"AUTOPILOT_DATA": "/data/shared"}
    assert load_config({"campaign": "c"}, environ=env).data_dir == Path("/data/shared")
    env["AUTOPILOT_EDGE_DATA_DIR"] = "/data/edge"
    assert load_config({"campaign": "c"}, environ=env).data_dir == Path("/data/edge")
    flags = {"campaign": "c", "data_dir": tmp_path}
    assert load_config(flags, environ=env).data_dir == tmp_path
    assert data_dir_from_environment({"AUTOPILOT_DATA": "/d"}) == Path("/d")
    assert data_dir_from_environment({}) is None
    assert load_config({"campaign": "c"}, environ={}).data_dir is None
