"""ActiveLearner: seeding, observe/update/rank, pending exclusion, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from planner_cluster.campaign import AcquisitionPolicy
from planner_cluster.candidates import make_candidates
from planner_cluster.errors import CandidateError
from planner_cluster.learner import ActiveLearner
from planner_cluster.models import DKLConfig

CONFIG = DKLConfig(hidden=(16, 16), activation="relu", iterations=40, warm_iterations=10)


def field(size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A smooth image and a target that peaks where the image is brightest."""
    rr, cc = np.mgrid[0:size, 0:size] / size
    image = np.exp(-((rr - 0.7) ** 2 + (cc - 0.3) ** 2) / 0.02) + 0.3 * np.sin(6 * rr)
    return image, image.ravel() ** 2


def test_campaign_loop_finds_the_peak_and_respects_pending() -> None:
    image, truth = field()
    cands = make_candidates(image, patch=5, normalize="image")
    learner = ActiveLearner(cands, model_config=CONFIG, policy=AcquisitionPolicy("ucb"))
    seeds = learner.seed_points(6, np.random.default_rng(0))
    assert len(set(seeds.tolist())) == 6
    learner.observe(seeds, truth[seeds])
    pending = [int(np.argmax(truth))]
    for step in range(6):
        report = learner.update()
        assert report.version == step + 1
        plan = learner.rank(q=3, pending=pending)
        assert plan.model_version == report.version
        assert plan.mean.shape == (len(cands),) and plan.variance.shape == (len(cands),)
        picked = set(plan.indices.tolist())
        assert len(picked) == 3
        assert not picked & set(learner.measured.tolist()) and not picked & set(pending)
        np.testing.assert_array_equal(plan.coords, cands.coords[plan.indices])
        learner.observe(plan.indices, truth[plan.indices])
    assert learner.best_value() >= np.quantile(truth, 0.95)


def test_seed_points_are_space_filling_in_feature_space() -> None:
    image = np.zeros((20, 20))
    image[:, 10:] = 1.0  # two flat halves: seeds must visit both
    cands = make_candidates(image, patch=3, normalize="image")
    learner = ActiveLearner(cands, model_config=CONFIG)
    seeds = learner.seed_points(4, np.random.default_rng(1))
    sides = {int(cands.coords[i, 1] >= 10) for i in seeds}
    assert sides == {0, 1}


def test_bad_observations_are_rejected() -> None:
    image, _ = field(8)
    learner = ActiveLearner(make_candidates(image, patch=3), model_config=CONFIG)
    with pytest.raises(CandidateError, match="no observations"):
        learner.update()
    with pytest.raises(CandidateError, match="outside"):
        learner.observe([64], [1.0])
    with pytest.raises(CandidateError, match="NaN"):
        learner.observe([1], [float("nan")])
    with pytest.raises(CandidateError, match="values"):
        learner.observe([1, 2], [1.0])
    learner.observe([1, 2], [1.0, 2.0])
    learner.reset_observations([2, 5], [3.0, 4.0])
    np.testing.assert_array_equal(learner.values, [3.0, 4.0])
    np.testing.assert_array_equal(learner.measured, [2, 5])
    with pytest.raises(CandidateError, match="NaN"):
        learner.reset_observations([1], [float("inf")])


def test_ensemble_learner_ranks_a_believer_batch() -> None:
    image, truth = field(12)
    cands = make_candidates(image, patch=3, normalize="image")
    learner = ActiveLearner(cands, model_config=CONFIG, policy=AcquisitionPolicy("ei"), ensemble=2)
    seeds = learner.seed_points(5, np.random.default_rng(2))
    learner.observe(seeds, truth[seeds])
    learner.update()
    plan = learner.rank(q=3)
    assert len(set(plan.indices.tolist())) == 3 and plan.model_version == 1


def test_ei_improves_on_the_best_posterior_mean_not_on_a_noisy_maximum() -> None:
    """One lucky noisy value must not become the incumbent: above every posterior mean, it
    would leave EI ranking by variance alone."""
    from planner_cluster.acquisition import evaluate

    image, truth = field()
    cands = make_candidates(image, patch=5, normalize="image")
    learner = ActiveLearner(cands, model_config=CONFIG, policy=AcquisitionPolicy("ei"))
    rng = np.random.default_rng(0)
    seeds = learner.seed_points(16, rng)
    spike_at = int(np.argsort(truth)[len(truth) // 4])  # a low site, measured with a spike
    spike = float(truth.max() + 3 * truth.std())
    learner.observe(np.append(seeds, spike_at),
                    np.append(truth[seeds] + rng.normal(0, 0.3 * truth.std(), 16), spike))
    learner.update()
    plan = learner.rank(q=1)
    incumbent = float(plan.mean[learner.measured].max())
    assert learner.incumbent(plan.mean) == incumbent < spike
    expected = evaluate("ei", plan.mean, plan.variance, best_f=incumbent,
                        exploration_scale=learner.exploration_scale)
    np.testing.assert_allclose(plan.values, expected)
    expected[learner.measured] = -np.inf
    assert plan.indices[0] == int(np.argmax(expected))
