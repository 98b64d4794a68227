"""Experiment state in Redis: the only package that talks to Redis (key schema: docs/state.md)."""

from .blobs import BlobStore, BlobStoreError
from .records import (
    CAMPAIGN_STATUSES,
    FINAL_STATUSES,
    CampaignRecord,
    Event,
    PlanRecord,
    StoredMeasurement,
)
from .store import StateError, StateStore

__all__ = ["CAMPAIGN_STATUSES", "FINAL_STATUSES", "BlobStore", "BlobStoreError",
           "CampaignRecord", "Event", "PlanRecord", "StateError", "StateStore",
           "StoredMeasurement"]
