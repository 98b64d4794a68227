"""The demo's run: start everything, follow the campaign, stop everything.

Order: the planner service in a thread of this process (embedded Redis, local Ray on
127.0.0.1 with explicit limits, the campaign actors, the gateway), the ground-truth export,
the dashboard if ``autopilot monitor`` is installed, then the edge agent replaying the data
set. The dashboard's address and token are printed before the edge starts. The campaign runs
to its point budget under the progress display; Ctrl-C (SIGINT) then asks the edge for a clean
stop. :class:`DemoRun` is a context manager: everything stays up after :meth:`DemoRun.run`
(the results are built while the dashboard still shows the campaign, and
:meth:`DemoRun.hold_dashboard` keeps it up until Ctrl-C); leaving the ``with`` stops
everything, each child by its PID, Ray with ``ray.shutdown()``, Redis by the service that
started it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import numpy as np
from rich.console import Console

from ..config import PlannerConfig
from ..errors import PlannerError
from ..redis_server import free_port
from ..service import PlannerService
from ..state.credentials import EdgeCredentials
from .dashboard import Dashboard
from .display import ProgressDisplay
from .presets import PRESETS, campaign_config, edge_config_toml
from .processes import Child, autopilot_command
from .watch import CampaignWatch

__all__ = ["DemoError", "DemoOptions", "DemoRun"]

log = logging.getLogger(__name__)
#: the demo's edge id (issued its own signing key at every run)
DEMO_EDGE = "demo-edge"


class DemoError(PlannerError, RuntimeError):
    """The demo could not start or run its campaign."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``autopilot demo`` was asked for (see its ``--help``)."""

    out: Path
    dataset: str = "beps"
    steps: int = 40
    batch: int = 1
    acquisition: str = "ei"
    scalarizer: str | None = None
    dwell_s: float = 0.1
    seed: int = 0
    baseline_seeds: int = 32
    timeout_s: float = 1800.0
    live: bool = True


@dataclass
class Collected:
    """What the run took from the state store before shutting it down."""

    campaign_id: str
    config: dict[str, Any]
    status: str
    image: Any
    channels: list[str]
    axis: Any
    vetoed: list[tuple[int, int]]
    watch: CampaignWatch
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    edge_code: int | None = None
    truth_file: Path | None = None
    dashboard: str = ""
    interrupted: bool = False


