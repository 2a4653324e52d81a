"""Closed forms of DP noise on LoRA factors, coupling, the smoothing filter and the sensing rate (LA-LoRA)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedtheory.theory.dp_lora import (
    SMOOTHING_KERNEL,
    accumulated_noise_norms2,
    crossover_sigma,
    effective_sigma,
    full_model_noise_norm2,
    lora_gradients,
    noise_term_norms2,
    noisy_updates,
    projected_gradients,
    sensing_contraction,
    sensing_rate,
    sensing_step_limit,
    simultaneous_second_order_term,
    smoothing_autocorrelation,
    smoothing_response,
    smoothing_variance_factor,
)

dims = st.integers(1, 64)
sig = st.floats(1e-3, 10.0)


@given(sig, dims, dims, dims, st.floats(0.0, 50.0), st.floats(0.0, 50.0))
def test_noise_terms_scale_and_sum(s, m, n, r, a2, b2):
    t = noise_term_norms2(s, m, n, r, a2, b2)
    assert t["total"] == pytest.approx(t["NB_A"] + t["B_NA"] + t["NB_NA"])
    t2 = noise_term_norms2(2 * s, m, n, r, a2, b2)
    # linear terms grow as σ² (slope 1 in norm), the quadratic term as σ⁴ (slope 2)
    assert t2["NB_A"] == pytest.approx(4 * t["NB_A"]) and t2["NB_NA"] == pytest.approx(16 * t["NB_NA"])
    assert noise_term_norms2(s, m, n, r + 1, a2, b2)["NB_NA"] >= t["NB_NA"]  # monotone in r


@given(st.integers(1, 256), dims, dims)
def test_crossover_is_where_the_quadratic_term_meets_full_model_noise(r, m, n):
    s = crossover_sigma(r)
    assert noise_term_norms2(s, m, n, r, 1, 1)["NB_NA"] == pytest.approx(full_model_noise_norm2(s, m, n))
    assert noise_term_norms2(1.1 * s, m, n, r, 1, 1)["NB_NA"] > full_model_noise_norm2(1.1 * s, m, n)
    assert crossover_sigma(r + 1) < s


def test_monte_carlo_of_the_noise_terms():
    rng = np.random.default_rng(0)
    m, n, r, s = 40, 30, 4, 0.7
    A, B = rng.normal(size=(r, n)), rng.normal(size=(m, r))
    NB, NA = s * rng.normal(size=(4000, m, r)), s * rng.normal(size=(4000, r, n))
    pred = noise_term_norms2(s, m, n, r, (A**2).sum(), (B**2).sum())
    for key, x in (("NB_A", NB @ A), ("B_NA", B @ NA), ("NB_NA", NB @ NA)):
        v = (x**2).sum((1, 2))
        assert abs(v.mean() - pred[key]) < 4 * v.std() / np.sqrt(v.size)


def test_accumulated_noise():
    # a B→A pair is the simultaneous form; one step has no quadratic term
    assert accumulated_noise_norms2(0.3, 10, 12, 3, 2.0, 5.0, 1, 1) == pytest.approx(noise_term_norms2(0.3, 10, 12, 3, 2.0, 5.0))
    assert accumulated_noise_norms2(0.3, 10, 12, 3, 2.0, 5.0, 1, 0)["NB_NA"] == 0.0
    sim = accumulated_noise_norms2(0.1, 10, 12, 3, 2.0, 5.0, *noisy_updates("dp_lora", 10))
    alt = accumulated_noise_norms2(0.1, 10, 12, 3, 2.0, 5.0, *noisy_updates("la_lora", 10))
    assert alt["NB_NA"] == pytest.approx(sim["NB_NA"] / 4) and alt["NB_A"] == pytest.approx(sim["NB_A"] / 2)
    assert accumulated_noise_norms2(0.1, 10, 12, 3, 2.0, 5.0, *noisy_updates("ffa_lora", 10))["NB_NA"] == 0.0
    with pytest.raises(ValueError, match="method"):
        noisy_updates("lora", 3)


def test_effective_sigma():
    assert effective_sigma(1.0, 0.5, 25) == pytest.approx(0.02)


def test_gradients_follow_the_chain_rule():
    rng = np.random.default_rng(1)
    m, n, r, s = 7, 5, 3, 2.0
    A, B, W0, X, Y = (rng.normal(size=sh) for sh in ((r, n), (m, r), (m, n), (n, 11), (m, 11)))

    def loss(A, B):
        return 0.5 * (((W0 + s * B @ A) @ X - Y) ** 2).sum()

    G = ((W0 + s * B @ A) @ X - Y) @ X.T
    gA, gB = lora_gradients(G, A, B, s)
    eps = 1e-6
    for (i, j) in ((0, 0), (2, 4)):
        E = np.zeros_like(A)
        E[i, j] = eps
        assert (loss(A + E, B) - loss(A - E, B)) / (2 * eps) == pytest.approx(gA[i, j], rel=1e-5)
    E = np.zeros_like(B)
    E[6, 1] = eps
    assert (loss(A, B + E) - loss(A, B - E)) / (2 * eps) == pytest.approx(gB[6, 1], rel=1e-5)


def test_projected_gradients_are_least_squares_projections():
    rng = np.random.default_rng(2)
    m, n, r, s = 9, 8, 3, 1.5
    A, B, G = rng.normal(size=(r, n)), rng.normal(size=(m, r)), rng.normal(size=(m, n))
    tA, tB = projected_gradients(G, A, B, s)
    X_ls = np.linalg.lstsq(A.T, (G / s).T, rcond=None)[0].T  # argmin_X ‖G/s − XA‖
    np.testing.assert_allclose(tB, X_ls, atol=1e-10)
    Y_ls = np.linalg.lstsq(B, G / s, rcond=None)[0]  # argmin_Y ‖G/s − BY‖
    np.testing.assert_allclose(tA, Y_ls, atol=1e-10)
    eta = 0.1
    gA, gB = lora_gradients(G, A, B, s)
    exact = (B - eta * gB) @ (A - eta * gA) - B @ A + eta * (gB @ A + B @ gA)
    np.testing.assert_allclose(simultaneous_second_order_term(G, A, B, eta, s), exact, atol=1e-12)


def test_filter_closed_forms():
    assert SMOOTHING_KERNEL.sum() == pytest.approx(1.0)  # unit DC gain
    assert smoothing_response(0.0) == 1.0
    assert smoothing_variance_factor() == pytest.approx(70 / 256)
    np.testing.assert_allclose(smoothing_autocorrelation(np.arange(6)), np.array([70, 56, 28, 8, 1, 0]) / 256)
    w = np.linspace(-np.pi, np.pi, 101)
    dtft = np.abs(sum(g * np.exp(-1j * w * k) for k, g in enumerate(SMOOTHING_KERNEL)))
    np.testing.assert_allclose(smoothing_response(w), dtft, atol=1e-12)


@given(st.floats(-10, 10))
def test_filter_response_in_unit_interval(w):
    assert 0.0 <= smoothing_response(w) <= 1.0


@given(st.floats(0.0, 0.99), st.integers(1, 50))
def test_sensing_rate_readings(delta, n):
    # n clients/blocks (the paper's P)
    eta = sensing_step_limit(delta, n)
    pub, nor = sensing_rate(eta, delta, n, "published"), sensing_rate(eta, delta, n, "normalized")
    assert pub == pytest.approx(n * nor)
    assert pub == pytest.approx(n * (1 - delta) / (1 + delta + 1 / n))  # the value at the best step
    assert 0 <= sensing_contraction(eta, delta, n, "normalized") <= 1


def test_published_reading_exceeds_one_for_several_clients():
    assert sensing_rate(sensing_step_limit(0.1, 4), 0.1, 4) > 1
    assert sensing_rate(sensing_step_limit(0.1, 1), 0.1, 1) < 1


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: noise_term_norms2(-1, 2, 2, 1, 1, 1), "sigma"),
        (lambda: noise_term_norms2(1, 2, 2, 0, 1, 1), "r"),
        (lambda: crossover_sigma(0.5), "r"),
        (lambda: effective_sigma(1, 0, 2), "clip"),
        (lambda: sensing_rate(0.1, 1.0, 2), "delta_r"),
        (lambda: sensing_rate(0.1, 0.1, 2, "other"), "reading"),
        (lambda: lora_gradients(np.ones((3, 3)), np.ones((2, 4)), np.ones((3, 2))), "shapes"),
        (lambda: projected_gradients(np.ones((3, 4)), np.ones((2, 4)), np.ones((3, 2))), "full rank"),
    ],
)
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
