"""The instrument's own thread: the scan and each acquisition run there, one at a time, so that
the agent's loop keeps answering the link (heartbeats, acks, controls) during a long dwell."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import zmq

from edge_agent.instruments.base import Instrument
from edge_agent.selection import Choice

#: A finished job, and the point it measured (``None``: the structural scan).
Finished = tuple[Future[Any], Choice | None]


class InstrumentWorker:
    """Runs one instrument job at a time and signals :attr:`wake` (a socket the loop polls with
    the link) when it ends. Used by the loop's thread only; :meth:`close` ends it."""

    def __init__(self, instrument: Instrument, ctx: zmq.Context[Any]) -> None:
        self.instrument = instrument
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="instrument")
        address = f"inproc://edge-wake-{id(self):x}"
        self.wake: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
        self.wake.bind(address)
        self._wake_tx: zmq.Socket[Any] = ctx.socket(zmq.PAIR)  # the worker thread's end
        self._wake_tx.connect(address)
        self._job: Future[Any] | None = None
        self._choice: Choice | None = None

    @property
    def busy(self) -> bool:
        return self._job is not None

    def scan(self) -> None:
        self._start(None, self.instrument.scan)

    def acquire(self, choice: Choice) -> None:
        self._start(choice, self.instrument.acquire, choice.row, choice.col)

    def finished(self) -> Finished | None:
        """The job that has ended (taken off the worker), or ``None`` if it still runs."""
        if self._job is None or not self._job.done():
            return None
        return self._take(self._job)

    def wait(self, timeout: float) -> Finished | None:
        """Wait up to ``timeout`` s for the running job and take it off the worker; it is
        returned if it ended."""
        if self._job is None:
            return None
        job = self._job
        wait([job], timeout=timeout)
        taken = self._take(job)
        return taken if job.done() else None

    def close(self) -> None:
        """Wait for the running job, then close the wake sockets."""
        self._executor.shutdown(wait=True)
        self._wake_tx.close(linger=0)
        self.wake.close(linger=0)

    def _start(self, choice: Choice | None, fn: Callable[..., Any], *args: Any) -> None:
        self._choice = choice
        self._job = self._executor.submit(self._in_worker, fn, *args)

    def _take(self, job: Future[Any]) -> Finished:
        choice, self._job, self._choice = self._choice, None, None
        return job, choice

    def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an instrument call on the worker thread, then wake the loop (only this
        thread uses ``_wake_tx``)."""
        try:
            return fn(*args)
        finally:
            try:
                self._wake_tx.send(b"", zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # the loop polls anyway
