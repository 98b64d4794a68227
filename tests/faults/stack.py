"""Real processes for the fault suite: a planner process that can be killed with SIGKILL,
edge agent processes, memory readings from /proc, and the exactly-once check against the
replay microscope's ground truth.

Only processes started here are signalled, always by PID.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
KEY = "fault-suite-signing-key-0123456789abcdef"

#: Edge timing for fast recovery in tests (defaults are for real links).
EDGE_ENV = {"AUTOPILOT_EDGE_RESEND_AFTER_S": "1", "AUTOPILOT_EDGE_BACKOFF_MAX_S": "1",
            "AUTOPILOT_EDGE_HELLO_TIMEOUT_S": "2", "PYTHONUNBUFFERED": "1"}


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def write_key(tmp: Path) -> Path:
    key = tmp / "signing.key"
    key.write_text(KEY)
    key.chmod(0o600)
    return key


class PlannerProcess:
    """``autopilot planner`` as its own process (gateway, supervisor), joining a Ray cluster.

    Each :meth:`start` writes a new log, ``planner-N.log``; :meth:`kill9` is a crash.
    """

    def __init__(self, *, redis_url: str, prefix: str, tmp: Path, port: int, ray: str,
                 password_file: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.redis_url, self.prefix, self.tmp, self.port, self.ray = (
            redis_url, prefix, tmp, port, ray)
        self.password_file = password_file
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = tmp / "planner-0.log"

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout_s: float = 60.0) -> PlannerProcess:
        self.starts += 1
        self.log = self.tmp / f"planner-{self.starts}.log"
        cmd = [sys.executable, "-m", "autopilot_cli", "planner", "--redis", self.redis_url,
               "--ray", self.ray, "--bind", self.endpoint, "--prefix", self.prefix,
               "--signing-key", str(write_key(self.tmp)), "--data-dir",
               str(self.tmp / "planner-data"), "--log-level", "INFO"]
        env = {**os.environ, "AUTOPILOT_PLANNER_HEARTBEAT_S": "0.5", "PYTHONUNBUFFERED": "1",
               **self.env}
        if self.password_file is not None:
            env["AUTOPILOT_PLANNER_REDIS_PASSWORD_FILE"] = str(self.password_file)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout_s
        while "gateway listening on" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"planner did not start:\n{tail}")
            time.sleep(0.05)
        return self

    def kill9(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(30) == -signal.SIGKILL
        self.proc = None

    def stop(self, timeout_s: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)


def edge_process(*, planner: str, tmp: Path, campaign: str, edge_id: str, max_points: int,
                 instrument: str = "replay:beps", dwell_s: float = 0.05, batch: int = 4,
                 extra: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 fast: bool = True) -> subprocess.Popen[bytes]:
    """A real edge agent process; its spool is ``tmp/spool-EDGE`` and its log
    ``tmp/EDGE.log`` (appended to across restarts). ``fast``: resend and reconnect timing
    for quick recovery in short tests (:data:`EDGE_ENV`); else the agent's defaults."""
    cmd = [sys.executable, "-m", "autopilot_cli", "edge", "run", "--planner", planner,
           "--instrument", instrument, "--dwell", str(dwell_s), "--campaign", campaign,
           "--edge-id", edge_id, "--spool", str(tmp / f"spool-{edge_id}"),
           "--signing-key", str(write_key(tmp)), "--max-points", str(max_points),
           "--batch", str(batch), "--progress", "off", "--heartbeat", "0.5", *extra]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(EDGE_ENV if fast else {}),
                **(env or {})}
    with (tmp / f"{edge_id}.log").open("ab") as out:
        return subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=full_env)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 20.0) -> None:
    """Terminate a process this suite started (by its PID), killing it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


def replay_truth() -> np.ndarray[Any, Any]:
    """Every spectrum of the BEPS replay (rows x cols x n): what `export-truth` writes."""
    from edge_agent.instruments import make_instrument

    instrument: Any = make_instrument("replay:beps")
    return np.asarray(instrument.dataset.spectra)


@dataclass(frozen=True)
class Tally:
    """What a campaign ended with, checked against the ground truth."""

    stored: int
    distinct_points: int
    duplicates: int
    wrong_checksums: int
    digest: str
    truth_digest: str


def tally(store: Any, campaign_id: str, truth: np.ndarray[Any, Any]) -> Tally:
    """Count stored measurements, duplicates and spectra that differ from the truth, and a
    checksum over every stored spectrum in point order against the same over the truth."""
    stored = store.read_measurements(campaign_id)
    points = [(m.row, m.col) for m in stored]
    wrong = 0
    ours, theirs = hashlib.sha256(), hashlib.sha256()
    for m in sorted(stored, key=lambda m: (m.row, m.col)):
        expected = truth[m.row, m.col].astype(m.spectrum.dtype)
        wrong += m.spectrum.tobytes() != expected.tobytes()
        ours.update(m.spectrum.tobytes())
        theirs.update(expected.tobytes())
    return Tally(len(stored), len(set(points)), len(points) - len(set(points)), wrong,
                 ours.hexdigest(), theirs.hexdigest())
