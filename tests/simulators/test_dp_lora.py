"""DP federated LoRA simulator: per-example gradients, clipping, filter, reproducibility."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.la_lora.dp_lora import (
    METHODS,
    DPLoRAConfig,
    _loss,
    make_task,
    per_example_factors,
    per_example_grads_closed_form,
    per_example_grads_func,
    simulate_dp_lora,
)
from fedtheory.simulators.shared.dp import clip_per_example
from fedtheory.simulators.shared.lora import smooth

SMALL = dict(d=8, classes=3, r=2, r_star=1, n=3, m=16, n_test=30, rounds=2, local_steps=2)


@pytest.fixture(scope="module")
def state():
    cfg = DPLoRAConfig(**SMALL)
    t = make_task(cfg, [0, 1], "cpu", torch.float64)
    g = torch.Generator().manual_seed(0)
    A = torch.randn(2, 3, 2, 8, generator=g, dtype=torch.float64)
    B = torch.randn(2, 3, 8, 2, generator=g, dtype=torch.float64)
    return cfg, t, A, B


def test_closed_form_equals_torch_func_and_a_loop(state):
    cfg, t, A, B = state
    cA, cB = per_example_grads_closed_form(A, B, t["W0"], t["H"], t["X"], t["y"], 1.5)
    fA, fB = per_example_grads_func(A, B, t["W0"], t["H"], t["X"], t["y"], 1.5)
    torch.testing.assert_close(cA, fA)
    torch.testing.assert_close(cB, fB)
    s, p, i = 1, 2, 5  # one example through plain autograd
    a, b = A[s, p].clone().requires_grad_(), B[s, p].clone().requires_grad_()
    _loss(a, b, t["W0"][s], t["H"][s], t["X"][s, p, i], t["y"][s, p, i], 1.5).backward()
    torch.testing.assert_close(a.grad, cA[s, p, i])
    torch.testing.assert_close(b.grad, cB[s, p, i])


def test_factored_clipped_sum_equals_the_loop_reference(state):
    cfg, t, A, B = state
    (uA, vA), (uB, vB) = per_example_factors(A, B, t["W0"], t["H"], t["X"], t["y"], 1.0)
    gA, gB = per_example_grads_closed_form(A, B, t["W0"], t["H"], t["X"], t["y"], 1.0)
    C = 0.3
    cA, cB = clip_per_example([gA[0, 0], gB[0, 0]], C)  # joint clipping, one client
    ref_A, ref_B = torch.zeros_like(A[0, 0]), torch.zeros_like(B[0, 0])
    for i in range(gA.shape[2]):  # the straightforward loop
        norm = torch.sqrt(gA[0, 0, i].pow(2).sum() + gB[0, 0, i].pow(2).sum())
        f = min(1.0, C / norm.item())
        ref_A += f * gA[0, 0, i]
        ref_B += f * gB[0, 0, i]
        assert torch.sqrt(cA[i].pow(2).sum() + cB[i].pow(2).sum()) <= C + 1e-12
    torch.testing.assert_close(cA.sum(0), ref_A)
    torch.testing.assert_close(cB.sum(0), ref_B)
    sq = uA.pow(2).sum(-1) * vA.pow(2).sum(-1) + uB.pow(2).sum(-1) * vB.pow(2).sum(-1)
    fac = (C / sq.sqrt()).clamp(max=1.0)
    torch.testing.assert_close(torch.einsum("n,nr,nd->rd", fac[0, 0], uA[0, 0], vA[0, 0]), ref_A)


def test_smooth_matches_numpy_symmetric_convolution():
    x = torch.randn(4, 11, dtype=torch.float64)
    k = np.array([1, 4, 6, 4, 1]) / 16
    ref = np.stack([np.convolve(np.pad(row, 2, mode="symmetric"), k, mode="valid") for row in x.numpy()])
    np.testing.assert_allclose(smooth(x, -1).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(smooth(x.T, 0).numpy(), ref.T, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_clips_and_reproduces(method):
    cfg = DPLoRAConfig(**SMALL, noise_multiplier=1.0, clip=0.5)
    a = simulate_dp_lora(cfg, method, seeds=[0, 1])
    b = simulate_dp_lora(cfg, method, seeds=[1])
    torch.testing.assert_close(a["acc"][1:], b["acc"])
    assert a["loss"].shape == (2, cfg.rounds + 1) and a["cos"].shape == (2, cfg.rounds)
    assert float(a["max_clipped_norm"].max()) <= 0.5 + 1e-6


def test_ffa_keeps_A_frozen_and_noise_switches():
    cfg = DPLoRAConfig(**SMALL, noise_multiplier=1.0)
    r = simulate_dp_lora(cfg, "ffa_lora", seeds=[0])
    torch.testing.assert_close(r["A"], make_task(cfg, [0], "cpu")["A0"])
    # with B's noise off, switching A's noise on or off changes nothing for a method that never noises A
    a = simulate_dp_lora(cfg, "ffa_lora", seeds=[0], noise_on=("B",))
    torch.testing.assert_close(a["B"], r["B"])


def test_learns_without_noise():
    cfg = DPLoRAConfig(rounds=15, noise_multiplier=0.0, clip=None)
    r = simulate_dp_lora(cfg, "dp_lora", seeds=[0, 1])
    assert float(r["loss"][:, -1].mean()) < float(r["loss"][:, 0].mean()) - 0.3
    assert float(r["acc"][:, -1].mean()) > float(r["acc"][:, 0].mean()) + 0.1


@pytest.mark.parametrize("kw, name", [(dict(r=40), "r"), (dict(sample_rate=0.0), "sample_rate"),
                                      (dict(clip=None, noise_multiplier=1.0), "clip"), (dict(lr=-1.0), "lr")])
def test_bad_config(kw, name):
    with pytest.raises(ValueError, match=name):
        DPLoRAConfig(**kw)
    with pytest.raises(ValueError, match="method"):
        simulate_dp_lora(DPLoRAConfig(**SMALL), "lora", seeds=[0])


def test_sharpness_is_the_top_hessian_eigenvalue():
    from fedtheory.simulators.la_lora.dp_lora import sharpness

    cfg = DPLoRAConfig(d=6, classes=3, r=2, n=2, m=10)
    t = make_task(cfg, [0, 1], "cpu", torch.float64)
    g = torch.Generator().manual_seed(1)
    A = torch.randn(2, 2, 6, generator=g, dtype=torch.float64)
    B = torch.randn(2, 6, 2, generator=g, dtype=torch.float64)
    lam = sharpness(t, A, B, 1.0, iters=200)

    def f(flat):  # seed 0's training loss as a function of the flat (A, B)
        W = t["W0"][0] + flat[12:].view(6, 2) @ flat[:12].view(2, 6)
        z = torch.einsum("cd,de,pne->pnc", t["H"][0], W, t["X"][0])
        return torch.nn.functional.cross_entropy(z.reshape(-1, 3), t["y"][0].reshape(-1))

    H = torch.autograd.functional.hessian(f, torch.cat([A[0].flatten(), B[0].flatten()]))
    ev = torch.linalg.eigvalsh(H)
    top = ev[-1] if ev[-1].abs() >= ev[0].abs() else ev[0]
    assert float(lam[0]) == pytest.approx(float(top), rel=1e-6)
