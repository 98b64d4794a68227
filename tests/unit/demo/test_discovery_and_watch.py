"""Discovery curves, the random baseline, and the loop metrics (idle time, latency)."""

from __future__ import annotations

import numpy as np

from planner_cluster.demo.watch import idle_time, loop_latencies
from planner_cluster.discovery import discovery, random_baseline, top_mask


def test_top_mask_keeps_at_least_one_percent() -> None:
    truth = np.arange(250, dtype=np.float64)
    mask = top_mask(truth)
    assert mask.sum() == 3 and mask[-3:].all()
    assert top_mask(np.array([1.0, 2.0])).tolist() == [False, True]


def test_top_mask_counts_only_scorable_sites() -> None:
    """An unscorable spectrum (NaN truth) is never a top site and does not count towards the
    1% (the sort would put NaN last and make it the threshold)."""
    truth = np.arange(150, dtype=np.float64)
    truth[[0, 149]] = np.nan  # 148 finite: ceil(1.48) = 2 top sites
    mask = top_mask(truth)
    assert mask.tolist().count(True) == 2 and mask[[147, 148]].all()
    assert not top_mask(np.full(4, np.nan)).any()


def test_discovery_counts_best_and_top_sites_in_order() -> None:
    truth = np.array([0.0, 5.0, 1.0, 9.0, 3.0])
    top = truth >= 5.0
    d = discovery(np.array([2, 1, 0, 3]), truth, top)
    assert d.best.tolist() == [1.0, 5.0, 5.0, 9.0]
    assert d.top.tolist() == [0, 1, 1, 2]


def test_random_baseline_samples_without_replacement() -> None:
    truth = np.arange(100, dtype=np.float64)
    top = top_mask(truth, 0.05)
    r = random_baseline(truth, top, 100, seeds=4, seed=1)
    assert r.best.shape == (4, 100) and r.top.shape == (4, 100)
    assert np.all(np.diff(r.best, axis=1) >= 0)
    assert np.all(r.best[:, -1] == 99) and np.all(r.top[:, -1] == 5)  # everything seen
    again = random_baseline(truth, top, 10, seeds=4, seed=1)
    np.testing.assert_array_equal(again.best, r.best[:, :10])  # seeded


def test_idle_time_is_the_gap_not_spent_acquiring() -> None:
    received = np.array([11.0, 11.5, 13.0])
    dwell = np.array([0.5, 0.5, 0.5])
    idle, span = idle_time(10.0, received, dwell)
    assert span == 3.0
    assert idle == (1.0 - 0.5) + 0.0 + (1.5 - 0.5)
    assert idle_time(None, np.zeros(0), np.zeros(0)) == (0.0, 0.0)


def test_loop_latency_from_newest_training_point_to_plan() -> None:
    received = np.array([1.0, 2.0, 3.0])
    schedule = [(0, 0, 0.5), (1, 1, 1.25), (2, 3, 3.5)]
    np.testing.assert_allclose(loop_latencies(schedule, received), [0.25, 0.5])
