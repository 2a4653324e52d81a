"""Proximal operators of FedSLR: closed-form cases, properties (hypothesis), optimality residuals, the solver."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fedtheory.theory.communication import break_even_rank, downlink_floats, factored_floats, uplink_floats
from fedtheory.theory.proximal import (
    l1_kkt_residual,
    l1_subgradient_distance,
    nuclear_kkt_residual,
    nuclear_norm,
    nuclear_subgradient_distance,
    numerical_rank,
    prox_gradient_l1,
    prox_gradient_nuclear,
    singular_value_threshold,
    soft_threshold,
    soft_threshold_residual,
    svt_residual,
)

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
matrices = st.integers(1, 5).flatmap(lambda m: st.integers(1, 5).flatmap(
    lambda n: arrays(np.float64, (m, n), elements=finite)))
taus = st.floats(0, 5, allow_nan=False)


# --------------------------------------------------------------------------- closed-form cases
def test_svt_of_a_diagonal_matrix_thresholds_its_diagonal():
    D = np.diag([3.0, -2.0, 0.5])
    np.testing.assert_allclose(singular_value_threshold(D, 1.0), np.diag([2.0, -1.0, 0.0]), atol=1e-15)


def test_svt_of_a_rank_one_matrix_scales_it():
    u, v = np.array([1.0, 2.0, 2.0]) / 3, np.array([0.6, 0.8])
    X = 5.0 * np.outer(u, v)
    np.testing.assert_allclose(singular_value_threshold(X, 2.0), 3.0 * np.outer(u, v), atol=1e-14)
    np.testing.assert_allclose(singular_value_threshold(X, 7.0), 0.0, atol=1e-15)


def test_soft_threshold_values():
    np.testing.assert_array_equal(soft_threshold(np.array([-3.0, -0.5, 0.0, 0.2, 2.0]), 1.0),
                                  [-2.0, 0.0, 0.0, 0.0, 1.0])


def test_batched_svt_with_a_threshold_per_matrix():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(4, 5, 3))
    tau = np.array([0.0, 0.5, 1.0, 10.0])
    out = singular_value_threshold(Y, tau)
    for i in range(4):
        np.testing.assert_allclose(out[i], singular_value_threshold(Y[i], tau[i]), atol=1e-14)
    np.testing.assert_allclose(out[0], Y[0], atol=1e-13)
    assert np.all(out[3] == 0)


# --------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(Y=matrices, a=taus, b=taus)
def test_prox_of_a_prox_adds_the_thresholds(Y, a, b):
    np.testing.assert_allclose(singular_value_threshold(singular_value_threshold(Y, a), b),
                               singular_value_threshold(Y, a + b), atol=1e-9)
    np.testing.assert_allclose(soft_threshold(soft_threshold(Y, a), b), soft_threshold(Y, a + b), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), tau=taus)
def test_svt_and_soft_threshold_are_non_expansive(data, tau):
    X = data.draw(matrices)
    Y = data.draw(arrays(np.float64, X.shape, elements=finite))
    assert np.linalg.norm(singular_value_threshold(X, tau) - singular_value_threshold(Y, tau)) \
        <= np.linalg.norm(X - Y) * (1 + 1e-12) + 1e-12
    assert np.linalg.norm(soft_threshold(X, tau) - soft_threshold(Y, tau)) <= np.linalg.norm(X - Y) + 1e-12


@settings(max_examples=60, deadline=None)
@given(Y=matrices, a=taus, b=taus)
def test_shrinkage_and_rank_do_not_grow_with_tau(Y, a, b):
    lo, hi = min(a, b), max(a, b)
    X_lo, X_hi = singular_value_threshold(Y, lo), singular_value_threshold(Y, hi)
    assert nuclear_norm(X_hi) <= nuclear_norm(X_lo) + 1e-9
    assert numerical_rank(X_hi, 1e-9) <= numerical_rank(X_lo, 1e-9)
    assert np.all(np.abs(soft_threshold(Y, hi)) <= np.abs(soft_threshold(Y, lo)))


@settings(max_examples=60, deadline=None)
@given(Y=matrices, tau=st.floats(0.01, 5))
def test_prox_outputs_satisfy_their_optimality_conditions(Y, tau):
    scale = 1 + np.abs(Y).max()
    assert svt_residual(singular_value_threshold(Y, tau), Y, tau, rtol=1e-9) <= 1e-9 * scale
    assert soft_threshold_residual(soft_threshold(Y, tau).ravel(), Y.ravel(), tau) <= 1e-12 * scale


def test_residuals_are_positive_away_from_the_prox():
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(5, 4))
    X = singular_value_threshold(Y, 0.5)
    assert svt_residual(X + 0.01 * rng.normal(size=X.shape), Y, 0.5) > 1e-3
    y = rng.normal(size=8)
    assert soft_threshold_residual(soft_threshold(y, 0.5) + 0.01, y, 0.5) > 1e-3


@settings(max_examples=40, deadline=None)
@given(data=st.data(), tau=st.floats(0.05, 3))
def test_nuclear_distance_is_the_distance_to_the_projection(data, tau):
    """d(G, τ∂‖X‖_*) equals ‖G − Π(G)‖ for the explicit projection Π, and no feasible point is closer."""
    m, n, k = data.draw(st.integers(2, 5)), data.draw(st.integers(2, 5)), data.draw(st.integers(0, 2))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    k = min(k, m, n)
    U, _ = np.linalg.qr(rng.normal(size=(m, m)))
    V, _ = np.linalg.qr(rng.normal(size=(n, n)))
    X = U[:, :k] @ np.diag(rng.uniform(1, 3, size=k)) @ V[:, :k].T
    G = 2 * rng.normal(size=(m, n))
    Gr = U.T @ G @ V
    P = np.zeros_like(Gr)  # the projection in the singular bases: τI on the kept block, the rest clipped
    P[:k, :k] = tau * np.eye(k)
    if k < min(m, n):
        a, s, bt = np.linalg.svd(Gr[k:, k:], full_matrices=False)
        P[k:, k:] = (a * np.minimum(s, tau)) @ bt
    d = nuclear_subgradient_distance(X, G, tau)
    assert d == pytest.approx(np.linalg.norm(Gr - P), rel=1e-9, abs=1e-12)
    for _ in range(5):  # random feasible points τ(UVᵀ + W), ‖W‖₂ ≤ 1
        W = rng.normal(size=(m - k, n - k))
        W /= max(1.0, np.linalg.norm(W, 2)) if W.size else 1.0
        F = np.zeros((m, n))
        F[:k, :k] = tau * np.eye(k)
        F[k:, k:] = tau * W
        assert np.linalg.norm(Gr - F) >= d - 1e-9


def test_l1_distance_by_coordinates():
    p = np.array([1.0, -2.0, 0.0, 0.0])
    g = np.array([0.5, -0.1, 0.2, -0.9])
    expected = np.sqrt((0.5 - 0.3) ** 2 + (-0.1 + 0.3) ** 2 + 0.0 + (0.9 - 0.3) ** 2)
    assert l1_subgradient_distance(p, g, 0.3) == pytest.approx(expected, rel=1e-14)
    assert l1_kkt_residual(p, -g, 0.3) == pytest.approx(expected, rel=1e-14)


# --------------------------------------------------------------------------- the reference solver
@pytest.mark.parametrize("c, lam", [(1.0, 0.7), (3.0, 0.7), (0.5, 2.0)])
def test_solver_reaches_the_thresholded_svd(c, lam):
    """min (c/2)‖W − A‖² + λ‖W‖_* has the closed-form minimiser D_{λ/c}(A)."""
    A = np.random.default_rng(2).normal(size=(6, 4))
    W, info = prox_gradient_nuclear(lambda W: c * (W - A), np.zeros((6, 4)), lipschitz=c, weight=lam)
    assert info["converged"]
    np.testing.assert_allclose(W, singular_value_threshold(A, lam / c), atol=1e-12)


def test_solver_on_matrix_regression_is_stationary():
    rng = np.random.default_rng(3)
    M, m, n = 300, 6, 5
    Xs = rng.normal(size=(M, m * n))
    target = (rng.normal(size=(m, 1)) @ rng.normal(size=(1, n))).ravel()
    y = Xs @ target + 0.1 * rng.normal(size=M)
    L = float(np.linalg.eigvalsh(Xs.T @ Xs / M).max())

    def grad(W):
        return (Xs.T @ (Xs @ W.ravel() - y) / M).reshape(m, n)

    W, info = prox_gradient_nuclear(grad, np.zeros((m, n)), lipschitz=L, weight=0.2)
    assert info["converged"] and info["mapping_norm"] <= 1e-12
    assert nuclear_kkt_residual(W, grad(W), 0.2, rtol=1e-8) <= 1e-10
    assert numerical_rank(W, 1e-8) < min(m, n)  # the nuclear norm cut the rank
    assert nuclear_kkt_residual(W + 1e-3, grad(W + 1e-3), 0.2, rtol=1e-8) > 1e-5


def test_l1_solver_reaches_the_soft_threshold_and_is_stationary():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(4, 3))
    x, info = prox_gradient_l1(lambda x: 2.0 * (x - v), np.zeros((4, 3)), lipschitz=2.0, weight=0.6)
    assert info["converged"]
    np.testing.assert_allclose(x, soft_threshold(v, 0.3), atol=1e-13)
    A = rng.normal(size=(30, 8))
    b = rng.normal(size=30)
    L = float(np.linalg.eigvalsh(A.T @ A).max())

    def grad(x):
        return A.T @ (A @ x - b)

    x, info = prox_gradient_l1(grad, np.zeros(8), lipschitz=L, weight=3.0)
    assert info["converged"] and l1_kkt_residual(x, grad(x), 3.0) <= 1e-11
    assert 0 < np.count_nonzero(x) < 8


def test_solver_reports_non_convergence():
    A = np.ones((3, 3))
    W, info = prox_gradient_nuclear(lambda W: W - A, np.zeros((3, 3)), lipschitz=100.0, weight=0.1, max_iter=3)
    assert not info["converged"] and info["iterations"] == 3


# --------------------------------------------------------------------------- communication counts
@settings(max_examples=80, deadline=None)
@given(m=st.integers(1, 200), n=st.integers(1, 200))
def test_break_even_rank_is_the_last_rank_whose_factors_are_smaller(m, n):
    k = int(break_even_rank(m, n))
    assert k * (m + n) < m * n or k == 0
    assert (k + 1) * (m + n) >= m * n
    if k + 1 <= min(m, n):
        assert factored_floats(m, n, k + 1) == m * n


def test_downlink_counts_factor_entries():
    rng = np.random.default_rng(4)
    shapes, ranks = [(64, 32), (32, 10), (10, 3)], [4, 10, 1]
    count = 0
    for (m, n), k in zip(shapes, ranks):
        Wm = rng.normal(size=(m, k)) @ rng.normal(size=(k, n))
        U, s, Vt = np.linalg.svd(Wm, full_matrices=False)
        r = numerical_rank(Wm)
        factors = (U[:, :r] * np.sqrt(s[:r]), np.sqrt(s[:r])[:, None] * Vt[:r])
        count += min(sum(f.size for f in factors), Wm.size)
    assert downlink_floats(shapes, ranks, n_vector=7) == count + 7
    assert uplink_floats(shapes, n_vector=7) == 64 * 32 + 32 * 10 + 10 * 3 + 7


@pytest.mark.parametrize("call, param", [
    (lambda: factored_floats(4, 3, 4), "k"),
    (lambda: downlink_floats([(4, 3)], [1, 2]), "ranks"),
    (lambda: downlink_floats([(4, 3, 2)], [1]), "shapes"),
    (lambda: break_even_rank(0, 3), "m"),
    (lambda: singular_value_threshold(np.ones(3), 1.0), "X"),
    (lambda: soft_threshold(np.ones(3), -1.0), "tau"),
    (lambda: svt_residual(np.ones((2, 2)), np.ones((3, 2)), 1.0), "Y"),
])
def test_bad_input_names_the_parameter(call, param):
    with pytest.raises(ValueError, match=param):
        call()
