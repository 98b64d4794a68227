"""Instrument capabilities, the driver registry, and the replay and simulated microscopes.

``make_instrument("replay:beps", dwell_s=0.0)`` builds a driver from a spec string; see
:mod:`edge_agent.instruments.registry`.
"""

from edge_agent.instruments.base import (
    AcquiresSpectrum,
    Describes,
    Instrument,
    InstrumentInfo,
    MovesProbe,
    ReportingBase,
    Scans,
    Stoppable,
)
from edge_agent.instruments.registry import driver, drivers, make_instrument, parse_spec

__all__ = [
    "AcquiresSpectrum", "Describes", "Instrument", "InstrumentInfo", "MovesProbe",
    "ReportingBase", "Scans", "Stoppable", "driver", "drivers", "make_instrument", "parse_spec",
]
