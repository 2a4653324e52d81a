"""Private personalized mean estimation: the releases are clipped and noised as configured, every ε shares the
samples, and without noise or clipping it is the plain simulator's model."""

import math

import numpy as np
import pytest
import torch

from fedtheory.simulators.byzantine.private_mean import (
    PrivateMeanConfig,
    client_means,
    release_std,
    simulate_private_mean,
)
from fedtheory.theory.privacy import analytic_gaussian_sigma


def test_release_noise_follows_the_analytic_gaussian_calibration():
    cfg = PrivateMeanConfig(m=10, clip=1.5, eps=(0.5, 2.0, math.inf))
    tau = release_std(cfg)
    np.testing.assert_allclose(tau[:2], 2 * 1.5 / 10 * analytic_gaussian_sigma(np.array([0.5, 2.0]), cfg.delta))
    assert tau[2] == 0.0


def test_seeds_reproduce_and_epsilons_share_the_samples():
    cfg = PrivateMeanConfig(n=8, f=2, eps=(1.0, math.inf))
    a, b = simulate_private_mean(cfg, seeds=[3, 4]), simulate_private_mean(cfg, seeds=[3, 4])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(a["a"][:, 0], a["a"][:, 1])  # the local error does not depend on ε
    one = simulate_private_mean(cfg, seeds=[4])
    torch.testing.assert_close(one["a"][0], a["a"][1], rtol=0, atol=0)  # per-seed streams
    np.testing.assert_array_equal(a["mu_i"].numpy(), client_means(cfg))


def test_without_noise_or_clipping_it_is_plain_personalized_mean_estimation():
    from fedtheory.simulators.shared import seeding

    cfg = PrivateMeanConfig(n=6, m=5, clip=1e6, eps=(math.inf,), aggregator="mean", attack="none")
    r = simulate_private_mean(cfg, seeds=[0, 1])
    mu = torch.as_tensor(client_means(cfg))
    gens = seeding.generators([0, 1], "private mean clients", torch.device("cpu"))
    x = mu[None, :, None, :] + seeding.draw(gens, torch.randn, (6, 5, 1), dtype=torch.float64)
    xbar = x.mean(-2)
    u, v = xbar - mu, xbar.mean(-2, keepdim=True) - xbar  # F = the mean of the (unclipped, noiseless) local means
    torch.testing.assert_close(r["a"][:, 0], (u * u).sum(-1))
    torch.testing.assert_close(r["b"][:, 0], (u * v).sum(-1))
    torch.testing.assert_close(r["c"][:, 0], (v * v).sum(-1))


@pytest.mark.parametrize("bad, name", [(dict(clip=0.0), "clip"), (dict(eps=(0.0,)), "eps"), (dict(eps=()), "eps"),
                                       (dict(delta=1.0), "delta"), (dict(n=4, f=2), "f")])
def test_bad_config_names_the_parameter(bad, name):
    with pytest.raises(ValueError, match=name):
        PrivateMeanConfig(**bad)
