"""A protocol session: builds headers, signs, encodes, decodes (like jupyter_client.Session).

One ``Session`` per peer process. It numbers the messages it sends (``seq``), and refuses
replayed messages when signing is on. Sending and receiving on sockets is in
:mod:`protocol.transport`; this class does no I/O of its own.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .arrays import Buffer
from .codec import decode, encode
from .limits import DEFAULT_LIMITS, Limits
from .messages import Body, Header, Message
from .signing import ReplayGuard, Signer


def new_id() -> str:
    return uuid.uuid4().hex


class Session:
    """Message factory and codec front-end for one peer.

    Args:
        sender: this peer's id (an edge id, or the planner's id).
        signer: the shared-key signer (``Signer(None)`` disables signing).
        limits: what this side accepts when decoding.
        session_id: defaults to a fresh random id; the edge reuses the one it stored for
            measurements it resends after a restart (see ``seq`` in :meth:`message`).
        replay_window_s: how far a message's time may be from this clock.
    """

    def __init__(
        self,
        sender: str,
        signer: Signer,
        *,
        limits: Limits = DEFAULT_LIMITS,
        session_id: str | None = None,
        replay_window_s: float = 300.0,
        first_seq: int = 0,
    ) -> None:
        self.sender = sender
        self.signer = signer
        self.limits = limits
        self.session_id = session_id or new_id()
        self.replay_guard = ReplayGuard(replay_window_s)
        self._seq = itertools.count(first_seq)

    def next_seq(self) -> int:
        return next(self._seq)

    def message(
        self,
        body: Body,
        *,
        parent: Header | None = None,
        seq: int | None = None,
        session: str | None = None,
        parent_id: str = "",
    ) -> Message:
        """A new message carrying ``body``, answering ``parent`` (or the message whose id is
        ``parent_id``, when only its id could be read).

        ``seq``/``session`` are given explicitly when resending a stored measurement, so the
        receiver can deduplicate it by (sender, session, seq).
        """
        header = Header(
            msg_type=body.msg_type,
            msg_id=new_id(),
            sender=self.sender,
            session=session or self.session_id,
            seq=self.next_seq() if seq is None else seq,
            time=time.time(),
            parent_id=parent.msg_id if parent is not None else parent_id,
        )
        return Message(header, body)

    def encode(self, message: Message, identities: Sequence[bytes] = (),
               signer: Signer | None = None) -> list[Buffer]:
        """Frames for ``message``, signed with ``signer`` (a peer's own key) or this
        session's."""
        return [*identities, *encode(message, signer or self.signer)]

    def decode(self, frames: Sequence[Any],
               signer: Signer | None = None) -> tuple[list[bytes], Message]:
        return decode(frames, signer or self.signer, limits=self.limits,
                      replay_guard=self.replay_guard)
