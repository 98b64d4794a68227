"""The microscope-autopilot wire protocol (spec: docs/protocol.md, version 1).

Shared by the edge agent and the planner; imports nothing of ours.
"""

from .codec import DELIMITER, decode, encode
from .errors import (
    ArrayError,
    AuthenticationError,
    ContentError,
    ErrorCode,
    FrameTooLargeError,
    FramingError,
    HeaderError,
    NonFiniteError,
    ProtocolError,
    RemoteError,
    TransportError,
    UnknownMessageTypeError,
    VersionError,
)
from .ids import ID_RULE, valid_id
from .limits import DEFAULT_LIMITS, Limits
from .messages import (
    CONTROL_ACTIONS,
    MESSAGE_TYPES,
    Ack,
    Body,
    Bye,
    CampaignStart,
    Control,
    Error,
    Header,
    Heartbeat,
    Hello,
    Measurement,
    Message,
    Plan,
    Scan,
    Welcome,
)
from .session import Session, new_id
from .signing import ReplayGuard, Signer
from .version import PROTOCOL_VERSION, SUPPORTED_VERSIONS

__all__ = [
    "CONTROL_ACTIONS", "DEFAULT_LIMITS", "DELIMITER", "MESSAGE_TYPES", "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS", "Ack", "ArrayError", "AuthenticationError", "Body", "Bye",
    "CampaignStart", "ContentError", "Control", "Error", "ErrorCode", "FrameTooLargeError",
    "FramingError", "Header", "HeaderError", "Heartbeat", "Hello", "Limits", "Measurement",
    "Message", "NonFiniteError", "Plan", "ProtocolError", "RemoteError", "ReplayGuard", "Scan",
    "Session", "Signer", "TransportError", "UnknownMessageTypeError", "VersionError", "Welcome",
    "ID_RULE", "decode", "encode", "new_id", "valid_id",
]
