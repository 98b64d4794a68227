"""Acquisition numerics: no ranking by index, log EI / log PI far in the tails, tie-breaks, and the
shortlist kriging believer against the full computation on real GP posteriors."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from planner_cluster.acquisition import ACQUISITIONS, evaluate, select_batch
from planner_cluster.models.posterior import LatentPosterior

#: Exploration weights the dashboard accepts (its box starts at 1).
WEIGHTS = [0.0, 0.01, 0.1, 1.0, 2.0, 5.0, 10.0, 100.0]
EXPLORATION = {"ei": "xi", "pi": "xi", "ucb": "beta"}
CASES: list[tuple[str, dict[str, Any]]] = [
    (name, {EXPLORATION[name]: w}) for name in ("ei", "pi", "ucb") for w in WEIGHTS
] + [("max_variance", {}), ("thompson", {})]


def rbf(lengthscale: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A plain RBF kernel with unit output scale."""

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * torch.cdist(a, b).pow(2) / lengthscale**2)

    return kernel


def posterior(
    z: np.ndarray, train: np.ndarray, y: np.ndarray, lengthscale: float, noise: float = 1e-3
) -> LatentPosterior:
    """The exact GP posterior given ``y`` at rows ``train`` of latents ``z`` (``N x 2``)."""
    y_mean, y_std = float(y.mean()), float(y.std())
    y_t = torch.as_tensor((y - y_mean) / y_std)
    return LatentPosterior(
        rbf(lengthscale), torch.as_tensor(z[train]), y_t, noise, 1.0, y_mean, y_std
    )


