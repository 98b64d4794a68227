"""Acquisition: score candidates from a posterior, then pick a diverse batch."""

from planner_cluster.acquisition.batch import (
    BatchSelection,
    CovarianceFn,
    RowsCovarianceFn,
    select_batch,
)
from planner_cluster.acquisition.functions import (
    ACQUISITIONS,
    AcquisitionSpec,
    acquisition,
    evaluate,
    get_acquisition,
)

__all__ = [
    "ACQUISITIONS",
    "AcquisitionSpec",
    "BatchSelection",
    "CovarianceFn",
    "RowsCovarianceFn",
    "acquisition",
    "evaluate",
    "get_acquisition",
    "select_batch",
]
