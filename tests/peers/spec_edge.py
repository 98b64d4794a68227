"""An edge written from docs/protocol.md alone: plain pyzmq, msgpack, hmac and numpy, no
project code. Used to check that the spec is enough to run a campaign and to handle every
error code as section 8 says (tests/integration/test_spec_edge.py)."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
import uuid
from typing import Any

import msgpack
import numpy as np
import zmq

DELIMITER = b"<MA|v1>"


class SpecEdge:
    def __init__(self, endpoint: str, edge_id: str, key_file_text: str) -> None:
        self.key = key_file_text.strip().encode()  # section 5: the text is the key
        self.edge_id, self.session, self.seq = edge_id, uuid.uuid4().hex, 0
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, edge_id.encode())  # section 3: sender = identity
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.sent: dict[str, tuple[str, int]] = {}  # msg_id -> (msg_type, seq)

    def _sign(self, frames: list[bytes]) -> bytes:
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for f in frames:
            mac.update(struct.pack("<Q", len(f)) + f)
        return mac.digest()  # raw 32 bytes

    def send(self, msg_type: str, content: dict[str, Any],
             arrays: dict[str, np.ndarray[Any, Any]] | None = None) -> str:
        buffers = []
        for name, arr in (arrays or {}).items():
            arr = np.ascontiguousarray(arr)
            content[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                             "buffer": len(buffers)}
            buffers.append(arr.tobytes())
        msg_id = uuid.uuid4().hex
        header = msgpack.packb({"version": 1, "msg_type": msg_type, "msg_id": msg_id,
                                "sender": self.edge_id, "session": self.session,
                                "seq": self.seq, "parent_id": "", "time": time.time()})
        body = msgpack.packb(content)
        self.sent[msg_id] = (msg_type, self.seq)
        self.seq += 1
        self.sock.send_multipart([DELIMITER, self._sign([header, body, *buffers]), header,
                                  body, *buffers])
        return msg_id

    def recv(self, timeout_s: float = 10.0) -> tuple[dict[str, Any], dict[str, Any]]:
        if not self.sock.poll(int(timeout_s * 1000)):
            raise TimeoutError("no answer from the planner")
        frames = self.sock.recv_multipart()
        assert frames[0] == DELIMITER
        signature, header, body, buffers = frames[1], frames[2], frames[3], frames[4:]
        if not hmac.compare_digest(signature, self._sign([header, body, *buffers])):
            raise PermissionError("the planner's answer is not signed with our key")
        h, c = msgpack.unpackb(header), msgpack.unpackb(body)
        for name, value in list(c.items()):
            if isinstance(value, dict) and set(value) == {"dtype", "shape", "buffer"}:
                c[name] = np.frombuffer(buffers[value["buffer"]], value["dtype"]).reshape(
                    value["shape"])
        return h, c

    def answer(self, msg_id: str, timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        """The ack or error answering ``msg_id`` (section 8: errors name their parent);
        plans, heartbeats and welcomes are kept as ``self.last_plan`` on the way."""
        deadline = time.monotonic() + timeout_s
        while True:
            h, c = self.recv(max(0.1, deadline - time.monotonic()))
            if h["msg_type"] == "plan":
                self.last_plan = c
            if h["parent_id"] == msg_id and h["msg_type"] in ("ack", "error", "welcome"):
                return h["msg_type"], c

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()

    # -- a whole campaign, section 11 ---------------------------------------------------

    def run(self, cid: str, config: dict[str, Any], image: np.ndarray[Any, Any],
            spectrum_len: int, max_points: int) -> tuple[str, int, list[str]]:
        """Returns (how it ended, measurements acked, error codes seen)."""
        self.last_plan: dict[str, Any] = {}
        codes: list[str] = []
        kind, _ = self.answer(self.send("hello", {"edge_id": self.edge_id, "instrument": {}}))
        assert kind == "welcome"
        kind, c = self.answer(self.send("campaign_start", {"campaign_id": cid,
                                                           "config": config}))
        if kind == "error":
            return f"refused: {c['code']} {c['detail'].get('field', '')}", 0, [c["code"]]
        scan = self.send("scan", {"campaign_id": cid}, {"image": image})
        while True:
            kind, c = self.answer(scan)
            if kind == "ack":
                break
            codes.append(c["code"])
            if c["code"] != "no_capacity":
                return f"scan refused: {c['code']}", 0, codes
            time.sleep(float(c["detail"]["retry_after_s"]))
            scan = self.send("scan", {"campaign_id": cid}, {"image": image})
        acked, done = 0, set()
        while acked < max_points:
            if self.last_plan.get("status") in ("stopping", "finished", "aborted", "failed"):
                break
            points = [tuple(p) for p in np.asarray(self.last_plan.get("points", []))
                      if tuple(p) not in done]
            if not points:  # wait for a (newer) plan
                h, c = self.recv(10.0)
                if h["msg_type"] == "plan":
                    self.last_plan = c
                continue
            row, col = (int(v) for v in points[0])
            msg = self.send("measurement", {"campaign_id": cid, "row": row, "col": col},
                            {"spectrum": np.ones(spectrum_len, "<f4") * (row + col)})
            kind, c = self.answer(msg)
            done.add((row, col))
            if kind == "ack":
                acked += 1
                continue
            codes.append(c["code"])
            assert c["detail"]["seq"] == self.sent[msg][1]  # the error names the measurement
            if c["code"] == "campaign_ended":
                break  # keep it aside, finish
            if c["code"] == "scan_required":
                self.answer(self.send("scan", {"campaign_id": cid}, {"image": image}))
        self.send("bye", {"reason": "done", "campaign_id": cid})
        return "finished", acked, codes
