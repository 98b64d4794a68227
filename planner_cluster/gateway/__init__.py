"""The gateway between edges and the planner's state: server (sockets, auth, one loop turn),
handlers, measurement ingest (group commit), pushes from the events stream, seed plans."""

from .server import Gateway
from .settings import PLANNER_ACTIONS, GatewaySettings, Refusal

__all__ = ["PLANNER_ACTIONS", "Gateway", "GatewaySettings", "Refusal"]
