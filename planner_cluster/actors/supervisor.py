"""Ray, applied in one place: starting or joining a cluster, and one named, restartable
``CampaignActor`` per campaign.

Actors are named ``campaign:<id>`` in the planner's namespace and detached, so a restarted
planner finds the running ones (``get_if_exists``) instead of starting twins; the campaign
lease in Redis guards the rare race across namespaces. ``max_restarts=-1`` makes Ray restart
a dead actor, whose worker then rebuilds itself from Redis.

Fair sharing: each actor reserves ``actor_cpus`` (placement: Ray queues actors beyond
capacity) and trains with one torch thread, and its fits wait for one of the node's
``training_slots`` (:mod:`.training_gate`), handed to the most stale campaign first.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from protocol.lifecycle import FINAL

from ..config import PlannerConfig
from ..errors import PlannerError
from .campaign import CampaignWorker

log = logging.getLogger(__name__)

NAMESPACE = "autopilot"
#: Ray rewrites 127.0.0.1 (and localhost) to the machine's network address; any other
#: 127.x address stays loopback, so a local Ray keeps all its traffic on this host.
LOOPBACK_NODE_IP = "127.0.0.2"


class RayStartError(PlannerError, RuntimeError):
    """Ray could not be started or joined."""


def init_ray(config: PlannerConfig) -> bool:
    """Start a local Ray on loopback, 127.0.0.2 (``ray=local``), or join one (``auto`` or an
    address).

    Returns False when this process was connected to Ray already (its owner stops it).

    Token authentication stays on (Ray's default for local clusters since 2.59); a remote
    cluster's token comes from ``RAY_AUTH_TOKEN_PATH`` in the process environment.
    """
    import ray

    if ray.is_initialized():
        return False
    try:
        if config.ray == "local":
            ray.init(num_cpus=config.ray_num_cpus,
                     object_store_memory=config.ray_object_store_mb * 1024 * 1024,
                     include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
                     configure_logging=False, _node_ip_address=LOOPBACK_NODE_IP,
                     _system_config={"automatic_object_spilling_enabled": False},
                     _memory=config.ray_memory_mb * 1024 * 1024)
        else:
            ray.init(address=config.ray, namespace=NAMESPACE, log_to_driver=False,
                     configure_logging=False)
    except Exception as exc:
        raise RayStartError(f"cannot start or join Ray ({config.ray}): {exc}") from exc
    return True


class Supervisor:
    """Keeps one CampaignActor per live campaign.

    Args:
        redis_url / prefix / password / ssl: passed to each actor (it opens its own
            connection).
        blob_dir: where large arrays live (a folder every node sees, in a cluster).
        actor_resources: custom Ray resources per actor (placement on chosen nodes).
        actor_cpus: CPU reservation per actor.
        gpu_fraction: GPU share per actor, used when the cluster has GPUs.
        training_slots: concurrent fits per node (0: one per CPU, or per GPU; the default is
            PlannerConfig's).
    """

    def __init__(self, redis_url: str, prefix: str, *, password: str | None = None,
                 actor_cpus: float = 0.25, gpu_fraction: float = 0.25,
                 actor_resources: dict[str, float] | None = None,
                 ssl: dict[str, str] | None = None, blob_dir: str | None = None,
                 training_slots: int) -> None:
        import ray

        self.redis_url, self.prefix, self.password = redis_url, prefix, password
        self.actor_cpus = actor_cpus
        self.actor_resources = dict(actor_resources or {})
        self.ssl, self.blob_dir = ssl, blob_dir
        self.training_slots = training_slots
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0  # type: ignore[no-untyped-call]
        self.num_gpus = gpu_fraction if has_gpu else 0.0
        self.device = "cuda" if has_gpu else "cpu"
        self.actor_class = ray.remote(CampaignWorker)
        self.handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="supervisor")

    def actor_name(self, campaign_id: str) -> str:
        return f"campaign:{self.prefix}:{campaign_id}"

    def capacity(self) -> int:
        """Campaign actors the cluster can run at once (its CPUs over each one's share)."""
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
        return max(1, int(cpus / self.actor_cpus)) if self.actor_cpus > 0 else 0

    def ensure(self, campaign_id: str) -> Any:
        """Create the campaign's actor, or return the running one (blocking: Ray calls)."""
        with self._lock:
            handle = self.actor_class.options(
                name=self.actor_name(campaign_id), namespace=NAMESPACE, get_if_exists=True,
                lifetime="detached", max_restarts=-1, max_task_retries=-1,
                num_cpus=self.actor_cpus, num_gpus=self.num_gpus,
                resources=self.actor_resources or None,
                max_concurrency=4,  # status() answers while the worker thread trains
            ).remote(campaign_id, self.redis_url, self.prefix, password=self.password,
                     device=self.device, ssl=self.ssl, blob_dir=self.blob_dir,
                     training_slots=self.training_slots)
            self.handles[campaign_id] = handle
            return handle

    def ensure_soon(self, campaign_id: str) -> None:
        """Non-blocking :meth:`ensure`, for the gateway's event loop."""
        def report(future: Any) -> None:
            if future.exception() is not None:
                log.error("cannot start the actor of %s: %s", campaign_id, future.exception())

        self._pool.submit(self.ensure, campaign_id).add_done_callback(report)

    def ensure_live_campaigns(self, store: Any) -> list[str]:
        """After a planner restart: an actor for every campaign that is not over."""
        live = [c.campaign_id for c in store.list_campaigns() if c.status not in FINAL]
        for cid in live:
            self.ensure(cid)
        return live

    def reap(self, store: Any) -> list[str]:
        """Kill the actors of campaigns that are over once their worker has finished (it
        trains a last model on all the data first); returns their ids."""
        import ray

        done = []
        for cid, handle in list(self.handles.items()):
            record = store.get_campaign(cid)
            if record is not None and record.status not in FINAL:
                continue
            try:
                if ray.get(handle.status.remote(), timeout=5)["alive"]:
                    continue  # still finishing
            except Exception as exc:  # already gone, or busy past the timeout: next round
                log.debug("status of %s: %s", cid, exc)
                if not isinstance(exc, ray.exceptions.RayActorError):
                    continue
            ray.kill(handle, no_restart=True)
            self.handles.pop(cid, None)
            done.append(cid)
        return done

    def status(self, campaign_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
        import ray

        return dict(ray.get(self.ensure(campaign_id).status.remote(), timeout=timeout_s))

    def kill(self, campaign_id: str, *, restart: bool = True) -> None:
        """Kill the actor's process (fault tests): Ray restarts it when ``restart``."""
        import ray

        ray.kill(self.handles[campaign_id], no_restart=not restart)

    def shutdown(self) -> None:
        """Stop supervising. Detached actors keep planning: a restarted planner (or another
        one) finds them by name, and a planner that owns its local Ray stops them with it."""
        self._pool.shutdown(wait=True)
        self.handles.clear()
