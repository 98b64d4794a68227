"""Experiment state in Redis: the only package that talks to Redis (key schema: docs/state.md)."""

from .blobs import BlobStore, BlobStoreError
from .records import CampaignRecord, Event, PlanRecord, StoredMeasurement
from .store import CampaignEndedError, CampaignLimitError, StateError, StateStore

__all__ = ["BlobStore", "BlobStoreError", "CampaignEndedError", "CampaignLimitError",
           "CampaignRecord", "Event", "PlanRecord", "StateError", "StateStore", "StoredMeasurement"]
