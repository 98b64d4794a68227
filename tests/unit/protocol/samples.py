"""One valid body per message type: the contract tests round-trip each."""

from __future__ import annotations

import numpy as np

import protocol as p

KEY = b"0123456789abcdef0123456789abcdef"

SAMPLES: dict[str, p.Body] = {
    "hello": p.Hello("edge-1", {"name": "replay", "fov": [50, 50], "dwell_s": 0.5},
                     software="test 0.1"),
    "welcome": p.Welcome("planner-1", 1, 2.0, {"max_buffer_bytes": 1 << 20}),
    "campaign_start": p.CampaignStart(
        "c1", {"scalarizer": "loop_area", "patch": 8, "budget": {"points": 50}}, resume=True,
        spectral_axis=np.linspace(-8.5, 8.5, 64)),
    "scan": p.Scan("c1", np.random.default_rng(0).random((50, 50, 2), dtype=np.float32),
                   ["height", "amplitude"]),
    "measurement": p.Measurement("c1", 3, 4, np.linspace(0, 1, 64, dtype=np.float32),
                                 source="seed", plan_version=2, dwell_s=0.5),
    "ack": p.Ack(7, "duplicate", "already stored"),
    "plan": p.Plan("c1", 5, np.array([[1, 2], [3, 4]], dtype=np.int32),
                   np.array([0.9, 0.5], dtype=np.float32), "ei"),
    "control": p.Control("c1", "veto", {"points": [[1, 2]]}, user="alice", control_id="x1"),
    "heartbeat": p.Heartbeat("measuring", "c1", {"spooled": 0, "rate": 1.5}),
    "error": p.Error("unknown_campaign", "no campaign 'c9'", {"campaign_id": "c9"}),
    "bye": p.Bye("operator stop"),
}
