"""The demo's dashboard: ``autopilot monitor`` with an admin token, started in the background.

Starting it takes a few seconds (a user and token are created first), so it runs in a thread
while the planner's campaign is set up; the demo waits for it (:meth:`Dashboard.wait_ready`)
and prints the address and token before the campaign starts, so the whole run can be watched.
Skipped, with a note, when the monitor is not installed or does not start.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from .processes import Child, autopilot_command, has_command

__all__ = ["Dashboard"]

log = logging.getLogger(__name__)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Dashboard:
    """Starts the monitor on ``port`` against the planner's Redis.

    Attributes:
        address: ``http://127.0.0.1:PORT`` once it answers, else "".
        token: the demo user's login token ("" if it could not be made).
        note: what to tell the user (address and token, or why there is none).
    """

    def __init__(self, redis_url: str, prefix: str, port: int, run_dir: Path, *,
                 password_file: str = "") -> None:
        # The password goes by file: a command line is readable by every local user.
        self.store_args = ["--redis", redis_url, "--prefix", prefix]
        if password_file:
            self.store_args += ["--redis-password-file", password_file]
        self.port = port
        self.dir = run_dir
        self.address = ""
        self.token = ""
        self.note = ""
        self.child: Child | None = None
        self._cancel = threading.Event()
        self._ready = threading.Event()  # set once it answers, or once it is known it will not
        self._thread = threading.Thread(target=self._start, name="dashboard", daemon=True)

    def start(self) -> Dashboard:
        if not has_command("monitor"):
            self.note = "no dashboard: `autopilot monitor` is not installed"
            self._ready.set()
            return self
        self.note = "dashboard starting ..."
        self._thread.start()
        return self

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the monitor to answer or fail; True once settled."""
        return self._ready.wait(timeout_s)

    def running(self) -> bool:
        return bool(self.address) and self.child is not None and self.child.running()

    def announce(self, console: Console, interrupted: Callable[[], bool]) -> None:
        """Wait (bounded) for the monitor, then print its address and token: first, so
        the whole campaign can be watched. A Ctrl-C meanwhile raises KeyboardInterrupt."""
        with console.status("starting the dashboard ..."):
            deadline = time.monotonic() + 60.0
            while not self.wait_ready(0.1) and time.monotonic() < deadline:
                if interrupted():
                    raise KeyboardInterrupt
        if not self.address:
            console.print(self.note if self._ready.is_set() else
                          "no dashboard: the monitor did not start within 60 s")
            return
        console.print(f"[bold]dashboard[/] {self.address}" + (
            f"  log in with token [bold]{self.token}[/]" if self.token else ""), soft_wrap=True)

    def hold(self, console: Console) -> None:
        """Keep the monitor up until Ctrl-C (returns normally then) or until it ends."""
        if not self.running():
            return
        console.print(f"[bold]the dashboard stays up at {self.address}[/]"
                      + (f" (token {self.token})" if self.token else "")
                      + " to review the campaign", soft_wrap=True)
        console.print("[bold]press Ctrl-C to stop it and exit[/]")
        try:
            while self.running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print("stopping the dashboard and the planner ...")
            return
        console.print(f"[yellow]the dashboard stopped by itself (see {self.dir}/monitor.log)[/]")

    def _start(self) -> None:
        try:
            self._start_monitor()
        finally:
            self._ready.set()

    def _start_monitor(self) -> None:
        try:
            made = subprocess.run(
                autopilot_command("monitor", "add-user", "demo", "--role", "admin",
                                  *self.store_args),
                capture_output=True, text=True, timeout=60, start_new_session=True,
                check=False, cwd=self.dir)
            lines = made.stdout.strip().splitlines()
            self.token = lines[-1] if made.returncode == 0 and lines else ""
        except subprocess.TimeoutExpired:
            log.warning("monitor add-user timed out")
        if self._cancel.is_set():
            return
        self.child = Child("monitor", autopilot_command(
            "monitor", "serve", *self.store_args, "--bind", f"127.0.0.1:{self.port}"),
            self.dir / "monitor.log", cwd=self.dir).start()
        deadline = time.monotonic() + 30.0
        while not _listening(self.port):
            if (self.child.wait(0.1) is not None or time.monotonic() > deadline
                    or self._cancel.is_set()):
                self.note = f"no dashboard: the monitor did not start (see {self.child.log_path})"
                return
        self.address = f"http://127.0.0.1:{self.port}"
        self.note = f"dashboard: {self.address}" + (f"  (log in with token {self.token})"
                                                     if self.token else "")
        log.info("dashboard at %s", self.address)

    def stop(self) -> None:
        """Stop the monitor (SIGTERM, then SIGKILL), waiting for the starter thread first."""
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(70.0)
        if self.child is not None:
            self.child.stop(10.0, terminate=True)
