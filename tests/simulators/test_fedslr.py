"""FedSLR simulator: its prox against the closed forms, fixed points against the centralised solver, determinism."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.fedslr.algorithm import FedSLRConfig, run_fedslr, svt
from fedtheory.simulators.fedslr.matrix_regression import MatrixRegressionConfig, MatrixRegressionTask
from fedtheory.theory.communication import downlink_floats
from fedtheory.theory.proximal import (
    l1_kkt_residual,
    nuclear_kkt_residual,
    prox_gradient_nuclear,
    singular_value_threshold,
    soft_threshold,
)

SMALL = MatrixRegressionConfig(d1=6, d2=5, rank=1, sparsity=2, n=4, m=60, m_test=50)
LAM = 0.2


def _task(n=4, seeds=(0, 1), **kw):
    return MatrixRegressionTask(MatrixRegressionConfig(**{**SMALL.__dict__, "n": n, **kw}), list(seeds))


def _cfg(task, **kw):
    L = float(task.lipschitz.max())
    base = dict(rounds=150, local_steps=3, personal_steps=3, lr=1 / (2 * L), alpha_coef=L, nuclear_weight=LAM, l1_weight=0.05,
                weight_decay=0.0, personal_weight_decay=0.0, p_init="zeros")
    return FedSLRConfig(**{**base, **kw})


def _centralised(task, s, wd=0.0):
    """The exact minimiser of F + (wd/2)‖W‖² + λ‖W‖_* for seed index s (FISTA to 1e-12)."""
    parts = task.objective_parts()
    X, y = parts["X"][s], parts["y"][s]
    shape = (task.cfg.d1, task.cfg.d2)

    def grad(W):
        return (X.T @ (X @ W.ravel() - y) / X.shape[0]).reshape(shape) + wd * W

    W, info = prox_gradient_nuclear(grad, np.zeros(shape), lipschitz=float(task.lipschitz_global[s]) + wd, weight=LAM)
    assert info["converged"]
    return W, grad


def test_svt_is_the_closed_form():
    Y = torch.randn(3, 6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out, rank, _ = svt(Y, 0.7)
    np.testing.assert_allclose(out.numpy(), singular_value_threshold(Y.numpy(), 0.7), atol=1e-13)
    assert rank.tolist() == [int((np.linalg.svd(y, compute_uv=False) > 0.7).sum()) for y in Y.numpy()]
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    np.testing.assert_array_equal(torch.nn.functional.softshrink(x, 0.3).numpy(), soft_threshold(x.numpy(), 0.3))


@pytest.mark.parametrize("n, participation", [(1, 1.0), (4, 1.0), (4, 0.5)])
def test_fixed_point_is_the_centralised_minimiser(n, participation):
    """Stage 1's fixed point w = D_{λ/α}(w − ∇F(w)/α) is the minimiser of F + λ‖·‖_*, whatever the local steps."""
    task = _task(n=n)
    rounds = 300
    res = run_fedslr(task, _cfg(task, rounds=rounds, local_steps=5, participation=participation, stage2=False),
                     seeds=task.seeds, record=[rounds])
    for s in range(2):
        Wc, grad = _centralised(task, s)
        W = res["w/W"][s, -1].numpy()
        assert np.linalg.norm(W - Wc) <= 1e-8 * np.linalg.norm(Wc)
        assert nuclear_kkt_residual(W, grad(W), LAM, rtol=1e-9) <= 1e-8


def test_weight_decay_moves_the_fixed_point():
    """The code's weight decay inside the local objective: the fixed point minimises F + (wd/2)‖W‖² + λ‖W‖_*."""
    task = _task()
    res = run_fedslr(task, _cfg(task, weight_decay=0.3, stage2=False), seeds=task.seeds, record=[150])
    W = res["w/W"][0, -1].numpy()
    W_wd, _ = _centralised(task, 0, wd=0.3)
    W_0, _ = _centralised(task, 0)
    assert np.linalg.norm(W - W_wd) <= 1e-8 * np.linalg.norm(W_wd)
    assert np.linalg.norm(W - W_0) > 1e-2 * np.linalg.norm(W_0)


def test_stage2_reaches_its_stationary_point():
    """With w fixed (converged), the personal part satisfies the KKT conditions of f_i(w + p) + γ‖p‖₁."""
    task = _task()
    cfg = _cfg(task, rounds=300, stage2_at="new")
    res = run_fedslr(task, cfg, seeds=task.seeds, record=[300])
    w, p = res["w_stage2/W"][:, -1], res["p/W"][:, -1]  # (S, d1, d2), (S, n, d1, d2)
    g = task.grads({"W": w[:, None] + p})["W"]
    kkt = l1_kkt_residual(p.flatten(-2).numpy(), g.flatten(-2).numpy(), cfg.l1_weight)  # (S, n)
    assert kkt.max() <= 1e-8
    assert 0 < res["density"][:, -1].min() < 1  # sparse, not empty


def test_downlink_count_is_the_formula():
    task = _task()
    res = run_fedslr(task, _cfg(task, rounds=20), seeds=task.seeds)
    shape = (task.cfg.d1, task.cfg.d2)
    for s in range(2):
        for t in range(20):
            assert res["downlink"][s, t] == downlink_floats([shape], [int(res["rank"][s, t + 1, 0])])


