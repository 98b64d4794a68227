"""DKL model: seeded learning test, warm start, determinism, state round trip, failures, CUDA."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from planner_cluster.errors import ModelFittingError
from planner_cluster.models import DKLConfig, DKLModel

SMALL = DKLConfig(hidden=(32, 16), iterations=150, warm_iterations=30, seed=0)


def known_function(x: np.ndarray) -> np.ndarray:
    return np.sin(2.0 * x[:, 0]) + 0.5 * x[:, 1] ** 2


def data(n: int, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(n, d))
    return x, known_function(x)


def test_every_parameter_learns_and_error_falls_under_threshold() -> None:
    x, y = data(160)
    x_test, y_test = data(400, seed=1)
    model = DKLModel(SMALL)
    model.fit(x[:5], y[:5], iterations=1)  # builds the module
    gp = model._gp
    assert gp is not None
    gp.train()
    x_t = model._inputs(x)
    y_t = torch.as_tensor((y - y.mean()) / y.std(), dtype=model.dtype)
    gp.set_train_data(x_t, y_t, strict=False)
    import gpytorch

    loss = -gpytorch.mlls.ExactMarginalLogLikelihood(gp.likelihood, gp)(gp(x_t), y_t)
    loss.backward()
    for name, param in gp.named_parameters():
        assert param.grad is not None and float(param.grad.abs().sum()) > 0, name

    report = model.fit(x, y, cold=True)
    mean, var = model.predict(x_test)
    rmse = float(np.sqrt(np.mean((mean - y_test) ** 2)))
    assert rmse < 0.3 * float(y_test.std()), rmse
    assert np.all(var > 0)
    assert report.version == 2 and not report.warm and report.attempts == 1


@pytest.mark.parametrize("kernel,hyper_priors,latent_dim,n",
                         [("rbf", True, 2, 40), ("matern52", True, 3, 40), ("rbf", False, 2, 40),
                          ("rbf", True, 2, 300)])
def test_training_loss_equals_gpytorchs_marginal_likelihood(
        kernel: str, hyper_priors: bool, latent_dim: int, n: int) -> None:
    """The plain-torch training objective (closed-form gradient of the evidence) is
    gpytorch's, in value and in every gradient."""
    import gpytorch

    x, y = data(n, seed=4)
    model = DKLModel(replace(SMALL, kernel=kernel, hyper_priors=hyper_priors,
                             latent_dim=latent_dim))
    model.fit(x, y, iterations=20)
    gp = model._gp
    assert gp is not None
    gp.train()
    x_t = model._inputs(x)
    y_t = torch.as_tensor((y - y.mean()) / y.std(), dtype=model.dtype)
    gp.set_train_data(x_t, y_t, strict=False)
    grads = []
    for loss_fn in (lambda: -gpytorch.mlls.ExactMarginalLogLikelihood(gp.likelihood, gp)(
            gp(x_t), y_t), lambda: gp.training_loss(x_t, y_t, 1e-8)):
        gp.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        grads.append((float(loss.detach()), [p.grad.clone() for p in gp.parameters()]))
    (ref, ref_grads), (ours, our_grads) = grads
    assert ours == pytest.approx(ref, rel=1e-10)
    for a, b in zip(ref_grads, our_grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-7, atol=1e-10)


def test_warm_start_beats_cold_start_at_equal_budget() -> None:
    # over four data sets; a warm fit starts from a fitted model and keeps its best iterate
    # (never worse than its start), so its objective ends below a cold fit's on every one
    errors: dict[str, list[float]] = {"warm": [], "cold": []}
    losses: dict[str, list[float]] = {"warm": [], "cold": []}
    for seed in (2, 5, 9, 11):
        x, y = data(140, seed=seed)
        x_test, y_test = data(400, seed=seed + 1)
        warm = DKLModel(SMALL)
        warm.fit(x[:120], y[:120])
        warm_report = warm.fit(x, y, iterations=15)
        cold = DKLModel(SMALL)
        cold_report = cold.fit(x, y, iterations=15)
        assert warm_report.warm and not cold_report.warm
        losses["warm"].append(warm_report.loss)
        losses["cold"].append(cold_report.loss)
        for name, m in (("warm", warm), ("cold", cold)):
            errors[name].append(float(np.sqrt(np.mean((m.predict(x_test)[0] - y_test) ** 2))))
    assert np.median(errors["warm"]) < 0.7 * np.median(errors["cold"]), errors
    assert sum(w < c for w, c in zip(errors["warm"], errors["cold"], strict=True)) >= 3, errors
    assert all(w < c for w, c in zip(losses["warm"], losses["cold"], strict=True)), losses


def test_keep_best_iterate_never_leaves_the_model_worse_than_it_found_it() -> None:
    """With ``keep_best_iterate`` the incoming weights are a candidate: ten warm steps at a
    learning rate that wrecks the network end no worse, on the new data, than no step."""
    x, y = data(140, seed=11)
    losses = {}
    for lr in (0.0, 5.0):
        model = DKLModel(replace(SMALL, keep_best_iterate=True))
        model.fit(x[:120], y[:120])
        model.config = replace(SMALL, keep_best_iterate=True, lr=lr)
        report = model.fit(x, y, iterations=10)
        assert report.warm and np.isfinite(report.loss)
        losses[lr] = report.loss
    assert losses[5.0] <= losses[0.0] + 1e-12, losses