class DemoRun:
    """One demo run in ``options.out``; :meth:`run` returns what it collected. Use it in a
    ``with`` block: leaving it stops everything the run started."""

    def __init__(self, options: DemoOptions, planner: PlannerConfig, console: Console) -> None:
        self.options = options
        self.console = console
        self.preset = PRESETS[options.dataset]
        self.dir = options.out.resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        # the demo's edge gets its own key once the planner runs (autopilot edges add)
        self.key_file = self.dir / "edge.key"
        self.config = replace(planner, bind=f"tcp://127.0.0.1:{free_port()}",
                              signing_key_file="", require_edge_keys=True,
                              data_dir=str(self.dir / "planner"), heartbeat_s=0.5)
        self.campaign_id = f"demo-{options.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.interrupts = 0
        self.service = PlannerService(self.config)
        self.children: list[Child] = []
        self.dashboard: Dashboard | None = None
        self._failure: BaseException | None = None
        self._planner_thread: threading.Thread | None = None
        self.startup_s = 0.0
        self.truth_shared = False

    # -- signals ---------------------------------------------------------------------------

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupts += 1

    # -- the run ---------------------------------------------------------------------------

    def __enter__(self) -> DemoRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        previous = signal.signal(signal.SIGINT, self._on_sigint)  # a Ctrl-C cannot cut it short
        try:
            self._shutdown(self._planner_thread)
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self) -> Collected:
        """Start everything and run the campaign to its end; Ctrl-C stops the campaign
        cleanly (twice: aborts it). Everything stays up until the ``with`` block ends."""
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            self._planner_thread = self._start_planner()
            return self._campaign()
        finally:
            signal.signal(signal.SIGINT, previous)

    def hold_dashboard(self) -> None:
        """Keep the dashboard up, the finished campaign on it, until Ctrl-C."""
        if self.dashboard is not None:
            self.dashboard.hold(self.console)

    def _serve(self) -> None:
        try:
            self.service.run()
        except BaseException as exc:  # reported by the main thread
            self._failure = exc

    def _start_planner(self) -> threading.Thread:
        started = time.monotonic()
        # The thread (and Redis, started from it) inherits a blocked SIGINT: a Ctrl-C on the
        # terminal reaches the process group, and only this thread should see it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            thread = threading.Thread(target=self._serve, name="planner", daemon=True)
            thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        with self.console.status("starting Redis, Ray and the planner ..."):
            while not self.service.ready.wait(0.1):
                if not thread.is_alive():
                    raise DemoError(f"the planner did not start: {self._failure}")
                if self.interrupts:
                    raise KeyboardInterrupt
        self.startup_s = time.monotonic() - started
        self.console.print(f"planner up in {self.startup_s:.1f} s: Redis "
                           f"{self.service.redis_url}, gateway {self.config.bind}, local Ray "
                           f"({self.config.ray_num_cpus} CPUs, {self.config.ray_memory_mb} MB)")
        return thread

    def _child(self, name: str, *args: str) -> Child:
        child = Child(name, autopilot_command(*args), self.dir / f"{name}.log",
                      cwd=self.dir).start()
        self.children.append(child)
        return child

    def _campaign(self) -> Collected:
        o, p = self.options, self.preset
        spec = p.instrument_spec(o.seed)
        truth_file = self.dir / "truth.npz"
        truth = self._child("export-truth", "edge", "export-truth", spec, str(truth_file))
        self.dashboard = Dashboard(self.service.redis_url, self.config.redis_prefix,
                                   free_port(), self.dir,
                                   password_file=self.service.redis_password_file).start()
        self.dashboard.announce(self.console, lambda: self.interrupts > 0)
        assert self.service.store is not None
        key = EdgeCredentials(self.service.store).issue(DEMO_EDGE, replace=True)
        self.key_file.touch(mode=0o600)
        self.key_file.write_bytes(key + b"\n")
        edge_toml = self.dir / "edge.toml"
        edge_toml.write_text(edge_config_toml(campaign_config(
            p, scalarizer=o.scalarizer, acquisition=o.acquisition, batch=o.batch, seed=o.seed)))
        edge = self._child(
            "edge", "edge", "run", "--config", str(edge_toml), "--planner", self.config.bind,
            "--instrument", spec, "--dwell", str(o.dwell_s), "--campaign", self.campaign_id,
            "--edge-id", DEMO_EDGE, "--spool", str(self.dir / "spool"), "--signing-key",
            str(self.key_file), "--max-points", str(o.steps), "--batch", str(o.batch),
            "--progress", "off", "--heartbeat", "0.5", "--drain-timeout", "10")
        store = self.service.store
        assert store is not None
        watch = CampaignWatch(store, self.campaign_id)
        started = time.monotonic()
        forwarded = 0
        with ProgressDisplay(self.console, o.steps, f"{o.dataset} campaign") as display:
            while edge.running():
                self._share_truth(truth, truth_file)
                if self.interrupts > forwarded or time.monotonic() - started > o.timeout_s:
                    edge.interrupt()  # once: clean stop; twice: abort
                    forwarded = max(self.interrupts, forwarded + 1)
                display.update(watch.poll(), "stopping (Ctrl-C again to abort) ..."
                               if forwarded else self.dashboard.note)
                edge.wait(0.25)
            watch.wait_settled(self._actor_alive, 5.0 if forwarded else 30.0)
            display.update(watch.metrics, self.dashboard.note)
        campaign_s = time.monotonic() - started
        if edge.returncode not in (0, None) and not forwarded:
            log.warning("edge exited with %s: %s", edge.returncode, edge.tail())
        record = store.require_campaign(self.campaign_id)
        scan = store.get_scan(self.campaign_id)
        truth.stop(60.0)
        self._share_truth(truth, truth_file)
        return Collected(
            campaign_id=self.campaign_id, config=record.config, status=record.status,
            image=scan[0] if scan else None, channels=scan[1] if scan else [],
            axis=store.spectral_axis(self.campaign_id),
            vetoed=sorted(store.vetoed_points(self.campaign_id)), watch=watch,
            device=str(getattr(self.service.supervisor, "device", "cpu")),
            timings={"startup_s": self.startup_s, "campaign_s": campaign_s},
            edge_code=edge.returncode,
            truth_file=truth_file if truth.returncode == 0 and truth_file.is_file() else None,
            dashboard=self.dashboard.address, interrupted=forwarded > 0)

    def _share_truth(self, truth: Child, path: Path) -> None:
        """Give the dashboard the replayed field of view once exported: its discovery curve
        is then drawn against the exact random and raster baselines."""
        if self.truth_shared or truth.returncode != 0 or not path.is_file():
            return
        self.truth_shared = True
        store = self.service.store
        try:
            with np.load(path, allow_pickle=False) as f:
                spectra = np.asarray(f["spectra"])
            if store is not None:
                store.put_ground_truth(self.campaign_id, spectra)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ground truth not shared with the dashboard: %s", exc)

    def _actor_alive(self) -> bool:
        import ray

        from ..actors.supervisor import NAMESPACE

        supervisor = self.service.supervisor
        if supervisor is None or not ray.is_initialized():
            return False
        try:
            ray.get_actor(supervisor.actor_name(self.campaign_id), namespace=NAMESPACE)
        except ValueError:
            return False
        return True

    def _shutdown(self, thread: threading.Thread | None) -> None:
        """Stop the edge (clean stop first), the monitor, the planner: by PID, in order."""
        if self.dashboard is not None:
            self.dashboard.stop()
        for child in reversed(self.children):  # the edge first
            if child.name == "edge":
                child.interrupt()  # a clean stop: drain, finish the campaign
                child.stop(20.0)
            else:  # the ground-truth export: let it finish unless interrupted
                child.stop(60.0, terminate=self.interrupts > 0)
        deadline = time.monotonic() + 120.0
        while (thread is not None and thread.is_alive() and not self.service.ready.is_set()
               and time.monotonic() < deadline):
            self.service.ready.wait(0.1)  # interrupted while starting: let it finish, then stop
        self.service.stop()
        if thread is not None:
            thread.join(60.0)
            if thread.is_alive():
                log.error("the planner did not stop within 60 s")


