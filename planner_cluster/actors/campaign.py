"""The campaign worker: one per campaign, the body of the Ray ``CampaignActor``.

A plain class (Ray is applied in :mod:`planner_cluster.actors.supervisor`). Its thread keeps
the candidates, raw spectra and model in memory and loops: take new measurements from Redis
(the gateway's write is the notification), apply new controls, and whenever there is
something new, train (warm start), rank every candidate, and write the plan with its model
version. Everything it holds is rebuilt from Redis when it starts, so a restart resumes.

A fit waits for a training slot on its node (:mod:`.training_gate`) when the worker runs in
Ray with ``training_slots`` set; while it waits it keeps taking measurements and controls, so
the fit, once its turn comes, uses everything that arrived meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from protocol.lifecycle import is_final

from ..campaign import CampaignSettings
from ..errors import PlannerError
from ..planning import PlanningCore
from ..state import StateStore
from .campaign_planner import CampaignPlanner
from .training_gate import TrainingGate

log = logging.getLogger(__name__)


class CampaignWorker:
    """Plans one campaign until it ends or :meth:`stop` is called.

    Args:
        campaign_id: the campaign.
        redis_url / prefix / password: where its state lives.
        device: torch device for the model (``cuda`` when the actor got a GPU share).
        lease_ttl_s: the campaign lease; another worker cannot plan while it is held.
        poll_ms: how long one wait for new measurements blocks.
        training_slots: fits run in a slot of the node's training gate (0: one per CPU or
            GPU of the node); None: no gate (the worker used outside Ray).
    """

    def __init__(self, campaign_id: str, redis_url: str, prefix: str, *,
                 password: str | None = None, device: str = "cpu", lease_ttl_s: float = 10.0,
                 poll_ms: int = 100, torch_threads: int = 1, ssl: dict[str, str] | None = None,
                 blob_dir: str | None = None, training_slots: int | None = None) -> None:
        self.campaign_id = campaign_id
        self.store = StateStore.connect(redis_url, prefix, password=password, ssl=ssl,
                                        blob_dir=Path(blob_dir) if blob_dir else None)
        self.device = device
        self.lease_ttl_s = lease_ttl_s
        self.poll_ms = poll_ms
        self.owner = f"worker-{uuid.uuid4().hex[:8]}"
        self.torch_threads = torch_threads
        self.training_slots = training_slots
        self._stop = threading.Event()
        self._state: dict[str, Any] = {"phase": "starting", "model_version": 0, "n_observed": 0}
        self._thread = threading.Thread(target=self._run, name=f"campaign-{campaign_id}",
                                        daemon=True)
        self._thread.start()

    # -- public (actor methods) -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {**self._state, "alive": self._thread.is_alive(), "owner": self.owner}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.store.release_lease(self.campaign_id, self.owner)
        self.store.close()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        import torch

        torch.set_num_threads(self.torch_threads)  # fair share: one campaign, bounded cores
        while not self._stop.is_set():
            try:
                self._plan_campaign()
                return
            except redis.RedisError as exc:
                self._state["phase"] = "waiting for redis"
                log.warning("campaign %s: state store unavailable (%s); retrying",
                            self.campaign_id, exc)
                self._stop.wait(1.0)
            except Exception as exc:  # a worker thread must never end silently
                self._state.update(phase="failed", error=str(exc))
                if isinstance(exc, PlannerError):
                    log.error("campaign %s cannot be planned: %s", self.campaign_id, exc)
                else:
                    log.exception("campaign %s: planner bug; rebuilding from Redis in 5 s",
                                  self.campaign_id)
                try:
                    self.store.publish_event(self.campaign_id, "planner_error",
                                             {"error": f"{type(exc).__name__}: {exc}"})
                except redis.RedisError:
                    pass
                self._stop.wait(5.0)

    def _hold_lease(self) -> bool:
        if self.store.acquire_lease(self.campaign_id, self.owner, self.lease_ttl_s):
            return True
        self._state["phase"] = "waiting for lease"
        return False

    def _plan_campaign(self) -> None:
        while not self._hold_lease():
            if self._stop.wait(1.0):
                return
        scan = None
        while scan is None:
            scan = self.store.get_scan(self.campaign_id)
            if scan is None:
                self._state["phase"] = "waiting for scan"
                if self._stop.wait(self.poll_ms / 1000):
                    return
        record = self.store.require_campaign(self.campaign_id)
        settings = CampaignSettings.from_config(record.config)
        image, _channels = scan
        self._state["phase"] = "building candidates"
        core = PlanningCore(settings, image, self.store.spectral_axis(self.campaign_id),
                            device=self.device, version_base=record.model_version)
        control_cursor = str(record.stats.get("control_cursor", "0-0"))
        # vetoes are taken from the controls as they are applied (replay applies them at the
        # same plan); a restarted worker starts from every veto stored so far
        vetoed = self.store.vetoed_points(self.campaign_id) if control_cursor != "0-0" else set()
        planner = CampaignPlanner(self.store, self.campaign_id, core, vetoed)
        gate = self._training_gate()
        self._state["phase"] = "running"
        try:
            self._loop(planner, gate, control_cursor)
        finally:
            if gate is not None:
                gate.withdraw()

    def _training_gate(self) -> TrainingGate | None:
        if self.training_slots is None:
            return None
        import ray

        if not ray.is_initialized():
            return None
        return TrainingGate(self.campaign_id, self.store.prefix, slots=self.training_slots,
                            device=self.device)

    def _loop(self, planner: CampaignPlanner, gate: TrainingGate | None,
              control_cursor: str) -> None:
        last_id = "0-0"
        while not self._stop.is_set():
            if not self._hold_lease():
                log.warning("campaign %s: lease lost; stopping", self.campaign_id)
                return
            granted = False
            if gate is not None and gate.asked:  # queued: wake up for the slot or new data
                granted = gate.wait(self.poll_ms / 1000)
                new = self.store.read_measurements(self.campaign_id, last_id, count=500)
            else:
                new = self.store.read_measurements(self.campaign_id, last_id, count=500,
                                                   block_ms=self.poll_ms)
            if new:
                last_id = new[-1].stream_id
                planner.add(new)
                self._state["n_observed"] = planner.n_observed
            controls = self.store.read_controls(self.campaign_id, control_cursor)
            for sid, control in controls:
                try:
                    planner.apply_control(control)
                except (PlannerError, KeyError, TypeError, ValueError) as exc:
                    log.warning("campaign %s: control %s refused: %s", self.campaign_id,
                                control.get("action"), exc)
                    self.store.publish_event(self.campaign_id, "control_result", {
                        "control_id": control.get("control_id", ""), "status": "refused",
                        "detail": f"planner: {exc}", "by": "planner"})
                control_cursor = sid
            if controls:
                self.store.update_stats(self.campaign_id, {"control_cursor": control_cursor})
            if planner.dirty or granted:
                self._replan(planner, gate, granted)
            status = self.store.require_campaign(self.campaign_id).status
            if is_final(status):
                self._finish(planner, gate, last_id, status)
                return

    def _replan(self, planner: CampaignPlanner, gate: TrainingGate | None,
                granted: bool) -> None:
        """Plan now if no fit is due (seed plans, re-ranks) or the slot is held; else queue
        for the slot, most stale first."""
        if gate is None or not (granted or planner.core.needs_fit):
            planner.replan()
        elif granted:
            self._state["slot"] = "training"
            with gate.held():
                planner.replan()
            self._state["slot"] = ""
        elif not gate.asked:
            gate.ask(planner.waiting_since or time.time())
            self._state["slot"] = "queued"
            return
        else:
            return
        self._state.update(model_version=planner.version, n_observed=planner.n_observed)

    def _finish(self, planner: CampaignPlanner, gate: TrainingGate | None, last_id: str,
                status: str) -> None:
        """A last model on every measurement, so the final map uses all the data."""
        rest = self.store.read_measurements(self.campaign_id, last_id)
        if rest:
            planner.add(rest)
        granted = False
        while planner.dirty and planner.n_observed and self._hold_lease():
            self._replan(planner, gate, granted)
            granted = gate is not None and gate.wait(self.poll_ms / 1000)
            if self._stop.is_set():
                return
        self._state.update(phase=status, model_version=planner.version,
                           n_observed=planner.n_observed)
