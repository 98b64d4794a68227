"""Torch-free campaign definitions shared by the gateway, the workers, the monitor and tools:
the settings schema with its defaults (:mod:`.settings`)."""

from planner_cluster.campaign.model_settings import DKLConfig
from planner_cluster.campaign.settings import (
    ACQUISITION_NAMES,
    AcquisitionPolicy,
    CampaignSettings,
    Normalization,
)

__all__ = ["ACQUISITION_NAMES", "AcquisitionPolicy", "CampaignSettings", "DKLConfig",
           "Normalization"]
