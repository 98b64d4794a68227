"""Live updates: one thread follows the events stream and fans events out to SSE clients.

However many pages are open, the monitor holds one blocking Redis read. Each client gets a
bounded queue; a client too slow to keep up is dropped (its browser reconnects and sends
``Last-Event-ID``, and the stream replays what it missed from Redis).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis

from ..state import Event, StateStore
from .views import event_view

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
BACKLOG = 1000


def _order(event_id: str) -> tuple[int, int]:
    major, _, minor = event_id.partition("-")
    return int(major), int(minor or 0)


@dataclass(eq=False)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    campaign_id: str | None
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def offer(self, event: Event | None) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True


class EventHub:
    """Follows ``store``'s global events stream in a thread; :meth:`stream` serves one client."""

    def __init__(self, store: StateStore, *, block_ms: int = 200) -> None:
        self.store = store
        self.block_ms = block_ms
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events_seen = 0

    @property
    def clients(self) -> int:
        return len(self._subs)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="monitor-events", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for sub in list(self._subs):
                sub.loop.call_soon_threadsafe(sub.offer, None)
        if self._thread is not None:
            self._thread.join(10)

    def _follow(self) -> None:
        follower = self.store.blocking_clone()
        last: str | None = None  # read once Redis answers: the monitor may start first
        down = False  # one warning per outage, not one per retry
        try:
            while not self._stop.is_set():
                try:
                    if last is None:
                        last = follower.last_event_id()
                    events = follower.read_events(last, block_ms=self.block_ms)
                except redis.RedisError as exc:
                    if not down:
                        log.warning("events stream unavailable (retrying): %s", exc)
                    down = True
                    self._stop.wait(0.5)
                    continue
                if down:
                    log.info("events stream available again")
                    down = False
                for event in events:
                    last = event.event_id
                    self.events_seen += 1
                    self._fan_out(event)
        finally:
            follower.close()

    def _fan_out(self, event: Event) -> None:
        with self._lock:
            subs = [s for s in self._subs
                    if s.campaign_id is None or s.campaign_id == event.campaign_id]
        for sub in subs:
            sub.loop.call_soon_threadsafe(self._deliver, sub, event)

    def _deliver(self, sub: Subscriber, event: Event) -> None:
        if not sub.offer(event):
            log.warning("dropping a slow live-update client")
            self._unsubscribe(sub)
            sub.queue = asyncio.Queue(1)
            sub.queue.put_nowait(None)

    def _subscribe(self, campaign_id: str | None) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop(), campaign_id)
        with self._lock:
            self._subs.add(sub)
        return sub

    def _unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    async def stream(self, campaign_id: str | None, last_event_id: str | None,
                     keepalive_s: float) -> AsyncIterator[str]:
        """Server-sent events: a backlog after ``last_event_id``, then live ones."""
        sub = self._subscribe(campaign_id)
        try:
            yield "retry: 2000\n\n"
            seen = (0, 0)
            if last_event_id:
                backlog = await asyncio.to_thread(self.store.read_events, last_event_id,
                                                  count=BACKLOG)
                for event in backlog:
                    seen = _order(event.event_id)
                    if campaign_id is None or event.campaign_id == campaign_id:
                        yield _sse(event)
            while not self._stop.is_set():
                try:
                    item = await asyncio.wait_for(sub.queue.get(), keepalive_s)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item is None:
                    return
                if _order(item.event_id) > seen:
                    yield _sse(item)
        finally:
            self._unsubscribe(sub)


def _sse(event: Event) -> str:
    return f"id: {event.event_id}\ndata: {json.dumps(event_view(event), allow_nan=False)}\n\n"