def rows_of(post: LatentPosterior, z: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    zt = torch.as_tensor(z)
    return lambda rows, k: post.covariance_columns(zt[rows], zt[rows[k] : rows[k] + 1])[:, 0]


@dataclass(frozen=True)
class Field:
    """A measured field: grid, latents (= scaled grid), measurements and the GP posterior."""

    coords: np.ndarray  # N x 2 grid
    z: np.ndarray  # N x 2 latents
    train: np.ndarray  # measured rows
    y: np.ndarray  # their values
    post: LatentPosterior
    mean: np.ndarray  # N
    var: np.ndarray  # N


@pytest.fixture(scope="module")
def field() -> Field:
    """A 40 x 40 grid, a smooth random field of loop-area-like values (~0.01), 20 measured."""
    rng = np.random.default_rng(7)
    rr, cc = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    coords = np.stack([rr.ravel(), cc.ravel()], axis=1)
    z = coords / 39.0
    freq = rng.normal(scale=6.0, size=(30, 2))
    phase = rng.uniform(0, 2 * np.pi, size=30)
    wave = np.cos(z @ freq.T + phase).sum(axis=1)
    truth = 0.01 + 0.004 * wave / wave.std()
    train = rng.choice(1600, 20, replace=False)
    y = truth[train] + rng.normal(scale=2e-4, size=20)
    post = posterior(z, train, y, lengthscale=0.15)
    mean, var = post.predict(torch.as_tensor(z))
    return Field(coords, z, train, y, post, mean, var)


@pytest.mark.parametrize("believer", [True, False], ids=["believer", "penalize"])
@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_no_raster_order_at_any_exploration_weight(
    field: Field, name: str, params: dict[str, Any], believer: bool
) -> None:
    assert field.var.max() > 10 * field.var.min()  # uncertainty varies across the grid
    sel = select_batch(
        field.mean,
        field.var,
        q=16,
        acquisition=name,
        best_f=float(field.y.max()),
        exploration_scale=float(field.y.std()),
        exclude=field.train,
        coords=field.coords,
        covariance_rows=rows_of(field.post, field.z) if believer else None,
        noise=field.post.noise_variance,
        rng=np.random.default_rng(0),
        **params,
    )
    picks = sel.indices
    assert len(set(picks.tolist())) == 16
    assert not set(picks.tolist()) & set(field.train.tolist())
    assert np.all(np.isfinite(sel.scores))
    assert len(np.unique(sel.scores)) == 16
    assert not np.all(np.diff(picks) > 0), "picked in index order"
    ordered = np.sort(picks)
    assert not np.array_equal(ordered, np.arange(ordered[0], ordered[0] + 16)), "a run of rows"


def closed_ei(u: float, s: float) -> float:
    z = u / s
    phi = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return u * 0.5 * math.erfc(-z / math.sqrt(2)) + s * phi


def test_log_ei_and_log_pi_match_closed_forms_where_they_are_not_tiny() -> None:
    rng = np.random.default_rng(1)
    z = np.linspace(-5.0, 5.0, 201)
    s = rng.uniform(0.01, 3.0, size=z.size)
    mean = 0.3 + z * s  # best_f = 0.3
    log_ei = evaluate("ei", mean, s * s, best_f=0.3)
    log_pi = evaluate("pi", mean, s * s, best_f=0.3)
    for zi, si, e, p in zip(z, s, log_ei, log_pi, strict=True):
        assert e == pytest.approx(math.log(closed_ei(zi * si, si)), rel=1e-9, abs=1e-9)
        assert p == pytest.approx(math.log(0.5 * math.erfc(-zi / math.sqrt(2))), rel=1e-9)


@pytest.mark.parametrize("name", ["ei", "pi"])
def test_log_scores_are_finite_and_monotone_deep_in_the_tail(name: str) -> None:
    z = np.concatenate([np.linspace(-1e3, 5.0, 20001), np.linspace(-1.0 - 1e-6, -1.0 + 1e-6, 51)])
    z.sort()
    for s in (1e-3, 1.0, 50.0):
        scores = evaluate(name, 2.0 + z * s, np.full(z.size, s * s), best_f=2.0)
        assert np.all(np.isfinite(scores))
        assert np.all(np.diff(scores) >= 0)
        assert np.all(np.diff(scores[: 20001 - 50]) > 0)  # strictly, away from the branch point
    # either side of z = -1e6, where the far-tail branch takes over: log h(z) ~ -z^2/2 - 2 log|z|
    z_far = -np.array([0.999e6, 1e6, 1.001e6])
    far = evaluate("ei", z_far, np.ones(3), best_f=0.0)
    np.testing.assert_allclose(
        far, -0.5 * z_far**2 - 0.5 * math.log(2 * math.pi) - 2 * np.log(-z_far), atol=1e-3
    )


@pytest.mark.parametrize("name", sorted(ACQUISITIONS))
def test_every_acquisition_is_finite_for_extreme_finite_inputs(name: str) -> None:
    mean = np.array([0.0, 1e300, -1e300, 1.7e308, -1.7e308, 1e-300, 0.0, 5.0])
    var = np.array([0.0, 0.0, 1e300, 1e300, 0.0, 1e-300, 1e-320, 1e-30])
    for maximize in (True, False):
        for scale in (1e-200, 1.0, 1e200):
            scores = evaluate(
                name,
                mean,
                var,
                best_f=0.0,
                maximize=maximize,
                exploration_scale=scale,
                rng=np.random.default_rng(0),
            )
            assert np.all(np.isfinite(scores)), (maximize, scale, scores)


def test_certain_candidates_rank_by_mean_below_uncertain_ones() -> None:
    mean = np.array([-0.3, -0.2, -0.1, -0.3])
    var = np.array([0.0, 0.0, 0.0, 0.01])
    scores = evaluate("ei", mean, var, best_f=0.0, exploration_scale=0.1)
    assert np.all(np.isfinite(scores))
    assert scores[0] < scores[1] < scores[2] < scores[3]
    improving = evaluate("ei", np.array([0.25]), np.array([0.0]), best_f=0.0)
    assert improving[0] == pytest.approx(math.log(0.25), rel=1e-12)  # EI is the improvement


def test_ties_go_to_the_larger_std_then_to_a_seeded_draw() -> None:
    # UCB 1 + 0 == 0 + 1 * 1: index 0 comes first but index 1 is the more uncertain.
    sel = select_batch(
        np.array([1.0, 0.0, -5.0]), np.array([0.0, 1.0, 0.0]), q=1, acquisition="ucb", beta=1.0
    )
    assert sel.indices.tolist() == [1]
    flat = [
        select_batch(np.zeros(100), np.ones(100), q=1, acquisition="max_variance", seed=s)
        for s in range(20)
    ]
    firsts = {int(f.indices[0]) for f in flat}
    assert len(firsts) > 5 and firsts != {0}
    again = select_batch(np.zeros(100), np.ones(100), q=1, acquisition="max_variance", seed=3)
    assert again.indices[0] == flat[3].indices[0]
    batch = select_batch(np.zeros(100), np.ones(100), q=16, acquisition="ucb", seed=0)
    assert not np.all(np.diff(batch.indices) > 0)


def full_believer(
    name: str, post: LatentPosterior, zt: torch.Tensor, exclude: np.ndarray, **kwargs: Any
) -> tuple[list[int], list[float]]:
    """q = 16 kriging-believer picks over every candidate, written out plainly."""
    mean, var = post.predict(zt)
    alive = np.ones(mean.size, dtype=bool)
    alive[exclude] = False
    cols: list[np.ndarray] = []
    picks, scores = [], []
    for _ in range(16):
        raw = evaluate(name, mean, var, **kwargs)
        live = np.flatnonzero(alive)
        j = int(live[np.lexsort((var[live], raw[live]))[-1]])  # exact ties: the larger std
        picks.append(j)
        scores.append(float(raw[j]))
        alive[j] = False
        col = post.covariance_column(zt, j)
        for prev in cols:
            col -= prev * prev[j]
        col /= np.sqrt(var[j] + post.noise_variance)
        cols.append(col)
        var = np.clip(var - col * col, 0.0, None)
    return picks, scores


BELIEVER_CASES: list[tuple[str, dict[str, Any]]] = [
    ("ei", {"xi": 0.0}),
    ("ei", {"xi": 2.0}),
    ("pi", {"xi": 0.0}),
    ("pi", {"xi": -1.0}),  # many candidates already improve: PI can rise as variance shrinks
    ("ucb", {"beta": 4.0}),
    ("max_variance", {}),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("name", "params"), BELIEVER_CASES, ids=[f"{n}-{p}" for n, p in BELIEVER_CASES]
)
def test_shortlist_believer_equals_the_full_believer(
    name: str, params: dict[str, Any], seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(seed)
    z = rng.uniform(size=(3000, 2))
    train = rng.choice(3000, 40, replace=False)
    y = np.sin(6 * z[train, 0]) * np.cos(4 * z[train, 1]) * 0.01 + rng.normal(scale=1e-4, size=40)
    post = posterior(z, train, y, lengthscale=0.2)
    zt = torch.as_tensor(z)
    mean, var = post.predict(zt)
    common: dict[str, Any] = {"best_f": float(y.max()), "exploration_scale": float(y.std())}
    want, want_scores = full_believer(name, post, zt, train, **common, **params)
    common.update(q=16, acquisition=name, exclude=train, noise=post.noise_variance, **params)
    caplog.set_level(logging.DEBUG, logger="planner_cluster.acquisition.batch")
    for shortlist, how in [(None, "rows"), (8, "rows"), (3000, "rows"), (None, "columns")]:
        cov = (
            {"covariance_rows": rows_of(post, z)}
            if how == "rows"
            else {"covariance": lambda j: post.covariance_column(zt, j)}
        )
        sel = select_batch(
            mean, var, shortlist=shortlist, rng=np.random.default_rng(0), **cov, **common
        )
        assert sel.indices.tolist() == want, (shortlist, how)
        np.testing.assert_allclose(sel.scores, want_scores, rtol=1e-9, atol=1e-300)
    assert "doubling" in caplog.text  # the shortlist of 16 was too short and grew


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "clustered"])
@pytest.mark.parametrize("name", ["max_variance", "ucb", "ei"])
def test_shortlist_is_exact_with_a_large_group_of_exact_ties(
    name: str, isolated: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # 2,000 candidates far from every measurement: mean and variance exactly the prior's, a tie
    # far larger than the shortlist. Isolated: 50 lengthscales apart, picks never touch one
    # another; clustered: in one 10 x 10 lengthscale box, every pick lowers its neighbours.
    rng = np.random.default_rng(3)
    rr, cc = np.meshgrid(np.arange(40), np.arange(50), indexing="ij")
    spaced = np.stack([rr.ravel(), cc.ravel()], axis=1) * 15.0
    far = spaced if isolated else rng.uniform(size=(2000, 2)) * 3.0
    z = np.concatenate([rng.uniform(size=(1000, 2)), 100.0 + far])
    train = rng.choice(1000, 30, replace=False)
    post = posterior(z, train, rng.normal(size=30) * 0.01, lengthscale=0.3)
    mean, var = post.predict(torch.as_tensor(z))
    assert np.unique(var[1000:]).size == 1 and np.unique(mean[1000:]).size == 1
    common: dict[str, Any] = {
        "q": 16,
        "acquisition": name,
        "best_f": 0.05,
        "exploration_scale": 0.01,
        **{"ucb": {"beta": 100.0}, "ei": {"xi": 10.0}}.get(name, {}),  # the tied group competes
        "exclude": train,
        "covariance_rows": rows_of(post, z),
        "noise": post.noise_variance,
    }
    caplog.set_level(logging.DEBUG, logger="planner_cluster.acquisition.batch")
    short = select_batch(mean, var, shortlist=64, rng=np.random.default_rng(5), **common)
    full = select_batch(mean, var, shortlist=3000, rng=np.random.default_rng(5), **common)
    assert short.indices.tolist() == full.indices.tolist()
    np.testing.assert_allclose(short.scores, full.scores, rtol=1e-9)
    assert np.sum(short.indices >= 1000) >= 4
    if isolated:  # the tie-break keys, not the shortlist, decide: no need to grow it
        assert "doubling" not in caplog.text
    if name == "max_variance":
        assert np.all(short.indices >= 1000) and not np.all(np.diff(short.indices) > 0)
        other = select_batch(mean, var, shortlist=64, rng=np.random.default_rng(6), **common)
        assert other.indices[0] != short.indices[0]  # which tied candidate comes first is random
