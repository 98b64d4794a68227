"""The campaign worker: one per campaign, the body of the Ray ``CampaignActor``.

A plain class (Ray is applied in :mod:`planner_cluster.actors.supervisor`). Its thread keeps
the candidates, raw spectra and model in memory and loops: take new measurements from Redis
(the gateway's write is the notification), apply new controls, and whenever there is
something new, train (warm start), rank every candidate, and write the plan with its model
version. Everything it holds is rebuilt from Redis when it starts, so a restart resumes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from ..acquisition.functions import get_acquisition
from ..campaign_config import CampaignConfigError, CampaignSettings
from ..candidates import make_candidates
from ..errors import PlannerError, ScalarizerError
from ..learner import ActiveLearner
from ..scalarizers import scalarize
from ..state import FINAL_STATUSES, PlanRecord, StateStore, StoredMeasurement

log = logging.getLogger(__name__)



class CampaignWorker:
    """Plans one campaign until it ends or :meth:`stop` is called.

    Args:
        campaign_id: the campaign.
        redis_url / prefix / password: where its state lives.
        device: torch device for the model (``cuda`` when the actor got a GPU share).
        lease_ttl_s: the campaign lease; another worker cannot plan while it is held.
        poll_ms: how long one wait for new measurements blocks.
    """

    def __init__(self, campaign_id: str, redis_url: str, prefix: str, *,
                 password: str | None = None, device: str = "cpu", lease_ttl_s: float = 10.0,
                 poll_ms: int = 100, torch_threads: int = 1, ssl: dict[str, str] | None = None,
                 blob_dir: str | None = None) -> None:
        self.campaign_id = campaign_id
        self.store = StateStore.connect(redis_url, prefix, password=password, ssl=ssl,
                                        blob_dir=Path(blob_dir) if blob_dir else None)
        self.device = device
        self.lease_ttl_s = lease_ttl_s
        self.poll_ms = poll_ms
        self.owner = f"worker-{uuid.uuid4().hex[:8]}"
        self.torch_threads = torch_threads
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
        settings = replace(settings, model=replace(settings.model, device=self.device))
        image, _channels = scan
        self._state["phase"] = "building candidates"
        candidates = make_candidates(image, patch=settings.patch, stride=settings.stride,
                                     scale=settings.patch_scale)
        axis = self.store.spectral_axis(self.campaign_id)
        planner = _CampaignPlanner(self.store, self.campaign_id, settings, candidates, axis,
                                   version_base=record.model_version)
        control_cursor = str(record.stats.get("control_cursor", "0-0"))
        last_id = "0-0"
        self._state["phase"] = "running"
        while not self._stop.is_set():
            if not self._hold_lease():
                log.warning("campaign %s: lease lost; stopping", self.campaign_id)
                return
            new = self.store.read_measurements(self.campaign_id, last_id, count=500,
                                               block_ms=self.poll_ms)
            if new:
                last_id = new[-1].stream_id
                planner.add(new)
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
                self.store.update_stats(self.campaign_id, {
                    **self.store.require_campaign(self.campaign_id).stats,
                    "control_cursor": control_cursor})
            if planner.dirty:
                planner.replan()
                self._state.update(model_version=planner.version,
                                   n_observed=planner.n_observed)
            status = self.store.require_campaign(self.campaign_id).status
            if status in FINAL_STATUSES:
                self._finish(planner, last_id, status)
                return

    def _finish(self, planner: _CampaignPlanner, last_id: str, status: str) -> None:
        """A last model on every measurement, so the final map uses all the data."""
        rest = self.store.read_measurements(self.campaign_id, last_id)
        if rest:
            planner.add(rest)
        if planner.dirty and planner.n_observed:
            planner.replan()
        self._state.update(phase=status, model_version=planner.version,
                           n_observed=planner.n_observed)


class _CampaignPlanner:
    """The science state of one campaign: raw spectra, the learner, the current policy."""

    def __init__(self, store: StateStore, campaign_id: str, settings: CampaignSettings,
                 candidates: Any, axis: NDArray[Any] | None, version_base: int = 0) -> None:
        self.store = store
        self.campaign_id = campaign_id
        self.settings = settings
        self.candidates = candidates
        self.axis = axis
        self.learner = ActiveLearner(candidates, model_config=settings.model,
                                     policy=settings.acquisition)
        self.indices: list[int] = []
        self.spectra: list[NDArray[Any]] = []
        self.spectrum_length: int | None = None  # values per spectrum, once known
        self.dirty = True
        # model versions keep rising across worker restarts: continue from Redis's
        self.version_base = version_base
        self.version = version_base
        self.timings: dict[str, float] = {}

    @property
    def n_observed(self) -> int:
        return len(self.indices)

    def _axis_for(self, spectrum: NDArray[Any]) -> NDArray[Any]:
        n = spectrum.reshape(-1).shape[0]
        if self.axis is not None and self.axis.shape[0] == n:
            return self.axis
        return np.arange(n, dtype=np.float64)

    def _score(self, spectra: list[NDArray[Any]]) -> NDArray[np.float64]:
        """Scalars for ``spectra``. A spectrum the scalarizer cannot score (no coercive
        crossing, say) gets the median of the others, and an event says so: one odd loop
        must not stop a campaign."""
        s = self.settings
        params = dict(s.scalarizer_params or {})
        batch = np.stack([np.asarray(x, dtype=np.float64).reshape(-1) for x in spectra])
        axis = self._axis_for(batch[0])
        try:
            return scalarize(s.scalarizer, batch, axis, **params)
        except ScalarizerError as exc:
            first_error = str(exc)
        values = np.full(len(batch), np.nan)
        for i, row in enumerate(batch):
            try:
                values[i] = scalarize(s.scalarizer, row[None, :], axis, **params)[0]
            except ScalarizerError:
                continue
        bad = int(np.isnan(values).sum())
        finite = values[~np.isnan(values)]
        values[np.isnan(values)] = float(np.median(finite)) if finite.size else 0.0
        log.warning("campaign %s: %d spectra not scored by %s (%s); imputed the median",
                    self.campaign_id, bad, s.scalarizer, first_error)
        self.store.publish_event(self.campaign_id, "scalarizer_error", {
            "scalarizer": s.scalarizer, "unscored": bad, "error": first_error})
        return values

    def add(self, measurements: list[StoredMeasurement]) -> None:
        measurements = self._comparable(measurements)
        if not measurements:
            return
        coords = np.array([[m.row, m.col] for m in measurements], dtype=np.int64)
        try:
            idx = self.candidates.index_of(coords)
        except PlannerError as exc:
            log.warning("campaign %s: %s", self.campaign_id, exc)
            return
        values = self._score([m.spectrum for m in measurements])
        self.learner.observe(idx.tolist(), values.tolist())
        self.indices.extend(int(i) for i in idx)
        self.spectra.extend(m.spectrum for m in measurements)
        self.dirty = True

    def _comparable(self, measurements: list[StoredMeasurement]) -> list[StoredMeasurement]:
        """The measurements whose spectra have the campaign's length; others cannot be scored
        alongside and are skipped, with an event (the gateway refuses them; this guards data
        stored before it did)."""
        if self.spectrum_length is None:
            self.spectrum_length = self.store.spectrum_length(self.campaign_id)
        keep, skipped = [], []
        for m in measurements:
            if np.asarray(m.spectrum).size == self.spectrum_length:
                keep.append(m)
            else:
                skipped.append([int(m.row), int(m.col)])
        if skipped:
            log.warning("campaign %s: skipped %d spectra whose length is not %s",
                        self.campaign_id, len(skipped), self.spectrum_length)
            self.store.publish_event(self.campaign_id, "planner_error", {
                "error": f"{len(skipped)} spectra do not have {self.spectrum_length} values; "
                         "skipped", "points": skipped[:20]})
        return keep

    def apply_control(self, control: dict[str, Any]) -> None:
        action, args = control.get("action"), control.get("args", {}) or {}
        changes: dict[str, Any] = {}
        if action == "set_scalarizer":
            changes["scalarizer"] = {"name": args["name"], "params": args.get("params", {})}
        elif action == "set_acquisition":
            changes["acquisition"] = {"name": args["name"],
                                      "maximize": args.get("maximize",
                                                           self.settings.acquisition.maximize),
                                      "params": args.get("params", {})}
        elif action == "set_exploration":
            pol = self.settings.acquisition
            allowed = get_acquisition(pol.name).params  # ucb: beta; ei/pi: xi; others: none
            if not allowed:
                raise CampaignConfigError(f"{pol.name} has no exploration weight")
            params = {**pol.params, **{name: float(args["weight"]) for name in allowed}}
            changes["acquisition"] = {"name": pol.name, "maximize": pol.maximize,
                                      "params": params}
        elif action == "veto":
            self.dirty = True  # the gateway stored the vetoes; re-rank around them
            return
        else:
            return
        record = self.store.require_campaign(self.campaign_id)
        new = CampaignSettings.from_config({**record.config, **changes})  # refuse before saving
        self.store.update_config(self.campaign_id, changes)
        self.settings = replace(new, model=self.settings.model)
        self.learner.policy = self.settings.acquisition
        if action == "set_scalarizer" and self.spectra:
            self.learner.rescore(self._score(self.spectra).tolist())
        self.dirty = True
        self.store.publish_event(self.campaign_id, "replanned", {
            "reason": action, "control_id": control.get("control_id", "")})
        self.store.publish_event(self.campaign_id, "control_result", {
            "control_id": control.get("control_id", ""), "status": "accepted",
            "detail": "applied by the planner", "by": "planner"})

    def _vetoed_candidates(self) -> list[int]:
        """Candidate indices of vetoed points (vetoed grid points between candidates, with a
        stride > 1, have nothing to exclude)."""
        vetoed = self.store.vetoed_points(self.campaign_id)
        if not vetoed:
            return []
        grid = self.candidates.grid_shape
        lookup = dict(zip(map(tuple, self.candidates.coords.tolist()),
                          range(len(self.candidates)), strict=True))
        return [lookup[pt] for pt in vetoed
                if pt in lookup and 0 <= pt[0] < grid[0] and 0 <= pt[1] < grid[1]]

    def replan(self) -> None:
        s = self.settings
        pending = self._vetoed_candidates()
        t0 = time.perf_counter()
        if self.n_observed == 0:
            # Space-filling points, as many as a full plan: the microscope keeps measuring
            # them while the first model trains.
            seeds = self.learner.seed_points(max(s.seeds, s.plan_size, 1))
            points = self.candidates.coords[seeds]
            plan = PlanRecord(0, points.astype(np.int32),
                              np.zeros(len(points), np.float32), "seed", time.time(),
                              {"rank_s": time.perf_counter() - t0})
            self.store.put_plan(self.campaign_id, plan)
            self.dirty = False
            return
        report = self.learner.update()
        fit_s = time.perf_counter() - t0
        ranked = self.learner.rank(q=s.plan_size, pending=pending)
        self.version = self.version_base + ranked.model_version
        stats = {"fit_s": round(fit_s, 4), "rank_s": round(ranked.seconds, 4),
                 "n_train": report.n_train, "loss": float(report.loss),
                 "best": self.learner.best_value()}
        self.store.put_predictions(self.campaign_id, self.version, ranked.mean,
                                   ranked.variance)
        self.store.put_plan(self.campaign_id, PlanRecord(
            self.version, ranked.coords.astype(np.int32),
            ranked.scores.astype(np.float32), ranked.acquisition, time.time(), stats))
        self.dirty = False
