"""What flows beside the data: edge presence, the event streams, operator controls and
vetoes, and the campaign lease that lets one worker plan at a time."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .base import CAMPAIGN_EVENTS_MAXLEN, StoreBase
from .codec import dumps, loads, text
from .records import Event


class MessagingStore(StoreBase):
    """Edges, events, controls and leases (part of :class:`~.store.StateStore`)."""

    # -- edges ---------------------------------------------------------------------------

    def touch_edge(self, edge_id: str, *, campaign_id: str | None, state: str,
                   stats: dict[str, Any] | None = None, ttl_s: float = 60.0,
                   pipe: Any = None) -> None:
        """Record that the edge is alive (``pipe``: add the writes to that pipeline, which
        the caller executes, instead of running them now)."""
        key = self.key("edge", edge_id)
        own = pipe is None
        pipe = self.r.pipeline() if own else pipe
        pipe.hset(key, mapping={"edge_id": edge_id, "campaign_id": campaign_id or "",
                                "state": state, "last_seen": time.time(),
                                "stats": dumps(stats or {})})
        pipe.pexpire(key, int(ttl_s * 1000))
        pipe.sadd(self.key("edges"), edge_id)
        if own:
            pipe.execute()

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        f = self.r.hgetall(self.key("edge", edge_id))
        if not f:
            return None
        return {"edge_id": text(f, "edge_id"), "campaign_id": text(f, "campaign_id") or None,
                "state": text(f, "state"), "last_seen": float(f[b"last_seen"]),
                "stats": loads(f.get(b"stats"), {})}

    # -- events --------------------------------------------------------------------------

    def publish_event(self, campaign_id: str, kind: str, data: dict[str, Any]) -> None:
        with self.r.pipeline() as pipe:
            self._event(pipe, campaign_id, kind, data)
            pipe.execute()

    def read_events(self, after: str = "$", *, campaign_id: str | None = None,
                    block_ms: int | None = None, count: int = 1000) -> list[Event]:
        """Events after ``after`` ("$": only new ones; "0-0": from the start)."""
        stream = self.ckey(campaign_id, "events") if campaign_id else self.key("events")
        if block_ms is None:
            entries = self.r.xrange(stream, min="-" if after in ("0-0", "$") else f"({after}",
                                    count=count)
        else:
            got = self.r.xread({stream: after}, count=count, block=block_ms)
            entries = got[0][1] if got else []
        return [Event(sid.decode(), text(f, "campaign"), text(f, "kind"), float(f[b"time"]),
                      loads(f.get(b"data"), {})) for sid, f in entries]

    def last_event_id(self) -> str:
        info = self.r.xinfo_stream(self.key("events")) if self.r.exists(
            self.key("events")) else None
        return info["last-generated-id"].decode() if info else "0-0"

    def recent_events(self, campaign_id: str, n: int = 100) -> list[Event]:
        entries = self.r.xrevrange(self.ckey(campaign_id, "events"), count=n)
        return [Event(sid.decode(), text(f, "campaign"), text(f, "kind"), float(f[b"time"]),
                      loads(f.get(b"data"), {})) for sid, f in reversed(entries)]

    # -- controls ------------------------------------------------------------------------

    def push_control(self, campaign_id: str, control: dict[str, Any], *, origin: str) -> str:
        """Record an operator control; the actor and the gateway follow it. Returns its id."""
        control = {**control, "origin": origin, "time": time.time()}
        with self.r.pipeline() as pipe:
            pipe.xadd(self.ckey(campaign_id, "controls"), {"control": dumps(control)},
                      maxlen=CAMPAIGN_EVENTS_MAXLEN, approximate=True)
            self._event(pipe, campaign_id, "control", control)
            sid = pipe.execute()[0]
        return str(sid.decode())

    def read_controls(self, campaign_id: str,
                      after: str = "0-0") -> list[tuple[str, dict[str, Any]]]:
        entries = self.r.xrange(self.ckey(campaign_id, "controls"),
                                min="-" if after == "0-0" else f"({after}")
        return [(sid.decode(), loads(f[b"control"])) for sid, f in entries]

    def remember_control_message(self, msg_id: str, campaign_id: str, control_id: str,
                                 ttl_s: int = 3600) -> None:
        """Map a forwarded control's msg_id to its control, so the edge's ack can be matched."""
        self.r.set(self.key("control-msg", msg_id), dumps([campaign_id, control_id]), ex=ttl_s)

    def control_for_message(self, msg_id: str) -> tuple[str, str] | None:
        raw = self.r.get(self.key("control-msg", msg_id))
        if raw is None:
            return None
        campaign_id, control_id = loads(raw)
        return str(campaign_id), str(control_id)

    def vetoed_points(self, campaign_id: str) -> set[tuple[int, int]]:
        raw = self.r.smembers(self.ckey(campaign_id, "vetoed"))
        return {(int(a), int(b)) for a, b in (x.decode().split(",") for x in raw)}

    def add_vetoes(self, campaign_id: str, points: Iterable[tuple[int, int]]) -> None:
        members = [f"{r},{c}" for r, c in points]
        if members:
            self.r.sadd(self.ckey(campaign_id, "vetoed"), *members)

    # -- leases --------------------------------------------------------------------------

    def acquire_lease(self, campaign_id: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the campaign's lease: one owner at a time."""
        key = self.ckey(campaign_id, "lease")
        ms = int(ttl_s * 1000)
        if self.r.set(key, owner, nx=True, px=ms):
            return True
        # renew only if we hold it (compare-and-extend, atomic)
        return bool(self.r.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
            1, key, owner, ms))

    def release_lease(self, campaign_id: str, owner: str) -> None:
        self.r.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then "
                    "return redis.call('DEL', KEYS[1]) else return 0 end",
                    1, self.ckey(campaign_id, "lease"), owner)

    def lease_owner(self, campaign_id: str) -> str | None:
        raw = self.r.get(self.ckey(campaign_id, "lease"))
        return None if raw is None else raw.decode()
