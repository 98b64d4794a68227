"""The training gate: one named Ray actor per node that hands out its training slots.

Campaign actors reserve only a sliver of a CPU (``actor_cpus``) so that many fit on a node,
which makes Ray's reservation bookkeeping: without a gate every campaign with new data trains
at once and each fit takes N times as long. The gate admits at most ``training_slots`` fits per
node (default: one per CPU, or per GPU for campaigns that train on GPUs) and hands a free slot
to the campaign whose plan is most stale (:class:`~.slots.SlotQueue`). Holds are leases
renewed while a fit runs, so a killed worker's slot comes back after ``lease_s``; a restarted
worker takes over its predecessor's hold at once. If the gate itself cannot be reached, a
worker trains without it rather than not at all.

The worker's side, :class:`TrainingGate`, never blocks its loop: it asks, keeps reading
measurements and controls, and fits when the slot is granted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from .slots import SlotQueue

log = logging.getLogger(__name__)

#: A hold not renewed for this long goes to the next campaign (a holder renews every third).
LEASE_S = 30.0


class TrainingGateActor:
    """The body of a node's gate actor (Ray applies it in :func:`gate_on_node`)."""

    def __init__(self, slots: int, lease_s: float = LEASE_S) -> None:
        self.queue = SlotQueue(slots, lease_s)
        self.pending: dict[str, asyncio.Future[bool]] = {}  # request token -> its answer
        self.turns: deque[dict[str, Any]] = deque(maxlen=1000)  # recent grants, for status
        self._open: dict[str, dict[str, Any]] = {}  # token -> its entry in turns
        self._sweeper: asyncio.Task[None] | None = None

    async def acquire(self, campaign: str, token: str, waiting_since: float) -> bool:
        """Wait for a slot; True once it is held, False if the request was withdrawn or
        replaced by a newer one of the same campaign."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending[token] = future
        replaced = self.queue.ask(campaign, token, waiting_since)
        if replaced is not None:
            self._answer(replaced, False)
            self._close(replaced)
        self._grant()
        try:
            return await future
        finally:
            self.pending.pop(token, None)

    async def renew(self, campaign: str, token: str) -> bool:
        return self.queue.renew(campaign, token, time.time())

    async def release(self, campaign: str, token: str) -> bool:
        """Give back a slot, or leave the queue."""
        left = self.queue.leave(campaign, token)
        self._answer(token, False)
        self._close(token)
        self._grant()
        return left

    async def snapshot(self) -> dict[str, Any]:
        """Slots, holders, the queue (with each campaign's ``waiting_since``) and the recent
        grants (``released`` is None while held)."""
        return {"slots": self.queue.slots, "lease_s": self.queue.lease_s,
                "holders": sorted(self.queue.holders),
                "waiting": {c: w.waiting_since for c, w in self.queue.waiters.items()},
                "turns": list(self.turns)}

    def _grant(self) -> None:
        now = time.time()
        for campaign, hold in list(self.queue.holders.items()):
            if hold.expires <= now:
                log.warning("training slot of %s expired: its holder stopped renewing",
                            campaign)
                self._close(hold.token)
        for grant in self.queue.grant(now):
            entry = {**asdict(grant), "released": None}
            self.turns.append(entry)
            self._open[grant.token] = entry
            self._answer(grant.token, True)

    def _answer(self, token: str, granted: bool) -> None:
        future = self.pending.get(token)
        if future is not None and not future.done():
            future.set_result(granted)

    def _close(self, token: str) -> None:
        entry = self._open.pop(token, None)
        if entry is not None:
            entry["released"] = time.time()

    async def _sweep(self) -> None:
        """Give back holds whose holder stopped renewing (its process died)."""
        while True:
            await asyncio.sleep(min(1.0, self.queue.lease_s / 4))
            self._grant()


def gate_name(prefix: str, node_id: str, pool: str) -> str:
    return f"training-gate:{prefix}:{node_id}:{pool}"


def gate_on_node(prefix: str, node_id: str, pool: str, slots: int,
                 lease_s: float = LEASE_S) -> Any:
    """The node's gate for ``pool`` (``cpu`` or ``gpu``), started there if it is not running
    (its first starter's ``slots`` and ``lease_s`` stand). ``slots`` 0: the node's CPUs, or
    GPUs for the ``gpu`` pool."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .supervisor import NAMESPACE

    if slots <= 0:
        node = next((n for n in ray.nodes()  # type: ignore[no-untyped-call]
                     if n["NodeID"] == node_id), None)
        resource = "GPU" if pool == "gpu" else "CPU"
        slots = max(1, int((node or {}).get("Resources", {}).get(resource, 1)))
    actor = ray.remote(TrainingGateActor).options(
        name=gate_name(prefix, node_id, pool), namespace=NAMESPACE, get_if_exists=True,
        lifetime="detached", max_restarts=-1, num_cpus=0, max_concurrency=1000,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
    return actor.remote(slots, lease_s)


class TrainingGate:
    """A campaign worker's side of its node's gate.

    Args:
        campaign_id: whose slot.
        prefix: the planner's Redis prefix (one gate per node and prefix).
        slots: ``training_slots`` (0: the node's CPUs or GPUs).
        device: the worker's torch device; ``cuda`` queues for the node's GPUs.
        lease_s: the hold's lease (renewed every third of it while training).
    """

    def __init__(self, campaign_id: str, prefix: str, *, slots: int, device: str = "cpu",
                 lease_s: float = LEASE_S) -> None:
        import ray

        self.campaign_id = campaign_id
        self.lease_s = lease_s
        self._where = (prefix, ray.get_runtime_context().get_node_id(),
                       "gpu" if device.startswith("cuda") else "cpu", slots)
        self._gate: Any = None
        self._request: Any = None  # the pending acquire's ObjectRef
        self._token = ""
        self._ungated = False  # the gate failed: this one fit runs without a slot

    @property
    def asked(self) -> bool:
        """Whether a request is waiting for an answer."""
        return self._request is not None

    def ask(self, waiting_since: float) -> None:
        """Queue for a slot; ``waiting_since``: when the oldest unplanned measurement
        arrived."""
        self._token = uuid.uuid4().hex
        try:
            if self._gate is None:
                prefix, node_id, pool, slots = self._where
                self._gate = gate_on_node(prefix, node_id, pool, slots, self.lease_s)
            self._request = self._gate.acquire.remote(self.campaign_id, self._token,
                                                      waiting_since)
        except Exception as exc:  # no gate: train without a slot rather than not at all
            self._gate_failed(exc)

    def wait(self, timeout_s: float) -> bool:
        """Whether the slot is held now, waiting up to ``timeout_s`` for it."""
        import ray

        if self._ungated:
            return True
        if self._request is None:
            return False
        try:
            ready, _ = ray.wait([self._request], timeout=timeout_s)
            if not ready:
                return False
            granted = bool(ray.get(ready[0]))
        except Exception as exc:
            self._gate_failed(exc)
            return True
        self._request = None
        return granted

    @contextmanager
    def held(self) -> Iterator[None]:
        """Train inside: the hold is renewed meanwhile and given back after."""
        if self._ungated:
            self._ungated = False
            yield
            return
        stop = threading.Event()
        gate, token = self._gate, self._token
        renewer = threading.Thread(target=self._renew, args=(gate, token, stop), daemon=True,
                                   name=f"slot-{self.campaign_id}")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            self._leave(gate, token)

    def withdraw(self) -> None:
        """Leave the queue (the campaign is over, or the worker stops)."""
        if self._request is not None:
            self._leave(self._gate, self._token)
            self._request = None

    def _renew(self, gate: Any, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_s / 3):
            try:
                gate.renew.remote(self.campaign_id, token)
            except Exception as exc:  # the lease runs out; the fit goes on
                log.warning("campaign %s: cannot renew its training slot: %s",
                            self.campaign_id, exc)

    def _leave(self, gate: Any, token: str) -> None:
        try:
            gate.release.remote(self.campaign_id, token)  # ordered before a later ask
        except Exception as exc:  # the gate is gone: its holds went with it
            log.warning("campaign %s: cannot give back its training slot: %s",
                        self.campaign_id, exc)

    def _gate_failed(self, exc: Exception) -> None:
        log.warning("campaign %s: training gate unavailable (%s); training without a slot",
                    self.campaign_id, exc)
        self._gate, self._request, self._ungated = None, None, True
