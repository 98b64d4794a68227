"""Candidates: patch extraction, normalisation, scale, borders, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from planner_cluster.candidates import make_candidates
from planner_cluster.errors import CandidateError


def test_reflect_gives_every_pixel_a_patch_centred_on_it() -> None:
    image = np.arange(36, dtype=np.float64).reshape(6, 6)
    cands = make_candidates(image, patch=3, normalize="none")
    assert len(cands) == 36
    assert cands.features.shape == (36, 9)
    assert cands.features.dtype == np.float32
    centre = cands.index_of([[2, 3]])[0]
    np.testing.assert_array_equal(cands.features[centre].reshape(3, 3), image[1:4, 2:5])
    corner = cands.features[0].reshape(3, 3)  # reflected border: row -1 mirrors row 1
    np.testing.assert_array_equal(corner[0], image[1, [1, 0, 1]])


def test_valid_border_and_stride_keep_only_full_patches() -> None:
    cands = make_candidates(np.zeros((10, 12)), patch=5, stride=2, border="valid")
    assert cands.coords[:, 0].min() >= 2 and cands.coords[:, 0].max() <= 7
    assert np.all(cands.coords % 2 == 0)
    assert cands.grid_shape == (10, 12)


def test_scale_maps_grid_points_to_blocks_of_the_image() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(4 * 8, 3 * 8))
    cands = make_candidates(image, patch=8, scale=8, normalize="none")
    assert cands.grid_shape == (4, 3) and len(cands) == 12
    i = cands.index_of([[2, 1]])[0]
    np.testing.assert_allclose(cands.features[i].reshape(8, 8), image[16:24, 8:16], rtol=1e-6)
    np.testing.assert_array_equal(cands.pixel_coords[i], [20, 12])


def test_patch_normalisation_and_channels() -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(size=(16, 16, 2)) * 5 + 3
    cands = make_candidates(image, patch=4, normalize="patch")
    assert cands.features.shape == (256, 32)
    assert cands.patch_shape == (4, 4, 2)
    np.testing.assert_allclose(cands.features.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(cands.features.std(axis=1), 1.0, atol=1e-4)
    levels = make_candidates(image, patch=1)  # the default keeps levels: the image, scaled
    np.testing.assert_allclose(levels.features.reshape(16, 16, 2),
                               (image - image.mean((0, 1))) / image.std((0, 1)), atol=1e-4)
    flat = make_candidates(np.ones((8, 8)), patch=3, normalize="patch")  # stays finite
    assert np.all(np.isfinite(flat.features))


def test_256_by_256_image_gives_65k_candidates() -> None:
    image = np.random.default_rng(2).normal(size=(256, 256)).astype(np.float32)
    cands = make_candidates(image, patch=16)
    assert cands.features.shape == (65536, 256)
    assert cands.features.flags.c_contiguous


@pytest.mark.parametrize(
    ("image", "kwargs"),
    [
        (np.zeros((0, 5)), {"patch": 3}),
        (np.zeros((5,)), {"patch": 3}),
        (np.full((5, 5), np.nan), {"patch": 3}),
        (np.zeros((5, 5)), {"patch": 0}),
        (np.zeros((5, 5)), {"patch": 7, "border": "valid"}),
        (np.zeros((4, 4)), {"patch": 2, "scale": 8}),
    ],
)
def test_bad_images_raise_candidate_error(image: np.ndarray, kwargs: dict[str, int]) -> None:
    with pytest.raises(CandidateError):
        make_candidates(image, **kwargs)  # type: ignore[arg-type]


def test_index_of_rejects_non_candidates() -> None:
    cands = make_candidates(np.zeros((6, 6)), patch=3, stride=2)
    with pytest.raises(CandidateError):
        cands.index_of([[1, 1]])
