"""Closed forms of the prompt portfolio (PromptFolio) against brute force and their properties."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fedtheory.theory import (
    lambda_star_mean,
    max_sharpe_ratio,
    minimum_risk_weight,
    portfolio_accuracy,
    portfolio_return,
    portfolio_risk,
    sharpe_ratio,
    theta_star,
)

pos = st.floats(0.05, 20.0)
ret = st.floats(-5.0, 5.0)
corr = st.floats(-0.95, 0.95)
GRID = np.linspace(0, 1, 20001)


def _sharpe(theta, mg, ml, sg, sl, rho):
    return portfolio_return(theta, mg, ml) / portfolio_risk(theta, sg, sl, rho)


@given(ret, ret, pos, pos, corr)
def test_theta_star_maximizes_sharpe_on_a_fine_grid(mg, ml, sg, sl, rho):
    t = theta_star(mg, ml, sg, sl, rho)
    assert 0.0 <= t <= 1.0
    best = _sharpe(GRID, mg, ml, sg, sl, rho).max()
    assert _sharpe(t, mg, ml, sg, sl, rho) >= best - 1e-9 * max(1.0, abs(best))


@given(pos, pos, pos, pos, corr)
def test_mixture_reaches_max_sharpe_and_beats_both(mg, ml, sg, sl, rho):
    SG, SL = mg / sg, ml / sl
    s_star = max_sharpe_ratio(SG, SL, rho)
    assert s_star >= max(SG, SL) - 1e-12
    t = theta_star(mg, ml, sg, sl, rho)
    s_mix = _sharpe(t, mg, ml, sg, sl, rho)
    assert s_mix >= max(SG, SL) - 1e-12
    if rho <= min(SG, SL) / max(SG, SL):  # the tangency portfolio is long-only: θ* reaches S*
        assert s_mix == pytest.approx(s_star, rel=1e-9)


@given(pos, pos, pos, pos, corr)
def test_dominated_asset_gets_no_weight(mg, ml, sg, sl, rho):
    SG, SL = mg / sg, ml / sl
    assume(abs(SL - rho * SG) > 1e-9 and abs(SG - rho * SL) > 1e-9)
    t = theta_star(mg, ml, sg, sl, rho)
    if SL < rho * SG:
        assert t == 0.0
    elif SG < rho * SL:
        assert t == 1.0
    else:
        assert 0.0 < t < 1.0


@given(pos, pos, pos, pos, corr)
def test_swapping_global_and_local_mirrors_theta(mg, ml, sg, sl, rho):
    assume(abs(mg / sg - ml / sl) > 1e-9)
    assert theta_star(mg, ml, sg, sl, rho) == pytest.approx(1 - theta_star(ml, mg, sl, sg, rho), abs=1e-12)


@given(pos, pos, pos, pos)
def test_independent_assets_closed_form(mg, ml, sg, sl):
    expected = (ml / sl**2) / (mg / sg**2 + ml / sl**2)
    assert theta_star(mg, ml, sg, sl, 0.0) == pytest.approx(expected, rel=1e-12)
    assert max_sharpe_ratio(mg / sg, ml / sl, 0.0) == pytest.approx(np.hypot(mg / sg, ml / sl), rel=1e-12)


@given(pos, pos, pos, corr)
def test_equal_returns_reduce_to_minimum_risk_weight(m, sg, sl, rho):
    c = rho * sg * sl
    assume(sg**2 + sl**2 - 2 * c > 1e-9)
    w = minimum_risk_weight(sg**2, sl**2, c)
    assume(0 <= w <= 1)
    assert theta_star(m, m, sg, sl, rho) == pytest.approx(w, abs=1e-9)  # w is the weight on b = local


@given(pos, pos, st.floats(-1.0, 1.0))
def test_minimum_risk_weight_minimizes_the_quadratic(ra, rb, r):
    c = r * np.sqrt(ra * rb) * 0.999
    assume(ra + rb - 2 * c > 1e-6)
    w = minimum_risk_weight(ra, rb, c)
    grid = np.linspace(-3, 4, 70001)
    risk = (1 - grid) ** 2 * ra + grid**2 * rb + 2 * grid * (1 - grid) * c
    assert (1 - w) ** 2 * ra + w**2 * rb + 2 * w * (1 - w) * c <= risk.min() + 1e-9 * risk.min() + 1e-12


def test_lambda_star_mean_is_the_minimum_risk_weight():
    # Byzantine λ*: weight on the collaborative predictor with risks q (local) and bias² + κ(q + Δ²)
    n, f, m, s2, kappa, b2 = 600, 100, 20, 225.0, 0.5, 3.0
    q = (1 - 1 / (n - f)) * s2 / m
    assert lambda_star_mean(sigma2=s2, m=m, n=n, f=f, kappa=kappa, bias2=b2, spread2=b2) == pytest.approx(
        minimum_risk_weight(q, b2 + kappa * (q + b2)), rel=1e-12)


def test_accuracy_is_phi_of_sharpe_and_broadcasts():
    theta = np.linspace(0, 1, 5)[:, None]
    acc = portfolio_accuracy(theta, [1.0, 2.0], 1.5, 1.0, 2.0, 0.3)
    assert acc.shape == (5, 2)
    from scipy.stats import norm

    assert acc[0, 1] == pytest.approx(norm.cdf(2.0))
    assert sharpe_ratio([1.0, -1.0], 2.0).tolist() == [0.5, -0.5]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: theta_star(1, 1, 0.0, 1, 0.0), "s_global"),
        (lambda: theta_star(1, 1, 1, -1, 0.0), "s_local"),
        (lambda: theta_star(1, 1, 1, 1, 1.0), "rho"),
        (lambda: theta_star(1, 1, 1, 1, -1.0), "rho"),
        (lambda: portfolio_risk(1.5, 1, 1), "theta"),
        (lambda: sharpe_ratio(1.0, 0.0), "s"),
        (lambda: minimum_risk_weight(-1.0, 1.0), "risk_a"),
        (lambda: minimum_risk_weight(1.0, 1.0, 2.0), "cov"),
        (lambda: minimum_risk_weight(1.0, 1.0, 1.0), "identical"),
        (lambda: theta_star(-1, -1, 1, 1, 0.5, constrained=False), "maximum-Sharpe"),
        (lambda: theta_star(np.nan, 1, 1, 1), "m_global"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_unconstrained_theta_can_short_the_dominated_asset():
    # S_G = 1, S_L = 0.5, ρ = 0.9 > S_L/S_G: the tangency portfolio shorts the local prompt
    t0 = theta_star(1.0, 0.5, 1.0, 1.0, 0.9, constrained=False)
    assert t0 < 0 and theta_star(1.0, 0.5, 1.0, 1.0, 0.9) == 0.0
