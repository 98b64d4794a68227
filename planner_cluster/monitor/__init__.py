"""The campaign monitor: web dashboard, JSON API with roles, live events, Prometheus metrics.

Reads and writes Redis only through :mod:`planner_cluster.state` (docs/monitor.md).
"""

from .app import MonitorServer, create_app
from .config import MonitorConfig, load_monitor_config

__all__ = ["MonitorConfig", "MonitorServer", "create_app", "load_monitor_config"]
