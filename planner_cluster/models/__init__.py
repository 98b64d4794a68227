"""Surrogate models: deep kernel learning (neural feature extractor + exact GP, gpytorch)."""

from planner_cluster.models.config import DKLConfig, FitReport
from planner_cluster.models.dkl import DKLModel
from planner_cluster.models.ensemble import DKLEnsemble
from planner_cluster.models.posterior import LatentPosterior

__all__ = ["DKLConfig", "DKLEnsemble", "DKLModel", "FitReport", "LatentPosterior"]
