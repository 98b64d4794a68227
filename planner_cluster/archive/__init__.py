"""Campaign archives: one self-describing NeXus/HDF5 file per campaign (docs/archive.md).

:mod:`.from_store` exports a campaign from Redis (``autopilot campaigns export``), the demo
writes the same format with its extra groups, and ``autopilot replay`` reads it back
(:func:`read_archive`) to recompute every decision, steering included (:mod:`.steering`).
"""

from .content import (
    ArchiveData,
    Calibration,
    ControlRecord,
    LogEntry,
    ModelTable,
    settings_record,
)
from .nexus_read import ArchiveFormatError, read_archive
from .nexus_write import write_archive

__all__ = ["ArchiveData", "ArchiveFormatError", "Calibration", "ControlRecord", "LogEntry",
           "ModelTable", "read_archive", "settings_record", "write_archive"]
