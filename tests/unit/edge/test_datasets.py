"""Replay dataset loaders on the real files, and the procedural sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.instruments.datasets import DATASETS, load_dataset
from edge_agent.instruments.procedural import procedural


def _need(data_dir: Path, *names: str) -> None:
    for name in names:
        if not (data_dir / name).is_file():
            pytest.skip(f"{name} is absent from {data_dir}")


def test_registry() -> None:
    assert {"beps", "eels", "sts", "procedural"} <= set(DATASETS)
    with pytest.raises(KeyError, match="known"):
        load_dataset("nope")


def test_beps_loops_and_zero_bias_image(shared_data: Path) -> None:
    _need(shared_data, "BEPS_PTO_50x50.h5")
    pytest.importorskip("h5py")
    ds = load_dataset("beps", data_dir=shared_data)
    assert ds.image.shape == (50, 50) and ds.image.dtype == np.float32
    assert ds.spectra.shape == (50, 50, 64) and ds.patch_scale == 1
    assert ds.axis[0] == 0.0 and ds.axis.max() == pytest.approx(8.5)
    assert ds.axis_units == "V" and "pycroscopy" in ds.attribution
    # The image is the first-leg zero-bias response, clipped against SHO-fit outliers.
    raw = ds.spectra[:, :, 0]
    lo, hi = np.percentile(raw, [0.5, 99.5])
    np.testing.assert_allclose(ds.image, np.clip(raw, lo, hi), rtol=1e-6)


def test_eels_spectra_sit_under_32x32_haadf_blocks(shared_data: Path) -> None:
    _need(shared_data, "SI-EELS_Spectrum_Image.dm3", "SI-HAADF.dm3")
    pytest.importorskip("rsciio")
    ds = load_dataset("eels", data_dir=shared_data)
    assert ds.spectra.shape == (49, 6, 1024)
    assert ds.image.shape == (1568, 192) and ds.patch_scale == 32
    assert ds.axis[0] == pytest.approx(350.0) and ds.axis[-1] == pytest.approx(861.5)
    assert ds.grid_shape == (49, 6)
    # The Ti-L edge near 456 eV stands above its neighbourhood on average.
    mean = ds.spectra.reshape(-1, 1024).mean(axis=0)
    ti = (ds.axis > 455) & (ds.axis < 462)
    before = (ds.axis > 440) & (ds.axis < 450)
    assert mean[ti].mean() > mean[before].mean()


def test_sts_grid_parsed_from_the_nanonis_header(shared_data: Path) -> None:
    _need(shared_data, "STS_grid_lockin.3ds")
    ds = load_dataset("sts", data_dir=shared_data)
    assert ds.spectra.shape == (30, 30, 200) and ds.image.shape == (30, 30)
    assert ds.axis[0] == pytest.approx(-0.22, abs=1e-6) and ds.axis[-1] == pytest.approx(
        0.22, abs=1e-6
    )
    assert np.all(np.isfinite(ds.spectra)) and np.all(np.isfinite(ds.image))
    assert float(ds.image.std()) > 0  # heights vary over the grid


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    # (beps falls back to its packaged crop instead: tests/unit/edge/test_data_folder.py)
    with pytest.raises(FileNotFoundError, match="STS_grid_lockin.3ds"):
        load_dataset("sts", data_dir=tmp_path)


@pytest.mark.parametrize("kind", ["loops", "peaks"])
def test_procedural_is_deterministic_and_structured(kind: str) -> None:
    a = procedural(size=48, seed=3, kind=kind)
    b = procedural(size=48, seed=3, kind=kind)
    c = procedural(size=48, seed=4, kind=kind)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (48, 48) and a.spectra.shape[:2] == (48, 48)
    assert a.image.dtype == np.float32 and a.spectra.dtype == np.float32
    with pytest.raises(ValueError):
        procedural(size=48, kind="nope")


def test_procedural_256_is_the_default_size() -> None:
    ds = load_dataset("procedural")
    assert ds.image.shape == (256, 256) and ds.spectra.shape == (256, 256, 64)
