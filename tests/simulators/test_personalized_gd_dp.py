"""Algorithm 1 with DP-SGD on the gradients clients send: the closed-form clipping equals autograd's per-example
gradients, no noise and no clipping is the plain algorithm, and each seed's draws are its own."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.byzantine.personalized_gd import (
    IPGDConfig,
    make_federated_task,
    pair_gradients,
    private_pair_gradients,
    run_ipgd,
)
from fedtheory.simulators.shared import seeding


def _task(seeds=(0, 1), f=0):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (X @ rng.normal(size=5) + 0.3 * rng.normal(size=400) > 0).astype(int)
    return make_federated_task(X, y, X[:200], y[:200], n=6, f=f, m=20, alpha=1.0, seeds=list(seeds), dtype=torch.float64)


def test_closed_form_logistic_gradient_and_loss_equal_autograd():
    task = _task()
    cfg = IPGDConfig(lams=(0.0, 0.5), T=1, l2=1e-2)
    theta = 0.5 * torch.randn(2, 2, task.h, 12, generator=torch.Generator().manual_seed(2), dtype=task.X.dtype)
    X, Y = task.X[:, : task.h], task.Y[:, : task.h]
    closed, closed_loss = pair_gradients(cfg, theta, X, Y, 2)
    auto, auto_loss = pair_gradients(cfg, theta, X, Y, 2, autograd=True)
    torch.testing.assert_close(closed, auto, rtol=1e-12, atol=1e-14)  # float64: the same sum in another order
    torch.testing.assert_close(closed_loss, auto_loss, rtol=1e-12, atol=1e-14)


def test_no_noise_no_clipping_full_batch_is_the_exact_gradient():
    task = _task()
    cfg = IPGDConfig(lams=(0.0, 0.5), T=1, clip=1e9, sample_rate=1.0)
    theta = 0.1 * torch.randn(2, 2, task.h, 12, generator=torch.Generator().manual_seed(0), dtype=task.X.dtype)
    exact, _ = pair_gradients(cfg, theta, task.X[:, : task.h], task.Y[:, : task.h], 2)
    dp = private_pair_gradients(cfg, theta, task.X[:, : task.h], task.Y[:, : task.h], 2,
                                seeding.generators([0, 1], "dp-sgd"))
    torch.testing.assert_close(dp, exact, rtol=1e-10, atol=1e-12)


def test_clipping_uses_the_per_example_gradient_norm():
    task = _task()
    C = 0.05
    cfg = IPGDConfig(lams=(0.5,), T=1, clip=C, l2=0.0)
    theta = 0.3 * torch.randn(2, 1, task.h, 12, generator=torch.Generator().manual_seed(1), dtype=task.X.dtype)
    X, Y = task.X[:, : task.h], task.Y[:, : task.h]
    dp = private_pair_gradients(cfg, theta, X, Y, 2, seeding.generators([0, 1], "dp-sgd"))
    # reference: autograd per example, clipped one by one (seed 0, model 0, client 1)
    s, i, j = 0, 0, 1
    total = torch.zeros(12, dtype=X.dtype)
    for e in range(X.shape[2]):
        th = theta[s, 0, i].clone().requires_grad_(True)
        logit = X[s, j, e] @ th[:10].view(5, 2) + th[10:]
        g, = torch.autograd.grad(torch.nn.functional.cross_entropy(logit[None], Y[s, j, e][None]), th)
        total += g * min(1.0, C / float(g.norm()))
    torch.testing.assert_close(dp[s, 0, i, j], total / X.shape[2], rtol=1e-10, atol=1e-12)


def test_private_runs_are_reproducible_per_seed_and_local_learning_is_untouched():
    task = _task(seeds=(3, 4))
    cfg = IPGDConfig(lams=(0.0, 1.0), T=30, noise_multiplier=2.0, clip=0.5, sample_rate=0.5)
    a, b = run_ipgd(task, cfg, seeds=[3, 4]), run_ipgd(task, cfg, seeds=[3, 4])
    assert torch.equal(a.theta, b.theta)
    one = run_ipgd(_task(seeds=(4,)), cfg, seeds=[4])
    torch.testing.assert_close(one.theta[0], a.theta[1], rtol=0, atol=0)  # seed 4's draws are its own
    # λ = 0 uses only the client's own gradient, which is never sent and never noised
    torch.testing.assert_close(a.theta[:, 0], run_ipgd(task, IPGDConfig(lams=(0.0, 1.0), T=30), seeds=[3, 4]).theta[:, 0])
    with pytest.raises(ValueError, match="noise_multiplier"):
        IPGDConfig(model="mlp", noise_multiplier=1.0)
    with pytest.raises(ValueError, match="sample_rate"):
        IPGDConfig(sample_rate=0.0)
