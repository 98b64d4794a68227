"""Candidates: where the microscope may measure next, and what the model sees there.

A structural image (``H x W`` or ``H x W x C``) is cut into one patch per point of the
spectroscopy grid. With ``scale`` structural pixels per spectroscopy point (1 for a PFM image
with a loop at every pixel, 32 for HAADF sub-pixels under each EELS spectrum), the grid is
``(H // scale) x (W // scale)``; the point ``(i, j)`` sits on the centre pixel
``(scale * i + scale // 2, scale * j + scale // 2)`` and its patch is the ``patch x patch``
window around that pixel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner_cluster.campaign.settings import Normalization
from planner_cluster.errors import CandidateError

__all__ = ["CandidateSet", "make_candidates"]

logger = logging.getLogger(__name__)

Border = Literal["reflect", "valid"]

_EPS = 1e-12


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """The candidate points of one field of view and their model inputs.

    Attributes:
        coords: ``n x 2`` int64, (row, col) on the spectroscopy grid.
        features: ``n x d`` float32, one flattened, normalised patch per row
            (``d = patch * patch * C``, channel-last order ``patch x patch x C``).
        grid_shape: (rows, cols) of the spectroscopy grid.
        patch_shape: (patch, patch, C): how to unflatten one feature row.
        scale: structural pixels per spectroscopy grid point.
        stride: grid stride between candidates.
    """

    coords: npt.NDArray[np.int64]
    features: npt.NDArray[np.float32]
    grid_shape: tuple[int, int]
    patch_shape: tuple[int, int, int]
    scale: int = 1
    stride: int = 1

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    @property
    def pixel_coords(self) -> npt.NDArray[np.int64]:
        """``n x 2`` centre pixel of each candidate in the structural image."""
        return self.coords * self.scale + self.scale // 2

    def flat_index(self) -> npt.NDArray[np.int64]:
        """``n`` row-major index of each candidate on the spectroscopy grid."""
        return self.coords[:, 0] * self.grid_shape[1] + self.coords[:, 1]

    def index_of(self, coords: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Candidate indices of grid coordinates (``m x 2``); raises if one is not a candidate."""
        query = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
        lookup = np.full(self.grid_shape[0] * self.grid_shape[1], -1, dtype=np.int64)
        lookup[self.flat_index()] = np.arange(len(self), dtype=np.int64)
        inside = (
            (query[:, 0] >= 0)
            & (query[:, 0] < self.grid_shape[0])
            & (query[:, 1] >= 0)
            & (query[:, 1] < self.grid_shape[1])
        )
        out = np.full(query.shape[0], -1, dtype=np.int64)
        out[inside] = lookup[query[inside, 0] * self.grid_shape[1] + query[inside, 1]]
        if np.any(out < 0):
            bad = query[out < 0][:5].tolist()
            raise CandidateError(f"coordinates {bad} are not candidates")
        return out


def make_candidates(
    image: npt.ArrayLike,
    *,
    patch: int,
    stride: int = 1,
    border: Border = "reflect",
    scale: int = 1,
    normalize: Normalization = "image",
) -> CandidateSet:
    """Cut a structural image into one normalised patch per spectroscopy grid point.

    Args:
        image: ``H x W`` or ``H x W x C`` structural image (any real dtype; finite).
        patch: patch side in structural pixels (>= 1).
        stride: keep every ``stride``-th grid point along each axis.
        border: ``"reflect"`` pads the image so every grid point is a candidate; ``"valid"``
            keeps only the grid points whose patch lies fully inside the image.
        scale: structural pixels per spectroscopy grid point.
        normalize: ``"image"`` (the campaign default) standardises with the whole image's
            mean and std per channel (keeps levels), ``"patch"`` standardises each patch on
            its own (zero mean, unit std; shape, not level), ``"none"`` copies the values.

    Returns:
        The candidate set; ``features`` is ``n x (patch * patch * C)`` float32.

    Raises:
        CandidateError: bad shape, non-finite values, bad parameters, or no candidates.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[0] == 0 or img.shape[1] == 0 or img.shape[2] == 0:
        raise CandidateError("image must be H x W or H x W x C and non-empty", shape=img.shape)
    if not np.issubdtype(img.dtype, np.number) or np.iscomplexobj(img):
        raise CandidateError(f"image must be real-valued, got dtype {img.dtype}")
    if patch < 1 or stride < 1 or scale < 1:
        raise CandidateError(
            f"patch, stride and scale must be >= 1 (got {patch}, {stride}, {scale})"
        )
    img = img.astype(np.float32, copy=False)
    if not np.all(np.isfinite(img)):
        raise CandidateError("image contains NaN or infinite values", shape=img.shape)
    height, width, channels = img.shape
    grid = (height // scale, width // scale)
    if grid[0] == 0 or grid[1] == 0:
        raise CandidateError(f"image smaller than one grid cell of scale {scale}", shape=img.shape)

    rows = np.arange(0, grid[0], stride, dtype=np.int64)
    cols = np.arange(0, grid[1], stride, dtype=np.int64)
    centre_r = rows * scale + scale // 2
    centre_c = cols * scale + scale // 2
    before = patch // 2
    after = patch - before - 1
    if border == "valid":
        rows = rows[(centre_r - before >= 0) & (centre_r + after < height)]
        cols = cols[(centre_c - before >= 0) & (centre_c + after < width)]
        padded = img
        offset = 0
    elif border == "reflect":
        if before >= height or before >= width:
            raise CandidateError(f"patch {patch} too large to reflect-pad", shape=img.shape)
        padded = np.pad(img, ((before, after), (before, after), (0, 0)), mode="reflect")
        offset = before
    else:
        raise CandidateError(f"unknown border mode {border!r}")
    if rows.size == 0 or cols.size == 0:
        raise CandidateError(f"no grid point has a full {patch} x {patch} patch", shape=img.shape)

    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1)
    # windows[r, c] is the patch whose top-left corner is padded[r, c]: C x patch x patch (view).
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch, patch), axis=(0, 1))
    top = coords * scale + scale // 2 - before + offset
    picked = windows[top[:, 0], top[:, 1]]  # n x C x p x p: the one copy
    features = np.ascontiguousarray(picked.transpose(0, 2, 3, 1)).reshape(len(coords), -1)
    _normalize(features, img, normalize)
    logger.debug(
        "made %d candidates of %d features from %s", len(coords), features.shape[1], img.shape
    )
    return CandidateSet(
        coords=coords,
        features=features,
        grid_shape=grid,
        patch_shape=(patch, patch, channels),
        scale=scale,
        stride=stride,
    )


def _normalize(
    features: npt.NDArray[np.float32], image: npt.NDArray[np.float32], mode: str
) -> None:
    """Normalise ``n x d`` features in place."""
    if mode == "none":
        return
    if mode == "patch":
        mean = features.mean(axis=1, keepdims=True)
        features -= mean
        std = features.std(axis=1, keepdims=True)
        floor = max(float(image.std()) * 1e-3, _EPS)
        features /= np.maximum(std, floor)
        return
    if mode == "image":
        channels = image.shape[2]
        mean = image.reshape(-1, channels).mean(axis=0)
        std = np.maximum(image.reshape(-1, channels).std(axis=0), _EPS)
        view = features.reshape(features.shape[0], -1, channels)
        view -= mean
        view /= std
        return
    raise CandidateError(f"unknown normalisation {mode!r}")
