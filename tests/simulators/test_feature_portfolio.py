"""The real-feature portfolio simulator on small synthetic features (no transformer needed)."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.promptfolio.feature_portfolio import FeaturePortfolioConfig, simulate_feature_portfolio


def _features(N=600, d=16, seed=0, signal=1.5):
    # N examples; class means ±signal·e₀ (+ an offset, a bias the heads can use): Bayes accuracy Φ(signal)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    X = rng.normal(size=(N, d)) + (2 * y[:, None] - 1) * signal * np.eye(d)[0] + 0.5 * np.eye(d)[1]
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


def test_shapes_and_ranges():
    X, y = _features()
    cfg = FeaturePortfolioConfig(n=4, alpha=1.0, rounds=3, local_steps=2, theta_points=6, min_client_size=20)
    r = simulate_feature_portfolio(X, y, cfg, seeds=[0, 1])
    assert r["acc"].shape == (2, 4, 6)
    assert torch.all((r["acc"] >= 0) & (r["acc"] <= 1))
    assert torch.all(r["val_s_local"] > 0)
    # every client gets round(0.2·size) validation and test examples (at least 1 each), the rest trains:
    # over 4 clients the totals are 0.2·N each, up to one rounding per client
    assert torch.all(r["n_val"] >= 1) and torch.all(r["n_test"] >= 1)
    for key in ("n_val", "n_test"):
        assert torch.all((r[key].sum(1) - 0.2 * len(y)).abs() <= 4)


def test_learns_the_signal():
    X, y = _features()
    cfg = FeaturePortfolioConfig(n=3, alpha=100.0, rounds=20, local_steps=5, min_client_size=20)
    r = simulate_feature_portfolio(X, y, cfg, seeds=[0])
    # Bayes accuracy Φ(1.5) = 0.933; ~120 test examples give a standard error of about 0.023
    assert r["acc"][..., 0].mean() > 0.85 and r["train_acc_global"].mean() > 0.85


def test_one_client_global_equals_local():
    X, y = _features()
    cfg = FeaturePortfolioConfig(n=1, rounds=3, local_steps=2, theta_points=5)
    r = simulate_feature_portfolio(X, y, cfg, seeds=[2])
    assert torch.all(r["acc"] == r["acc"][..., :1])
    torch.testing.assert_close(r["val_m_global"], r["val_m_local"])


def test_seed_reproducible():
    X, y = _features()
    cfg = FeaturePortfolioConfig(n=4, rounds=2, local_steps=2, min_client_size=20)
    a = simulate_feature_portfolio(X, y, cfg, seeds=[4, 5])
    b = simulate_feature_portfolio(X, y, cfg, seeds=[5])
    torch.testing.assert_close(a["acc"][1:], b["acc"])


def test_bad_input():
    X, y = _features()
    with pytest.raises(ValueError, match="binary"):
        simulate_feature_portfolio(X, y + 1, FeaturePortfolioConfig(), seeds=[0])
    with pytest.raises(ValueError, match="alpha"):
        FeaturePortfolioConfig(alpha=0.0)
    with pytest.raises(ValueError, match="alpha"):
        FeaturePortfolioConfig(alpha=float("nan"))
    with pytest.raises(ValueError, match="val_fraction"):
        FeaturePortfolioConfig(val_fraction=0.6)
    with pytest.raises(ValueError, match="test_fraction"):
        FeaturePortfolioConfig(test_fraction=0.0)
    with pytest.raises(ValueError, match="^n "):
        FeaturePortfolioConfig(n=0)
    FeaturePortfolioConfig(alpha=float("inf"))  # IID
    with pytest.raises(ValueError, match="seeds"):
        simulate_feature_portfolio(X, y, FeaturePortfolioConfig(), seeds=[])


@pytest.mark.parametrize("name, value", [("n", 4.0), ("n", True), ("alpha", "1"), ("lr", None), ("val_fraction", "0.2")])
def test_wrong_type_is_a_type_error(name, value):
    with pytest.raises(TypeError, match=rf"^{name} "):
        FeaturePortfolioConfig(**{name: value})
