"""Arrays over the inline limit stay in Redis when the store has no blob folder
(``large_arrays_in_redis``), so a store on any node reads them back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import redis

from planner_cluster.state import StateStore

pytestmark = pytest.mark.integration


def test_a_scan_over_4_mib_is_kept_in_redis_and_read_from_another_store(
        redis_server: Any, store: StateStore) -> None:
    inline = StateStore(redis.Redis.from_url(redis_server.url), store.prefix)
    other_node = StateStore(redis.Redis.from_url(redis_server.url), store.prefix)
    try:
        image = np.random.default_rng(0).random((1100, 1100)).astype(np.float32)  # 4.6 MiB
        assert image.nbytes > inline.inline_limit
        inline.create_campaign("big", edge_id="e", owner="o", config={}, spectral_axis=None)
        inline.put_scan("big", image, ["haadf"])
        raw = inline.r.hgetall(inline.key("campaign", "big", "scan"))
        assert b"image" in raw and b"image_ref" not in raw
        back, channels = other_node.get_scan("big")  # type: ignore[misc]
        assert channels == ["haadf"] and np.array_equal(back, image)
    finally:
        inline.close()
        other_node.close()
