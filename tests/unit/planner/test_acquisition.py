"""Acquisition functions against closed forms; batch selection rules.

``ei`` and ``pi`` return natural logs, so their exponentials are compared with the closed forms
(numerics far in the tails: ``test_acquisition_numerics.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner_cluster.acquisition import ACQUISITIONS, evaluate, select_batch
from planner_cluster.errors import AcquisitionError


def phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


MEAN = np.array([0.0, 1.0, 2.0, -1.0, 0.5])
VAR = np.array([1.0, 0.25, 4.0, 0.01, 0.0])


def test_registry_holds_the_five_functions() -> None:
    assert {"ei", "ucb", "pi", "max_variance", "thompson"} <= set(ACQUISITIONS)


@pytest.mark.parametrize("maximize", [True, False])
def test_expected_improvement_closed_form(maximize: bool) -> None:
    best = 0.8
    got = np.exp(evaluate("ei", MEAN, VAR, best_f=best, maximize=maximize, xi=0.1))
    for m, v, g in zip(MEAN, VAR, got, strict=True):
        s = math.sqrt(v)
        u = (m - best if maximize else best - m) - 0.1
        want = max(u, 0.0) if s == 0 else u * cdf(u / s) + s * phi(u / s)
        assert g == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("maximize", [True, False])
def test_pi_and_ucb_closed_forms(maximize: bool) -> None:
    best = 0.8
    sign = 1.0 if maximize else -1.0
    pi = np.exp(evaluate("pi", MEAN, VAR, best_f=best, maximize=maximize))
    ucb = evaluate("ucb", MEAN, VAR, maximize=maximize, beta=9.0)
    for m, v, p, u in zip(MEAN, VAR, pi, ucb, strict=True):
        s = math.sqrt(v)
        imp = sign * (m - best)
        assert p == pytest.approx(float(imp > 0) if s == 0 else cdf(imp / s), rel=1e-9)
        assert u == pytest.approx(sign * m + 3.0 * s, rel=1e-12)
    np.testing.assert_allclose(evaluate("max_variance", MEAN, VAR), VAR)


def test_xi_is_in_units_of_the_exploration_scale() -> None:
    mean, var = MEAN[:4], VAR[:4]  # (the std floor of certain candidates scales too)
    for name in ("ei", "pi"):
        raw = evaluate(name, mean, var, best_f=0.8, xi=0.1)
        scaled = evaluate(name, mean, var, best_f=0.8, xi=2.0, exploration_scale=0.05)
        np.testing.assert_allclose(scaled, raw, rtol=1e-12)
    ucb = evaluate("ucb", MEAN, VAR, beta=9.0)
    np.testing.assert_array_equal(evaluate("ucb", MEAN, VAR, beta=9.0, exploration_scale=7.0), ucb)


def test_thompson_draws_are_seeded() -> None:
    a = evaluate("thompson", MEAN, VAR, rng=np.random.default_rng(3))
    b = evaluate("thompson", MEAN, VAR, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a[4] == MEAN[4]  # zero variance: the mean itself


def test_bad_acquisition_inputs() -> None:
    with pytest.raises(AcquisitionError, match="best_f"):
        evaluate("ei", MEAN, VAR)
    with pytest.raises(AcquisitionError, match="unknown acquisition"):
        evaluate("nope", MEAN, VAR)
    with pytest.raises(AcquisitionError, match="NaN"):
        evaluate("ucb", np.array([np.nan]), np.array([1.0]))
    with pytest.raises(AcquisitionError, match="shape"):
        evaluate("ucb", MEAN, VAR[:3])
    with pytest.raises(AcquisitionError, match="unknown parameter"):
        evaluate("ucb", MEAN, VAR, gamma=1.0)
    with pytest.raises(AcquisitionError, match="beta"):
        evaluate("ucb", MEAN, VAR, beta=-1.0)
    with pytest.raises(AcquisitionError, match="exploration_scale"):
        evaluate("ei", MEAN, VAR, best_f=0.0, exploration_scale=0.0)


def grid(n: int) -> np.ndarray:
    rr, cc = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], axis=1)


@pytest.mark.parametrize("name", ["ei", "ucb", "pi", "max_variance", "thompson"])
def test_batches_are_distinct_and_never_excluded(name: str) -> None:
    rng = np.random.default_rng(0)
    coords = grid(10)
    mean = rng.normal(size=100)
    var = rng.uniform(0.1, 1.0, size=100)
    exclude = np.argsort(mean)[-20:]  # the 20 best means are measured or pending
    sel = select_batch(
        mean, var, q=8, acquisition=name, best_f=1.0, exclude=exclude, coords=coords, seed=1
    )
    assert len(sel.indices) == 8 and len(set(sel.indices.tolist())) == 8
    assert not set(sel.indices.tolist()) & set(exclude.tolist())
    assert sel.scores.shape == (8,)


def test_local_penalisation_spreads_a_batch() -> None:
    coords = grid(20)
    mean = -((coords - 10.0) ** 2).sum(axis=1) / 50.0  # one smooth bump at the centre
    var = np.full(400, 0.1)
    plain = select_batch(mean, var, q=4, acquisition="ucb")
    spread = select_batch(mean, var, q=4, acquisition="ucb", coords=coords, penalty_radius=3.0)

    def min_gap(sel: np.ndarray) -> float:
        pts = coords[sel]
        return min(np.hypot(*(a - b)) for i, a in enumerate(pts) for b in pts[i + 1 :])

    assert min_gap(plain.indices) <= 1.0
    assert min_gap(spread.indices) >= 3.0


def test_kriging_believer_uses_covariance_to_diversify() -> None:
    # Two clusters of perfectly correlated candidates: after one pick its twins lose variance.
    mean = np.zeros(6)
    var = np.array([1.0, 1.0, 1.0, 0.9, 0.9, 0.9])
    cov = np.zeros((6, 6))
    cov[:3, :3] = 1.0
    cov[3:, 3:] = 0.9
    sel = select_batch(mean, var, q=2, acquisition="max_variance", covariance=lambda j: cov[:, j])
    assert sel.indices[0] in (0, 1, 2)
    assert sel.indices[1] in (3, 4, 5)
    assert sel.scores[1] == pytest.approx(0.9)


def test_travel_penalty_prefers_nearby_points() -> None:
    coords = grid(10)
    mean = np.zeros(100)
    mean[0], mean[99] = 1.0, 0.95  # (0, 0) slightly better than (9, 9)
    var = np.full(100, 1e-6)
    far = select_batch(mean, var, q=1, acquisition="ucb", coords=coords, position=(9, 9))
    near = select_batch(
        mean, var, q=1, acquisition="ucb", coords=coords, position=(9, 9), travel_weight=1.0
    )
    assert far.indices[0] == 0 and near.indices[0] == 99


def test_selection_edge_cases() -> None:
    with pytest.raises(AcquisitionError, match="no eligible"):
        select_batch(np.zeros(3), np.ones(3), q=1, acquisition="ucb", exclude=[0, 1, 2])
    with pytest.raises(AcquisitionError, match="outside"):
        select_batch(np.zeros(3), np.ones(3), q=1, acquisition="ucb", exclude=[5])
    with pytest.raises(AcquisitionError, match="q must"):
        select_batch(np.zeros(3), np.ones(3), q=0, acquisition="ucb")
    with pytest.raises(AcquisitionError, match="coords"):
        select_batch(np.zeros(3), np.ones(3), q=1, acquisition="ucb", coords=np.zeros((2, 2)))
    short = select_batch(np.zeros(3), np.ones(3), q=5, acquisition="ucb", exclude=[1])
    assert sorted(short.indices.tolist()) == [0, 2]