def test_same_seed_same_numbers_and_seeds_independent():
    task = _task(seeds=(0, 1))
    cfg = _cfg(task, rounds=10, participation=0.5, batch_size=20)
    a, b = run_fedslr(task, cfg, seeds=[0, 1]), run_fedslr(task, cfg, seeds=[0, 1])
    for k in a:
        assert torch.equal(a[k], b[k])
    one = _task(seeds=(1,))
    c = run_fedslr(one, cfg, seeds=[1])
    torch.testing.assert_close(c["test_personal"][0], a["test_personal"][1], rtol=1e-12, atol=1e-12)


def test_code_defaults_start_p_at_w0():
    task = _task()
    res = run_fedslr(task, _cfg(task, rounds=1, p_init="w0", stage2=False), seeds=task.seeds, record=[0])
    assert torch.equal(res["p/W"][:, 0], torch.zeros_like(res["p/W"][:, 0]))  # w⁰ = 0 for this task


@pytest.mark.parametrize("kw, error, match", [
    (dict(alpha_coef=0.0, nuclear_weight=0.1), ValueError, "nuclear_weight must be 0"),
    (dict(participation=0.0), ValueError, r"participation must lie in \(0, 1\]"),
    (dict(p_init="ones"), ValueError, "p_init"),
    (dict(rounds=2.0), TypeError, "rounds must be an integer"),
])
def test_bad_config(kw, error, match):
    with pytest.raises(error, match=match):
        FedSLRConfig(**kw)


def _mlp_task(seeds=(0, 1)):
    from fedtheory.simulators.fedslr.mlp import MLPTask
    from fedtheory.simulators.shared.federated_data import make_federated_task

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 6)).astype(np.float32), rng.integers(0, 3, size=400)
    data = make_federated_task(X, y, X[:100], y[:100], n=3, f=0, m=40, alpha=1.0, seeds=list(seeds),
                               test_per_client=30, dtype=torch.float64)
    return MLPTask(data, hidden=5, seeds=list(seeds))


def test_mlp_gradients_are_each_clients_own():
    task = _mlp_task()
    w = {k: v[:, None].expand(-1, task.n, *v.shape[1:]).clone() for k, v in task.init().items()}
    w = {k: v + 0.01 * torch.randn(v.shape, generator=torch.Generator().manual_seed(1), dtype=v.dtype)
         for k, v in w.items()}  # different parameters per client
    g = task.grads(w)
    for s in range(2):
        for i in range(task.n):
            leaves = {k: v[s:s + 1, i:i + 1].detach().clone().requires_grad_(True) for k, v in w.items()}
            z = task.logits(leaves, task.data.X[s:s + 1, i:i + 1])
            loss = torch.nn.functional.cross_entropy(z.flatten(0, 2), task.data.Y[s, i])
            ref = torch.autograd.grad(loss, list(leaves.values()))
            for k, r in zip(leaves, ref):
                torch.testing.assert_close(g[k][s:s + 1, i:i + 1], r, rtol=1e-12, atol=1e-12)
    err = task.test_loss(w)
    assert err.shape == (2, task.n) and bool(((err >= 0) & (err <= 1)).all())


def test_fedslr_runs_on_the_mlp_and_thresholds_only_matrices():
    task = _mlp_task()
    cfg = FedSLRConfig(rounds=3, local_steps=2, personal_steps=2, lr=0.1, alpha_coef=0.5, nuclear_weight=0.5,
                       l1_weight=0.01, batch_size=10)
    res = run_fedslr(task, cfg, seeds=[0, 1], record=[3])
    assert res["rank"].shape == (2, 4, 2)  # W1 and W2
    assert bool((res["rank"][:, -1] <= torch.tensor([5, 3])).all())
    assert res["w/b1"].shape == (2, 1, 5) and bool(torch.isfinite(res["test_personal"]).all())


def test_ditto_personal_steps_are_sgd_on_the_proximal_objective():
    """Ditto's v_i starts at w⁰ and steps on f_i(v) + (λ_D/2)‖v − w^t‖² at the received w^t; it is evaluated alone."""
    task = _task()
    lam_d, lr = 0.7, 0.05
    cfg = _cfg(task, rounds=1, personal_steps=2, lr=lr, alpha_coef=0.0, nuclear_weight=0.0, personalisation="ditto",
               ditto_weight=lam_d)
    res = run_fedslr(task, cfg, seeds=[0, 1], record=[1])
    w0 = task.init()["W"][:, None].expand(-1, task.n, -1, -1)
    v = w0.clone()
    for _ in range(2):
        v = v - lr * (task.grads({"W": v})["W"] + lam_d * (v - w0))
    np.testing.assert_allclose(res["p/W"][:, 0].numpy(), v.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res["test_personal"][:, 1].numpy(), task.test_loss({"W": v}).mean(1).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="personalisation"):
        FedSLRConfig(personalisation="both")
    with pytest.raises(ValueError, match="ditto_weight"):
        FedSLRConfig(ditto_weight=-1.0)
