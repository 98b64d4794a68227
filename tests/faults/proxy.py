"""A loopback TCP proxy the fault tests control: 127.0.0.1:port -> 127.0.0.1:target.

``cut()`` drops every open connection and refuses new ones (accepted, then closed at once)
until ``restore()``: what a pulled cable or a dead switch looks like to both ends. One thread,
``selectors``; nothing leaves the host.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType


class LinkProxy:
    """Forwards TCP between an edge and the gateway; the link can be cut and restored.

    Args:
        target_port: the gateway's port on 127.0.0.1.
        port: where edges connect (0: a free one; read :attr:`port`).
    """

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._cut = False
        self._stop = threading.Event()
        self.refused = 0  # connections refused while cut
        self.dropped = 0  # connections dropped by a cut
        self.forwarded_bytes = 0
        self._thread = threading.Thread(target=self._serve, name="link-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> LinkProxy:
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every open connection now; refuse new ones until :meth:`restore`."""
        with self._lock:
            self._cut = True
            pairs = list(self._peers)
            for sock in pairs:
                self._close(sock)
            self.dropped += len(pairs) // 2

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    @property
    def is_cut(self) -> bool:
        return self._cut

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with self._lock:
            for sock in list(self._peers):
                self._close(sock)
        self._sel.close()
        self._listener.close()

    def __enter__(self) -> LinkProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the forwarding loop (its own thread) ------------------------------------------

    def _close(self, sock: socket.socket) -> None:
        """Close ``sock`` and its partner (caller holds the lock)."""
        other = self._peers.pop(sock, None)
        for s in (sock, other):
            if s is None:
                continue
            self._peers.pop(s, None)
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._cut:
            self.refused += 1
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=1.0)
        except OSError:  # the gateway is down: the edge sees a refused link too
            client.close()
            return
        for s in (client, upstream):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._peers[client] = upstream
        self._peers[upstream] = client
        self._sel.register(client, selectors.EVENT_READ, None)
        self._sel.register(upstream, selectors.EVENT_READ, None)

    def _forward(self, sock: socket.socket) -> None:
        other = self._peers.get(sock)
        if other is None:
            return
        try:
            data = sock.recv(1 << 16)
            if data:
                other.setblocking(True)  # loopback: a short blocking send keeps order simple
                other.settimeout(5.0)
                other.sendall(data)
                other.setblocking(False)
                self.forwarded_bytes += len(data)
                return
        except OSError:
            pass
        self._close(sock)

    def _serve(self) -> None:
        while not self._stop.is_set():
            events = self._sel.select(timeout=0.1)
            with self._lock:
                for key, _ in events:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peers:
                        self._forward(sock)
