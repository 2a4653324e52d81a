"""Stage-1 closed forms of signal learning vs noise memorization (PromptFolio)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedtheory.theory import (
    coefficient_ratio,
    noise_rate,
    signal_rate,
    snr,
    stage1_correlation,
    stage1_margin,
    stage1_sharpe_global,
    stage1_sharpe_local,
    stage1_theta_star,
    theta_star,
)

ns = st.integers(2, 200)  # clients
hs = st.floats(0.0, 1.0)


@given(ns, hs, st.integers(1, 100), st.integers(10, 10000), st.floats(0.01, 0.3))
def test_stage1_theta_star_is_the_portfolio_theta_star(n, h, m, d, s):
    # n clients, m samples per client: plug the stage-1 return and risk of both prompts into the tangency formula
    SL = stage1_sharpe_local(m, d, s)
    SG = stage1_sharpe_global(m, d, s, n, h)
    s_L = 1.0
    s_G = s_L / np.sqrt(n)
    m_L, m_G = SL * s_L, SG * s_G
    got = theta_star(m_G, m_L, s_G, s_L, stage1_correlation(n))
    assert got == pytest.approx(stage1_theta_star(n, h), abs=1e-9)


@given(ns, hs)
def test_stage1_theta_star_trends(n, h):
    t = stage1_theta_star(n, h)
    assert 0 <= t <= 1
    assert stage1_theta_star(n + 1, h) <= t + 1e-15  # falls with n
    assert stage1_theta_star(n, min(1.0, h + 0.01)) >= t - 1e-15  # rises with h


def test_limits_and_values():
    assert stage1_theta_star(10, 0.0) == 0.0 and stage1_theta_star(10, 1.0) == 1.0
    assert stage1_theta_star(5, 0.5) == pytest.approx(1 / 6)
    assert stage1_correlation(4) == 0.5
    # h = 0: the global prompt is local training on n·m examples, S_G = √n·S_L
    assert stage1_sharpe_global(20, 2000, 0.05, 9, 0.0) == pytest.approx(3 * stage1_sharpe_local(20, 2000, 0.05))
    # h = 1 with n clients: only 1/n of the signal is shared, S_G = S_L/√n
    assert stage1_sharpe_global(20, 2000, 0.05, 4, 1.0) == pytest.approx(stage1_sharpe_local(20, 2000, 0.05) / 2)


@given(st.integers(1, 500), st.floats(0.0, 1.0), st.floats(0.1, 3.0), st.integers(10, 5000))
def test_ratio_of_rates_is_m_snr2(m, s, sigma_p, d):
    mu = s * sigma_p * np.sqrt(d)
    eta = 1 / (sigma_p**2 * d)
    assert snr(mu, sigma_p, d) == pytest.approx(s)
    assert signal_rate(eta, mu) / noise_rate(eta, sigma_p, d, m) == pytest.approx(coefficient_ratio(m, s), rel=1e-9)
    assert stage1_margin(10, eta, mu, sigma_p, d, m) == pytest.approx(10 * (s**2 / 2 + 1 / (2 * m)), rel=1e-9)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: stage1_theta_star(1, 0.5), "n"),
        (lambda: stage1_theta_star(5, 1.5), "h"),
        (lambda: snr(1.0, 0.0, 10), "sigma_p"),
        (lambda: coefficient_ratio(0, 0.1), "m"),
        (lambda: signal_rate(0.0, 1.0), "eta"),
        (lambda: stage1_sharpe_local(10, 2.5, 0.1), "d"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
