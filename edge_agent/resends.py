"""What the conversation sends until the planner acknowledges it, besides measurements (those are
the :class:`~edge_agent.delivery.Outbox`'s): the structural scan and forwarded controls.

Both keep their ``seq`` across resends, so the planner recognises a message it has seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import protocol as p
from edge_agent.spool import Spool


class ScanDelivery:
    """The structural scan on its way to the planner: held until acknowledged, sent again every
    ``resend_after_s`` meanwhile, and once more whenever the planner loses it.

    Attributes:
        acked: the planner holds the scan (remembered in the spool across runs).
        image: the scan waiting to be sent (dropped once acked).
        needed: the agent must scan again (the planner lost a scan no longer held here).
        seq: the scan message's seq (-1: none given yet).
        sent_at: when it was last sent on this link (``None``: due now).
        not_before: the planner asked for it again no earlier than this (``no_capacity``).
    """

    def __init__(self, spool: Spool, campaign: str, resend_after_s: float) -> None:
        self._spool = spool
        self._campaign = campaign
        self._resend_after_s = resend_after_s
        self.acked = spool.get_meta(f"scan_acked:{campaign}") == "1"
        self.image: np.ndarray[Any, Any] | None = None
        self.needed = False
        self.seq = -1
        self.sent_at: float | None = None
        self.not_before = 0.0

    def ready(self, image: np.ndarray[Any, Any]) -> None:
        """The instrument scanned: hold the image unless the planner already has one."""
        if not self.acked:
            self.image = image

    def due(self, now: float) -> np.ndarray[Any, Any] | None:
        """The image to send now: held, not acked, not sent within ``resend_after_s`` and
        not held back by the planner."""
        if self.acked or now < self.not_before or (
                self.sent_at is not None and now - self.sent_at < self._resend_after_s):
            return None
        return self.image

    def retry_after(self, now: float, wait_s: float) -> None:
        """The planner cannot take the scan yet (``no_capacity``): send it again in
        ``wait_s``, not before."""
        self.sent_at, self.not_before = None, now + max(0.0, wait_s)

    def mark_acked(self) -> None:
        self.acked, self.image = True, None
        self._spool.write(lambda: self._spool.set_meta(f"scan_acked:{self._campaign}", "1"))

    def resend_now(self) -> None:
        self.sent_at = None

    def lost(self, *, new_seq: bool) -> None:
        """The planner lost the scan: send it again (scanning again if the image is gone); with
        ``new_seq`` as a new message, for a campaign the planner starts anew."""
        self.acked, self.sent_at = False, None
        if new_seq:
            self.seq = -1
        self.needed = self.image is None


class ForwardedControls:
    """Local vetoes and added points told to the planner: each is sent once per link, with the
    seq it got when forwarded, until the planner acknowledges it."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[int, p.Control]] = {}  # control_id -> (seq, control)
        self._sent_on_link: set[str] = set()

    def add(self, seq: int, control: p.Control) -> None:
        self._waiting[control.control_id] = (seq, control)

    def owns(self, seq: int) -> bool:
        return any(s == seq for s, _ in self._waiting.values())

    def acked(self, seq: int) -> list[p.Control]:
        """Forget the controls sent as ``seq``; return them."""
        done = [key for key, (s, _) in self._waiting.items() if s == seq]
        return [self._waiting.pop(key)[1] for key in done]

    def due(self) -> list[tuple[str, int, p.Control]]:
        """``(control_id, seq, control)`` of each not yet sent on this link."""
        return [(key, seq, control) for key, (seq, control) in self._waiting.items()
                if key not in self._sent_on_link]

    def sent(self, key: str) -> None:
        self._sent_on_link.add(key)

    def link_lost(self) -> None:
        self._sent_on_link.clear()


def veto_controls(regions: list[tuple[int, int, int, int]]) -> list[dict[str, Any]]:
    """The ``veto`` control arguments that tell the planner ``regions`` ``(r0, c0, r1, c1)``:
    the single points in one control, then one control per larger region."""
    points = [[r0, c0] for r0, c0, r1, c1 in regions if (r0, c0) == (r1, c1)]
    out: list[dict[str, Any]] = [{"points": points}] if points else []
    out.extend({"region": [r0, c0, r1, c1]} for r0, c0, r1, c1 in regions if (r0, c0) != (r1, c1))
    return out
