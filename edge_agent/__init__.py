"""The edge agent: runs on the microscope PC, drives the instrument, never loses a measurement.

Public API: :class:`EdgeAgent` (run one campaign), :class:`EdgeConfig` / :func:`load_config`,
:func:`make_instrument`, :class:`Spool`, :class:`ControlClient`, and the error root
:class:`EdgeAgentError`. Imports only ``protocol``, numpy, pyzmq, msgpack and the stdlib.
"""

from edge_agent.agent import EdgeAgent
from edge_agent.commands import Verdict
from edge_agent.config import EdgeConfig, load_config
from edge_agent.control import ControlClient
from edge_agent.errors import EdgeAgentError
from edge_agent.instruments import make_instrument
from edge_agent.progress import Progress
from edge_agent.run_result import RunResult
from edge_agent.spool import Spool
from edge_agent.state import State

__all__ = [
    "ControlClient", "EdgeAgent", "EdgeAgentError", "EdgeConfig", "Progress", "RunResult",
    "Spool", "State", "Verdict", "load_config", "make_instrument",
]
