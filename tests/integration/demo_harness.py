"""``autopilot demo`` as a child process: starting it as a user would, finding the processes
it started, and stopping it in the middle of a campaign."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from ..conftest import wait_for


def start_demo(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """In its own session (a Ctrl-C there is ours to send), in the log's folder (not the
    checkout, whose build metadata may be stale)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    with log.open("wb") as fh:  # the child keeps its own handle
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd=log.parent)


def descendants(pid: int) -> list[Any]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def cmdline(p: Any) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def alive(p: Any) -> bool:
    try:
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def stop_mid_campaign(proc: subprocess.Popen[bytes], log: Path,
                      stop: Callable[[list[Any]], None]) -> str:
    """Wait until the demo ``proc`` runs a campaign (its edge and a campaign actor are up),
    then ``stop(children)`` signals it; check that it exits with 130 (interrupted) and that
    every process it started ends. Returns its output; kills it if it outlives this."""
    def mid_campaign() -> list[Any]:
        procs = descendants(proc.pid)
        lines = [cmdline(p) for p in procs]
        edge = any(" edge run " in line for line in lines)
        actor = any("CampaignWorker" in line for line in lines)
        return procs if edge and actor else []

    try:
        children = wait_for(mid_campaign, timeout=150, interval=0.2, what="a running campaign")
        stop(children)
        code = proc.wait(150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert code == 130, text[-3000:]
    wait_for(lambda: not [p for p in children if alive(p)], timeout=60,
             what="every process the demo started to end")
    return text
