"""The replay file (.h5): round trip, refusals, replay, export-dataset; the new datasets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.instruments.datasets import ReplayDataset, load_dataset
from edge_agent.instruments.datasets_extra import microstructure

h5py = pytest.importorskip("h5py")

from edge_agent.instruments.replay import ReplayMicroscope, make_replay  # noqa: E402
from edge_agent.instruments.replay_file import (  # noqa: E402
    FORMAT,
    read_replay_h5,
    write_replay_h5,
)


def _small(channels: int | None = None, scalar: bool = False, scale: int = 2) -> ReplayDataset:
    rng = np.random.default_rng(1)
    shape = (6 * scale, 5 * scale) + ((channels,) if channels else ())
    return ReplayDataset(
        name="small", image=rng.random(shape, dtype=np.float32),
        spectra=rng.random((6, 5, 7), dtype=np.float32), axis=np.linspace(0.0, 1.0, 7),
        axis_name="bias", axis_units="V", signal_units="nA", patch_scale=scale,
        attribution="test", image_name="topography",
        scalar=rng.random((6, 5)) if scalar else None,
    )


@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize("scalar", [False, True])
def test_round_trip(tmp_path: Path, channels: int | None, scalar: bool) -> None:
    ds = _small(channels, scalar)
    path = write_replay_h5(ds, tmp_path / "sub" / "small.h5")
    back = read_replay_h5(path)
    for key in ("image", "spectra", "axis"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ds, key))
    assert back.image.dtype == np.float32 and back.axis.dtype == np.float64
    for key in ("name", "axis_name", "axis_units", "signal_units", "attribution", "image_name",
                "patch_scale"):
        assert getattr(back, key) == getattr(ds, key)
    if scalar:
        assert back.scalar is not None and ds.scalar is not None
        np.testing.assert_array_equal(back.scalar, ds.scalar)
    else:
        assert back.scalar is None
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == 1
    assert not list(tmp_path.glob("**/*.tmp"))


def test_dataset_refuses_a_scalar_off_the_grid() -> None:
    with pytest.raises(ValueError, match="scalar"):
        replace(_small(), scalar=np.zeros((5, 6)))


def _edit(key: str, value: object) -> Callable[[Any], None]:
    def apply(f: Any) -> None:
        if key in f:
            del f[key]
        if value is not None:
            f[key] = value

    return apply


def _attr(key: str, value: object) -> Callable[[Any], None]:
    def apply(f: Any) -> None:
        f.attrs[key] = value

    return apply


@pytest.mark.parametrize("corrupt, message", [
    (_edit("spectra", None), "missing dataset(s) spectra"),
    (_edit("spectra", np.zeros((5, 5, 7), np.float32)), "spectra grid (5, 5) != image"),
    (_edit("spectra", np.zeros((6, 5), np.float32)), "rows x cols x channels"),
    (_edit("image", np.zeros((12,), np.float32)), "image must be H x W"),
    (_edit("axis", np.arange(6.0)), "axis shape (6,) does not match 7"),
    (_edit("scalar", np.zeros((6, 4))), "scalar shape (6, 4) does not match"),
    (_edit("axis", np.array([0, 1, 2, np.nan, 4, 5, 6.0])), "axis holds 1 non-finite"),
    (_edit("image", np.array([["a"] * 10] * 12, dtype="S1")), "image has dtype"),
    (_attr("patch_scale", 3), "// patch_scale 3"),
    (_attr("patch_scale", 0), "patch_scale must be >= 1"),
    (_attr("patch_scale", 1.5), "not an integer"),
    (_attr("format", "something else"), "format is 'something else'"),
    (_attr("format_version", 2), "newer than this reader"),
])
def test_malformed_files_are_refused_by_name(tmp_path: Path,
                                             corrupt: Callable[[Any], None],
                                             message: str) -> None:
    path = write_replay_h5(_small(scalar=True), tmp_path / "bad.h5")
    with h5py.File(path, "a") as f:
        corrupt(f)
    with pytest.raises(ValueError) as err:
        read_replay_h5(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_unreadable_and_unwritable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_replay_h5(junk)
    with pytest.raises(FileNotFoundError):
        read_replay_h5(tmp_path / "absent.h5")
    spectra = _small().spectra.copy()
    spectra[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="out.h5: spectra holds 1 non-finite"):
        write_replay_h5(replace(_small(), spectra=spectra), tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_a_hand_made_file_without_attributes_plays(tmp_path: Path) -> None:
    path = tmp_path / "mine.hdf5"
    with h5py.File(path, "w") as f:
        f["image"] = np.ones((4, 4), np.uint16)
        f["spectra"] = np.ones((4, 4, 3))
        f["axis"] = np.arange(3)
    ds = read_replay_h5(path)
    assert ds.name == "mine" and ds.patch_scale == 1 and ds.image.dtype == np.float32


def test_replay_plays_a_written_file(tmp_path: Path) -> None:
    ds = _small(3, scalar=True)
    path = write_replay_h5(ds, tmp_path / "small.h5")
    scope = make_replay(str(path), dwell_s=0.0)
    assert scope.info.grid_shape == (6, 5) and scope.info.patch_scale == 2
    assert scope.info.image_shape == (12, 10, 3)
    scope.scan()
    np.testing.assert_array_equal(scope.acquire(4, 3), ds.spectra[4, 3])
    assert isinstance(scope, ReplayMicroscope) and scope.dataset.scalar is not None


@pytest.mark.parametrize("name", ["procedural", "particles"])
def test_export_dataset_writes_a_readable_file(tmp_path: Path, name: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-dataset", name, str(tmp_path)]) == 0
    assert f"wrote {tmp_path / f'{name}.h5'}" in capsys.readouterr().out
    back = read_replay_h5(tmp_path / f"{name}.h5")
    ds = load_dataset(name)
    np.testing.assert_array_equal(back.spectra, ds.spectra)
    assert back.name == name and (back.scalar is None) == (ds.scalar is None)


def test_export_dataset_reports_missing_sources(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export-dataset", "beps", str(tmp_path), "--data-dir", str(empty)]) == 1
    assert "cannot export beps: dataset file not found" in capsys.readouterr().err
    assert main(["export-dataset", "nope", str(tmp_path)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_particles_rare_sites_sit_on_particle_boundary_contacts() -> None:
    ds = load_dataset("particles")
    s = microstructure(64, 0)
    assert ds.image.shape == (64, 64) and ds.spectra.shape == (64, 64, 128)
    assert ds.scalar is not None and ds.patch_scale == 1
    rare = ds.scalar > 10.0
    assert 0.01 <= rare.mean() <= 0.03
    # Every rare site is on (or next to) a particle AND a grain boundary ...
    assert np.all(s.particle_distance[rare] < 1.0) and np.all(s.boundary_distance[rare] < 1.0)
    # ... but neither alone is enough: most particle pixels and boundary pixels are not rare.
    assert rare[s.particle_distance < 0].mean() < 0.5
    assert rare[s.boundary_distance < 1.0].mean() < 0.25
    # The line is in the spectra: Cu K-alpha counts follow the scalar.
    line = ds.spectra[:, :, np.abs(ds.axis - 8.05) < 0.15].sum(axis=2)
    assert line[rare].mean() > 5 * line[~rare].mean()
    # Deterministic from the seed.
    np.testing.assert_array_equal(load_dataset("particles").spectra, ds.spectra)
    assert not np.array_equal(load_dataset("particles", seed=1).image, ds.image)


def _need(data_dir: Path, name: str) -> None:
    if not (data_dir / name).is_file():
        pytest.skip(f"{name} is absent from {data_dir}")
    pytest.importorskip("rsciio", reason="the SEM-EDS loaders read .bcf with rosettasciio")


def test_sem_eds_shapes(shared_data: Path) -> None:
    _need(shared_data, "bcf_v2_50x50px.bcf")
    ds = load_dataset("sem_eds", data_dir=shared_data)
    assert ds.image.shape == (50, 50) and ds.spectra.shape == (50, 50, 2048)
    assert ds.patch_scale == 1 and ds.axis_units == "keV" and "GPL-3.0" in ds.attribution
    assert ds.image.dtype == np.float32 and ds.spectra.dtype == np.float32
    assert ds.axis[0] == pytest.approx(-0.473, abs=1e-3) and np.all(np.diff(ds.axis) > 0)
    # Al K-alpha (1.49 keV) is the strongest line of the mean spectrum.
    assert ds.axis[np.argmax(ds.spectra.mean(axis=(0, 1)))] == pytest.approx(1.49, abs=0.05)


def test_sem_eds_hitachi_is_binned_8x8(shared_data: Path) -> None:
    _need(shared_data, "Hitachi_TM3030Plus.bcf")
    ds = load_dataset("sem_eds_hitachi", data_dir=shared_data)
    assert ds.image.shape == (240, 320) and ds.spectra.shape == (30, 40, 2048)
    assert ds.patch_scale == 8 and ds.grid_shape == (30, 40)
    assert 64 * 1.5 < ds.spectra.sum(axis=2).mean() < 64 * 3  # ~2 counts per pixel, summed
