"""Raw spectra to scalars, the one way every part of the planner does it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from planner_cluster.errors import ScalarizerError
from planner_cluster.scalarizers import scalarize

__all__ = ["score_spectra"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def score_spectra(name: str, params: Mapping[str, Any] | None, spectra: npt.ArrayLike,
                  axis: npt.ArrayLike | None) -> FloatArray:
    """Scalarizer ``name`` over ``m x L`` spectra (``m``); NaN where a spectrum cannot be
    scored (one odd loop must neither stop a campaign nor be made up). The axis is used when
    it has ``L`` values, else ``0..L-1``."""
    batch = np.asarray(spectra, dtype=np.float64)
    batch = batch.reshape(batch.shape[0], -1)
    if batch.shape[0] == 0:
        return np.zeros(0)
    length = batch.shape[1]
    ax = None if axis is None else np.asarray(axis, dtype=np.float64).reshape(-1)
    use = ax if ax is not None and ax.shape[0] == length else np.arange(length, dtype=np.float64)
    kwargs = dict(params or {})
    try:
        values = scalarize(name, batch, use, **kwargs)
    except ScalarizerError:
        values = np.full(batch.shape[0], np.nan)
        for i, row in enumerate(batch):
            try:
                values[i] = scalarize(name, row[None, :], use, **kwargs)[0]
            except ScalarizerError as exc:
                logger.debug("spectrum %d not scored: %s", i, exc)
    return np.where(np.isfinite(values), values, np.nan)
