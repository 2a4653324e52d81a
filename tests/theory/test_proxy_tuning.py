"""FedPFT's Theorems 1 and 2 as closed forms: printed steps against counterexamples, derived steps as identities."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedtheory.theory.proxy_tuning import (
    alignment_margin,
    alignment_margin_derived,
    apoz,
    apoz_nonpositive,
    descent_bound,
    descent_bound_derived,
    gradient_error_condition,
    gradient_gap_bounds,
    linear_transformer_grads,
    proxy_rate_bound,
    saliency,
    step_bound,
    step_bound_derived,
)


def _quadratic(seed, d=4):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(d, d))
    Q = M @ M.T + 0.1 * np.eye(d)
    x_star = rng.normal(size=d)
    return Q, x_star, float(np.linalg.eigvalsh(Q)[-1])


def test_the_derived_per_step_bound_is_an_identity_of_the_proof():
    """With ∇f = ∇f′ − δ and x⁺ = x − η∇f′: ∇fᵀe − η/2‖∇f‖² + η/2‖δ‖² = (‖e‖² − ‖e⁺‖²)/(2η) − ⟨δ, e⁺⟩."""
    eta = sp.symbols("eta", positive=True)
    e = sp.Matrix(sp.symbols("e1 e2"))
    gp = sp.Matrix(sp.symbols("g1 g2"))  # ∇f′(x)
    dl = sp.Matrix(sp.symbols("d1 d2"))
    g = gp - dl
    e_next = e - eta * gp
    lhs = (g.T * e)[0] - eta / 2 * (g.T * g)[0] + eta / 2 * (dl.T * dl)[0]
    rhs = ((e.T * e)[0] - (e_next.T * e_next)[0]) / (2 * eta) - (dl.T * e_next)[0]
    assert sp.simplify(sp.expand(lhs - rhs)) == 0
    # and the printed step differs from it by η⟨∇f, δ⟩
    printed = ((e.T * e)[0] - (e_next.T * e_next)[0]) / (2 * eta) - (dl.T * e)[0] + eta * (dl.T * dl)[0]
    assert sp.simplify(sp.expand(rhs - printed - eta * (g.T * dl)[0])) == 0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.0, 3.0), step=st.floats(0.05, 1.0))
def test_derived_steps_hold_on_every_convex_quadratic(seed, scale, step):
    Q, x_star, L = _quadratic(seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=x_star.size)
    grad_error = scale * rng.normal(size=x.size)  # any gradient error
    eta = step / L
    f = lambda z: 0.5 * (z - x_star) @ Q @ (z - x_star)  # noqa: E731
    grad = Q @ (x - x_star)
    x_next = x - eta * (grad + grad_error)
    tol = 1e-9 * (1 + abs(f(x)) + np.sum(grad_error**2) + np.sum((x - x_star) ** 2) / eta)
    assert f(x_next) <= descent_bound_derived(f(x), grad, grad_error, eta) + tol
    assert f(x_next) <= step_bound_derived(0.0, x, x_next, x_star, grad_error, eta) + tol


def test_the_printed_steps_fail_on_a_one_dimensional_quadratic():
    """f = x²/2 (L = 1), η = 1, δ = ∇f/2: x⁺ = −x/2, f(x⁺) = 1/8 · x², but (17) prints −3/8 · x²."""
    x, grad, grad_error, eta = np.array([1.0]), np.array([1.0]), np.array([0.5]), 1.0
    x_next = x - eta * (grad + grad_error)
    assert x_next[0] == -0.5
    assert descent_bound(0.5, grad, grad_error, eta) == pytest.approx(-0.375)
    assert 0.125 > descent_bound(0.5, grad, grad_error, eta)  # (17) violated
    assert 0.125 <= descent_bound_derived(0.5, grad, grad_error, eta)  # 0.5 − 0.5 + 0.125
    # (22)–(23): printed 0 + (1 − 1/4)/2 − 0.5 + 0.25 = 0.125 — holds here with equality; the derived one too
    assert step_bound(0.0, x, x_next, np.zeros(1), grad_error, eta) == pytest.approx(0.125)
    assert step_bound_derived(0.0, x, x_next, np.zeros(1), grad_error, eta) == pytest.approx(0.375 + 0.25)


def test_condition_9_and_the_rate_bound():
    assert gradient_error_condition([0.5, 0.0], [1.0, 0.0]) is True  # 0.25 < 0.5
    assert gradient_error_condition([0.8, 0.0], [1.0, 0.0]) is False  # 0.64 ≥ 0.5
    np.testing.assert_array_equal(gradient_error_condition(np.array([[0.1], [1.0]]), np.ones((2, 1))), [True, False])
    assert proxy_rate_bound(4.0, 0.5, 2) == pytest.approx(2.0)
    np.testing.assert_allclose(proxy_rate_bound(1.0, 1.0, np.arange(1, 4)), [0.5, 0.25, 1 / 6])


def test_alignment_margins_by_hand():
    grad_error = np.array([[1.0, 0.0], [0.0, 2.0]])  # (k=2, d=2)
    x = np.array([[2.0, 0.0], [0.0, 1.0]])
    x_star = np.zeros(2)
    # printed: prefix sums of ⟨δ, x⟩ = (2, 2) → (2, 4); η‖δ‖² = 0.5·(1, 4) → (0.5, 2.5)
    np.testing.assert_allclose(alignment_margin(grad_error, x, x_star, 0.5), [1.5, 1.5])
    np.testing.assert_allclose(alignment_margin_derived(grad_error, x, x_star), [2.0, 4.0])
    batch = alignment_margin(np.stack([grad_error, -grad_error]), np.stack([x, x]), np.zeros((2, 2)), np.array([0.5, 0.5]))
    np.testing.assert_allclose(batch, [[1.5, 1.5], [-2.5, -6.5]])


def _instance(seed, S=5, d=4):
    rng = np.random.default_rng(seed)
    x, A, B, C, t = (rng.normal(size=s) / 2 for s in ((S, d), (d, d), (d, d), (d, d), (S, d)))
    return x, A, B, C, t


def test_linear_transformer_gradients_are_autograds():
    x, A, B, C, t = _instance(0)
    out = linear_transformer_grads(x, A, B, C, t)
    T = {k: torch.tensor(v, requires_grad=k in "AB") for k, v in dict(x=x, A=A, B=B, C=C, t=t).items()}
    y = T["x"] @ T["A"] @ T["x"].T @ T["x"] @ T["B"] @ T["C"]
    (0.5 * ((y - T["t"]) ** 2).sum()).backward()
    np.testing.assert_allclose(out["y"], y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["grad_A"], T["A"].grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["grad_B"], T["B"].grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), keep=st.floats(0.0, 1.0))
def test_the_derived_theorem_2_bound_holds(seed, keep):
    x, A, B, C, t = _instance(seed)
    Cp = C * (np.random.default_rng(seed).random(C.shape) < keep)
    b = gradient_gap_bounds(x, A, B, C, Cp, t)
    for p in "AB":
        assert b[f"gap_{p}"] <= b[f"derived_{p}"] * (1 + 1e-9) + 1e-12
        assert b[f"proof_{p}"] * 2 == pytest.approx(b[f"derived_{p}"])
    same = gradient_gap_bounds(x, A, B, C, C, t)
    assert same["gap_A"] == same["eps1"] == same["eps2"] == 0


def test_saliency_and_apoz_by_hand():
    w_in = np.array([[3.0, 0.0], [0.0, 0.0], [1.0, 1.0]])  # d_ff = 3 neurons, d = 2
    w_out = np.array([[4.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # (d, d_ff)
    np.testing.assert_allclose(saliency(w_in, w_out), [5.0, 1.0, 2.0])
    act = np.array([[0.0, 1.0], [0.0, -0.01], [2.0, 0.0]])
    np.testing.assert_allclose(apoz(act), [2 / 3, 1 / 3])
    np.testing.assert_allclose(apoz(act, threshold=0.1), [2 / 3, 2 / 3])
    np.testing.assert_allclose(apoz_nonpositive(act), [2 / 3, 2 / 3])  # -0.01 counts, as its ReLU would be 0
    with pytest.raises(ValueError, match="w_out"):
        saliency(w_in, w_out.T)


def test_cost_model_by_hand_and_table_1():
    from fedtheory.theory.proxy_costs import (
        layer_flops,
        lora_round_floats,
        model_floats,
        model_flops,
        transformer_weight_count,
    )

    S, d = 4, 8
    assert layer_flops(S, d, 4 * d) == 4 * S * d**2 + S**2 * d + 2 * S * d * 4 * d + S * d
    # d_ff = 4d: the layer is 12Sd² + S²d + Sd; d_ff = d: 6Sd² + S²d + Sd (§3.6.1)
    assert layer_flops(S, d, 4 * d) == 12 * S * d**2 + S**2 * d + S * d
    assert layer_flops(S, d, d) == 6 * S * d**2 + S**2 * d + S * d
    assert model_flops(S, d, [4 * d] * 3, 100, c_f=1, c_b=2) == d * (100 + S) + 3 * 3 * layer_flops(S, d, 4 * d)
    assert model_floats(S, d, [4 * d] * 3, 100) == d * (100 + S) + 12 * 3 * d**2 + 2 * 3 * d
    assert model_floats(S, d, [d] * 3, 100) == d * (100 + S) + 6 * 3 * d**2 + 2 * 3 * d
    assert lora_round_floats(6, 8, 384, 10, 0.5) == 8 * 6 * 8 * 384 + 0.2 * 0.5 * 6 * 384**2
    # Table 1: 81M and 47M are the layers' weight matrices of BERT-base and its proxy, in units of 2^20
    assert transformer_weight_count(12, 768, 0, 3072, 768) / 2**20 == 81.0
    assert transformer_weight_count(12, 768, 10, 3072, 768) / 2**20 == 47.25
    with pytest.raises(ValueError, match="compressed"):
        transformer_weight_count(12, 768, 13, 3072, 768)


@given(seed=st.integers(0, 10_000), zeros=st.floats(0.0, 0.5), t1=st.floats(0.0, 1.0), t2=st.floats(0.0, 1.0))
def test_apoz_is_a_fraction_monotone_in_the_threshold_and_below_the_nonpositive_count(seed, zeros, t1, t2):
    rng = np.random.default_rng(seed)
    act = rng.normal(size=(40, 6)) * (rng.random((40, 6)) > zeros)  # some exact zeros
    lo, hi = apoz(act, min(t1, t2)), apoz(act, max(t1, t2))
    assert np.all((0 <= lo) & (lo <= hi) & (hi <= 1))
    assert np.all(apoz(act) <= apoz_nonpositive(act))  # O = 0 implies O ≤ 0
    # under ReLU the two readings are one: every non-positive activation is exactly 0
    relu = np.maximum(act, 0)
    np.testing.assert_array_equal(apoz(relu), apoz_nonpositive(relu))
