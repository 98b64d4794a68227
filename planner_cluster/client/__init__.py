"""A Python client for the campaign monitor, for notebooks (docs/notebooks/live_campaign.ipynb).

``AutopilotClient(url, token)`` lists campaigns, fetches maps and measurements as numpy
arrays (xarray if installed), follows events live and sends controls. Light on purpose:
standard library HTTP and numpy, no torch.
"""

from .events import LiveEvent
from .session import AutopilotClient, ClientError, MonitorUnreachable, RequestRefused

__all__ = ["AutopilotClient", "ClientError", "LiveEvent", "MonitorUnreachable",
           "RequestRefused"]