def test_fits_are_deterministic_and_versions_increment() -> None:
    x, y = data(40, seed=4)
    runs = []
    for _ in range(2):
        model = DKLModel(SMALL, reference=x)
        model.fit(x[:30], y[:30])
        report = model.fit(x, y)
        runs.append(model.predict(x))
        assert model.version == 2 and report.version == 2
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_chunked_prediction_matches_gpytorch_and_state_round_trips() -> None:
    x, y = data(50, seed=5)
    x_new, _ = data(300, seed=6)
    model = DKLModel(SMALL)
    model.fit(x, y)
    mean_small, var_small = model.predict(x_new, batch_size=7)
    mean, var = model.predict(x_new)
    np.testing.assert_allclose(mean_small, mean, rtol=1e-10, atol=1e-10)
    gp = model._gp
    assert gp is not None
    gp.eval()
    with torch.no_grad():
        f = gp(model._inputs(x_new))
    np.testing.assert_allclose(mean, f.mean.numpy() * model._y_std + model._y_mean, atol=1e-5)
    np.testing.assert_allclose(var, f.variance.numpy() * model._y_std**2, rtol=1e-3, atol=1e-6)
    clone = DKLModel(SMALL)
    clone.load_state_dict(model.state_dict())
    assert clone.version == model.version
    np.testing.assert_allclose(clone.predict(x_new)[0], mean, atol=1e-10)
    assert clone.fit(x, y).warm


def test_cold_restart_every_k_fits() -> None:
    x, y = data(30, seed=7)
    model = DKLModel(DKLConfig(hidden=(8,), iterations=5, warm_iterations=2, cold_restart_every=3))
    reports = [model.fit(x, y) for _ in range(7)]
    # every third fit after the first trains a cold restart too and keeps the better one
    assert [bool(r.restart) for r in reports] == [False, False, False, True, False, False, True]
    assert [r.warm for r in reports][:3] == [False, True, True]
    for r in reports:
        assert r.restart in ("", "kept cold", "kept warm")
        assert r.warm == (r.restart != "kept cold") or r is reports[0]


def test_failed_fits_raise_model_fitting_error_and_keep_the_previous_model() -> None:
    x, y = data(30, seed=8)
    model = DKLModel(DKLConfig(hidden=(8,), iterations=5, max_attempts=2))
    model.fit(x, y)
    before = model.predict(x)[0]
    model.config = replace(model.config, lr=1e30)  # every attempt diverges
    with pytest.raises(ModelFittingError) as info:
        model.fit(x, y, iterations=20)
    assert info.value.attempts == 2 and info.value.n_train == 30
    np.testing.assert_array_equal(model.predict(x)[0], before)
    assert model.version == 1


def test_bad_inputs_are_rejected() -> None:
    model = DKLModel(SMALL)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((3, 2), np.nan), np.zeros(3))
    with pytest.raises(ValueError, match="rows"):
        model.fit(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(np.zeros((3, 2)))


def test_cnn_extractor_learns_from_patches() -> None:
    rng = np.random.default_rng(9)
    patches = rng.normal(size=(60, 8, 8, 1))
    y = patches[:, 2:6, 2:6, 0].mean(axis=(1, 2))
    model = DKLModel(DKLConfig(extractor="cnn", patch_shape=(8, 8, 1), hidden=(16,), iterations=60))
    report = model.fit(patches.reshape(60, -1), y)
    assert np.isfinite(report.loss)
    assert model.predict(patches.reshape(60, -1))[0].shape == (60,)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    x, y = data(60, seed=10)
    cpu = DKLModel(SMALL)
    cpu.fit(x, y)
    gpu = DKLModel(DKLConfig(**{**SMALL.__dict__, "device": "cuda"}))
    gpu.fit(x, y)
    np.testing.assert_allclose(gpu.predict(x)[0], cpu.predict(x)[0], rtol=1e-3, atol=1e-3)


def test_ensemble_mixture_and_covariance() -> None:
    from planner_cluster.models import DKLEnsemble

    x, y = data(40, seed=11)
    ens = DKLEnsemble(DKLConfig(hidden=(16,), iterations=40), members=3)
    report = ens.fit(x, y)
    assert report.version == ens.version == 1 and len(report.hyperparameters["members"]) == 3
    emb = ens.embed(x)
    mean, var = ens.predict_embedded(emb)
    means = np.stack(emb.means)
    np.testing.assert_allclose(mean, means.mean(axis=0))
    assert np.all(var >= np.stack(emb.variances).min(axis=0) - 1e-12)  # spread only adds
    col = ens.covariance_embedded(emb, 0)
    assert col[0] == pytest.approx(var[0], rel=1e-6)  # a column's own entry is the variance
