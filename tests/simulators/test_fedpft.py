"""FedPFT simulators: the proxies are what their docstrings say, the pruned FFN keeps the salient neurons."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.fedpft.linear_transformer import LinearTransformerConfig, run_linear_transformer
from fedtheory.simulators.fedpft.proxy_gd import PROXIES, ProxyGDConfig, run_proxy_gd
from fedtheory.theory.proxy_tuning import saliency


@pytest.mark.parametrize("proxy", PROXIES)
def test_the_iterates_are_gradient_descent_on_the_proxy(proxy):
    cfg = ProxyGDConfig(dim=5, instances=3, steps=6, proxy=proxy, scale=0.4, eta_factor=0.7)
    r = run_proxy_gd(cfg, [0, 1])
    step = r["x"][:, :, 1:] - r["x"][:, :, :-1]
    torch.testing.assert_close(step, -0.7 * (r["grad"] + r["grad_error"])[:, :, :-1], rtol=1e-13, atol=1e-14)
    e = r["x"] - r["x_star"][:, :, None]
    assert torch.all(r["f"] >= 0) and torch.allclose(r["f"], 0.5 * (e * r["grad"]).sum(-1), rtol=1e-12)
    if proxy == "proportional":
        torch.testing.assert_close(r["grad_error"], 0.4 * r["grad"], rtol=1e-14, atol=0)
    if proxy == "shifted":  # a constant error: the proxy's minimiser moved
        torch.testing.assert_close(r["grad_error"], r["grad_error"][:, :, :1].expand_as(r["grad_error"]), rtol=0, atol=0)
    if proxy == "random":  # ‖δ‖ = c‖∇f‖ in a random direction
        torch.testing.assert_close(r["grad_error"].norm(dim=-1), 0.4 * r["grad"].norm(dim=-1), rtol=1e-12, atol=1e-15)


def test_proxy_gd_is_deterministic_per_seed_and_refuses_bad_input():
    cfg = ProxyGDConfig(dim=4, instances=2, steps=3, proxy="hessian")
    a, b = run_proxy_gd(cfg, [3, 4]), run_proxy_gd(cfg, [4])
    torch.testing.assert_close(a["x"][1:], b["x"], rtol=0, atol=0)  # a seed's numbers do not depend on its batch
    with pytest.raises(ValueError, match="proxy"):
        ProxyGDConfig(proxy="linear")
    with pytest.raises(ValueError, match="scale"):
        ProxyGDConfig(scale=-1.5)


def test_the_pruned_ffn_keeps_the_most_salient_neurons():
    cfg = LinearTransformerConfig(tokens=3, dim=4, ffn=8, instances=5, keep=(0.5, 1.0))
    r = run_linear_transformer(cfg, [0])
    # keep ratio 1: C′ = C up to the order of the sum over neurons (float64 rounding, squared: ~1e-32)
    for k in ("eps1", "eps2", "gap_A", "gap_B"):
        assert np.all(r[k][:, 1] < 1e-28), (k, r[k][:, 1])
    assert np.all(r["eps1"][:, 0] > 1e-6)  # half the neurons gone: a real error
    # the closed-form gap of the theory module equals autograd's
    np.testing.assert_allclose(r["closed_form_gap_A"], r["gap_A"], rtol=1e-9, atol=1e-15)
    W1 = np.array([[1.0, 0.0, 2.0], [0.0, 0.1, 0.0]])  # d = 2, d_ff = 3
    W2 = np.array([[1.0, 0.0], [0.0, 0.1], [0.0, 1.0]])
    np.testing.assert_allclose(saliency(W1.T, W2.T), [np.sqrt(2), np.sqrt(0.02), np.sqrt(5)])


def _features(seed=0, N=200, d=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    y = (X @ rng.normal(size=d) + 0.5 * rng.normal(size=N) > 0).astype(int)
    return X, y


def test_logistic_gd_without_a_proxy_error_is_plain_gd_within_its_rate():
    from fedtheory.simulators.fedpft.proxy_gd import run_logistic_proxy_gd
    from fedtheory.theory.proxy_tuning import proxy_rate_bound

    X, y = _features()
    r = run_logistic_proxy_gd(X, X, y, l2=1e-2, steps=300)
    assert np.all(r["grad_error"] == 0)
    gap = r["f"][0, 0]
    assert np.all(np.diff(gap) <= 1e-15) and gap[-1] < 1e-6 * gap[0]
    k = np.arange(1, gap.size)
    bound = proxy_rate_bound(np.sum((r["x"][0, 0, 0] - r["x_star"][0, 0]) ** 2), r["eta"][0, 0], k)
    assert np.all(gap[1:] <= bound * (1 + 1e-12))  # the classical O(1/k) of gradient descent (δ = 0)
    with pytest.raises(ValueError, match="X_proxy"):
        run_logistic_proxy_gd(X, X[:, :3], y)


def test_logistic_feature_proxy_is_batched_plain_gd_at_zero_noise_and_deterministic():
    from fedtheory.simulators.fedpft.proxy_gd import run_logistic_feature_proxy, run_logistic_proxy_gd

    r = run_logistic_feature_proxy(0.0, [0, 1], dim=3, examples=40, instances=5, steps=50)
    assert r["x"].shape == (2, 5, 51, 4) and r["eta"].shape == (2, 5)
    assert torch.all(r["grad_error"] == 0) and torch.all(r["f"][..., -1] < r["f"][..., 0])
    noisy = run_logistic_feature_proxy(0.3, [0, 1], dim=3, examples=40, instances=5, steps=50)
    assert torch.all(noisy["grad_error"][..., 1:, :].norm(dim=-1) > 0)  # the perturbed features err everywhere
    again = run_logistic_feature_proxy(0.3, [0, 1], dim=3, examples=40, instances=5, steps=50)
    assert all(torch.equal(noisy[k], again[k]) for k in noisy)
    X, y = _features()  # the one-instance run shares the batched solver
    one = run_logistic_proxy_gd(X, X + 0.1, y, l2=1e-2, steps=20)
    assert np.isfinite(one["f"]).all() and one["x"].shape[:2] == (1, 1)
    with pytest.raises(ValueError, match="noise"):
        run_logistic_feature_proxy(-0.1, [0])
