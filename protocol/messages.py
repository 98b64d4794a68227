"""Message types: a header plus one frozen body dataclass per ``msg_type``, registered by type.

Field kinds are read from the type hints once, at registration: ``str``, ``int``, ``float``,
``bool``, ``dict``, ``list``, ``NDArray`` (travels as a buffer frame) and ``X | None``.
Every float and every floating array must be finite (spec v1). Semantic checks (allowed
actions, non-negative coordinates, ...) live in each body's ``__post_init__`` so a bad
message is refused the same way whether it was built locally or decoded from the wire.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, Union

import numpy as np
from numpy.typing import NDArray

from .errors import ContentError, ErrorCode, NonFiniteError, UnknownMessageTypeError
from .ids import ID_FIELDS, ID_RULE, valid_id
from .version import PROTOCOL_VERSION


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: type
    optional: bool
    required: bool
    default: Any


@dataclass(frozen=True)
class Body:
    """Base of every message body. Subclasses set ``msg_type`` and are registered."""

    msg_type: ClassVar[str]
    _fields: ClassVar[tuple[FieldSpec, ...]]


B = TypeVar("B", bound=Body)

MESSAGE_TYPES: dict[str, type[Body]] = {}

_KINDS: dict[Any, type] = {
    str: str, int: int, float: float, bool: bool, dict: dict, list: list, np.ndarray: np.ndarray
}


def _field_kind(hint: Any) -> tuple[type, bool]:
    optional = False
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"unsupported field type {hint!r}")
        hint = args[0]
        origin = typing.get_origin(hint)
    base = origin if origin is not None else hint
    if base not in _KINDS:
        raise TypeError(f"unsupported field type {hint!r}")
    return _KINDS[base], optional


def register(msg_type: str) -> typing.Callable[[type[B]], type[B]]:
    """Class decorator: register a body dataclass under ``msg_type``."""

    def wrap(cls: type[B]) -> type[B]:
        if msg_type in MESSAGE_TYPES:
            raise ValueError(f"msg_type {msg_type!r} registered twice")
        hints = typing.get_type_hints(cls)
        specs = []
        for f in fields(cls):
            kind, optional = _field_kind(hints[f.name])
            has_default = f.default is not MISSING or f.default_factory is not MISSING
            default = (
                f.default if f.default is not MISSING
                else f.default_factory() if f.default_factory is not MISSING else None
            )
            specs.append(FieldSpec(f.name, kind, optional, not has_default, default))
        cls.msg_type = msg_type
        cls._fields = tuple(specs)
        MESSAGE_TYPES[msg_type] = cls
        return cls

    return wrap


def body_class(msg_type: Any) -> type[Body]:
    """The registered body class for ``msg_type``, or :class:`UnknownMessageTypeError`."""
    cls = MESSAGE_TYPES.get(msg_type) if isinstance(msg_type, str) else None
    if cls is None:
        raise UnknownMessageTypeError(
            f"unknown msg_type {msg_type!r}; known: {sorted(MESSAGE_TYPES)}", msg_type=str(msg_type)
        )
    return cls


def check_value(spec: FieldSpec, value: Any, msg_type: str) -> Any:
    """Check one decoded field value against its spec; return it (ints widened to float)."""
    if value is None:
        if spec.optional:
            return None
        raise ContentError(
            f"{msg_type}.{spec.name} must not be null", code=ErrorCode.BAD_FIELD, field=spec.name
        )
    kind = spec.kind
    if kind is float and type(value) is int:
        value = float(value)
    ok = (type(value) is kind) if kind in (int, bool) else isinstance(value, kind)
    if not ok:
        raise ContentError(
            f"{msg_type}.{spec.name} must be {kind.__name__}, got {type(value).__name__}",
            code=ErrorCode.BAD_FIELD,
            field=spec.name,
        )
    if spec.name in ID_FIELDS and not valid_id(value):
        raise ContentError(f"{msg_type}.{spec.name} {value!r} is not a valid id ({ID_RULE})",
                           code=ErrorCode.BAD_FIELD, field=spec.name)
    if kind is float and not math.isfinite(value):
        raise NonFiniteError(f"{msg_type}.{spec.name} must be finite, got {value}",
                             field=spec.name)
    if kind in (dict, list):
        _check_nested_finite(value, f"{msg_type}.{spec.name}")
    return value


def _check_nested_finite(value: Any, where: str) -> None:
    """Every float inside a map or list must be finite (iterative: no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise NonFiniteError(f"{where} holds a non-finite number ({item})", field=where)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# -- header ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What every message carries besides its body (docs/protocol.md, "Header")."""

    msg_type: str
    msg_id: str
    sender: str
    session: str
    seq: int
    time: float
    parent_id: str = ""
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Message:
    """A decoded or to-be-sent message: header and typed body."""

    header: Header
    body: Body

    @property
    def msg_type(self) -> str:
        return self.header.msg_type


# -- message types (spec v1) ------------------------------------------------------------------

CONTROL_ACTIONS = frozenset(
    {"pause", "resume", "stop", "abort", "veto", "add_point", "set_acquisition",
     "set_scalarizer", "set_exploration"}
)
ACK_STATUSES = frozenset({"stored", "duplicate", "accepted", "refused"})
MEASUREMENT_SOURCES = frozenset({"seed", "plan", "manual"})


def _require(cond: bool, msg_type: str, name: str, what: str) -> None:
    if not cond:
        raise ContentError(f"{msg_type}.{name} {what}", code=ErrorCode.BAD_FIELD, field=name)


@register("hello")
@dataclass(frozen=True)
class Hello(Body):
    """Edge -> planner, first message of a session."""

    edge_id: str
    instrument: dict[str, Any]
    software: str = ""
    versions: list[int] = field(default_factory=lambda: [PROTOCOL_VERSION])


@register("welcome")
@dataclass(frozen=True)
class Welcome(Body):
    """Planner -> edge, answers ``hello``."""

    planner_id: str
    version: int
    heartbeat_s: float
    limits: dict[str, Any] = field(default_factory=dict)


@register("campaign_start")
@dataclass(frozen=True)
class CampaignStart(Body):
    """Edge -> planner: start a campaign, or resume it if it exists and ``resume`` is set."""

    campaign_id: str
    config: dict[str, Any]
    resume: bool = False
    spectral_axis: NDArray[Any] | None = None

    def __post_init__(self) -> None:
        _require(bool(self.campaign_id), self.msg_type, "campaign_id", "must not be empty")


@register("scan")
@dataclass(frozen=True)
class Scan(Body):
    """Edge -> planner: a structural image, ``H x W`` or ``H x W x C``."""

    campaign_id: str
    image: NDArray[Any]
    channels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require(self.image.ndim in (2, 3), self.msg_type, "image", "must be H x W [x C]")


@register("measurement")
@dataclass(frozen=True)
class Measurement(Body):
    """Edge -> planner: the raw spectrum measured at grid point (row, col)."""

    campaign_id: str
    row: int
    col: int
    spectrum: NDArray[Any]
    source: str = "plan"
    plan_version: int = -1
    dwell_s: float = 0.0

    def __post_init__(self) -> None:
        _require(self.row >= 0 and self.col >= 0, self.msg_type, "row/col", "must be >= 0")
        _require(self.spectrum.size > 0, self.msg_type, "spectrum", "must not be empty")
        _require(self.source in MEASUREMENT_SOURCES, self.msg_type, "source",
                 f"must be one of {sorted(MEASUREMENT_SOURCES)}")


@register("ack")
@dataclass(frozen=True)
class Ack(Body):
    """Either side: ``seq`` (of the acknowledged message) was stored, or a control accepted."""

    seq: int
    status: str = "stored"
    detail: str = ""

    def __post_init__(self) -> None:
        _require(self.status in ACK_STATUSES, self.msg_type, "status",
                 f"must be one of {sorted(ACK_STATUSES)}")


@register("plan")
@dataclass(frozen=True)
class Plan(Body):
    """Planner -> edge: ranked next points, ``points`` is ``q x 2`` (row, col)."""

    campaign_id: str
    model_version: int
    points: NDArray[Any]
    scores: NDArray[Any]
    acquisition: str = ""
    measured: int = 0
    status: str = "running"

    def __post_init__(self) -> None:
        _require(self.points.ndim == 2 and self.points.shape[1] == 2
                 and self.points.dtype.kind in "iu", self.msg_type, "points",
                 "must be an integer q x 2 array")
        _require(self.scores.shape == (self.points.shape[0],), self.msg_type, "scores",
                 "must have one score per point")


@register("control")
@dataclass(frozen=True)
class Control(Body):
    """Either direction: an operator command (pause, veto, ...), answered by an ``ack``."""

    campaign_id: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    user: str = ""
    control_id: str = ""

    def __post_init__(self) -> None:
        _require(self.action in CONTROL_ACTIONS, self.msg_type, "action",
                 f"must be one of {sorted(CONTROL_ACTIONS)}")


@register("heartbeat")
@dataclass(frozen=True)
class Heartbeat(Body):
    state: str = ""
    campaign_id: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


@register("error")
@dataclass(frozen=True)
class Error(Body):
    """Either side: the message named by the header's ``parent_id`` was refused."""

    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@register("bye")
@dataclass(frozen=True)
class Bye(Body):
    reason: str = ""
    #: the campaign this edge is done with (spec 1.1; a 1.0 edge leaves it out and the
    #: planner ends the campaign the edge last named)
    campaign_id: str | None = None
