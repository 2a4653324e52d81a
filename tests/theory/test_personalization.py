"""Properties of the mean-estimation closed forms (arXiv 2409.20329, Section 3)."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fedtheory.theory import (
    expected_heterogeneity,
    lambda_star_classification,
    lambda_star_mean,
    mse_bound_at_lambda_star,
    personalized_mse_bound,
    personalized_mse_exact,
)

pos = st.floats(1e-3, 1e3)
nonneg = st.floats(0.0, 1e3)
unit = st.floats(0.0, 1.0)


@st.composite
def problems(draw):
    n = draw(st.integers(3, 2000))
    f = draw(st.integers(0, (n - 1) // 2))
    return dict(
        sigma2=draw(pos), m=draw(st.integers(1, 500)), n=n, f=f,
        kappa=draw(st.floats(0.0, 50.0)), bias2=draw(nonneg), spread2=draw(nonneg),
    )


@given(problems())
def test_lambda_star_in_unit_interval(p):
    lam = lambda_star_mean(**p)
    assert 0.0 <= lam <= 1.0


@given(problems(), st.sampled_from(["bias2", "spread2", "kappa"]), st.floats(1e-3, 1e3))
def test_lambda_star_non_increasing_in_heterogeneity_and_kappa(p, key, delta):
    assert lambda_star_mean(**{**p, key: p[key] + delta}) <= lambda_star_mean(**p) + 1e-12


@given(problems(), st.floats(1.01, 100.0))
def test_lambda_star_non_decreasing_in_noise_per_sample(p, factor):
    # σ²/m up: the local estimate is worse, so collaborate more.
    assert lambda_star_mean(**{**p, "sigma2": p["sigma2"] * factor}) >= lambda_star_mean(**p) - 1e-12
    if p["m"] > 1:
        assert lambda_star_mean(**{**p, "m": 1}) >= lambda_star_mean(**p) - 1e-12


@given(problems())
def test_lambda_star_limit_no_heterogeneity(p):
    assume(p["n"] - p["f"] > 1)
    lam = lambda_star_mean(**{**p, "bias2": 0.0, "spread2": 0.0})
    assert lam == pytest.approx(1.0 / (1.0 + p["kappa"]), rel=1e-12)


@given(problems())
def test_lambda_star_limit_large_heterogeneity(p):
    assume(p["n"] - p["f"] > 1)
    lam = lambda_star_mean(**{**p, "bias2": 1e12, "spread2": 1e12})
    assert lam < 1e-6


@given(problems(), unit, st.floats(0.05, 20.0))
def test_bound_dominates_exact_at_kappa_zero(p, lam, gamma):
    exact = personalized_mse_exact(lam, sigma2=p["sigma2"], m=p["m"], n=p["n"], f=p["f"], bias2=p["bias2"])
    for g in (gamma, None):
        b = personalized_mse_bound(lam, **{**p, "kappa": 0.0}, gamma=g)
        assert b >= exact * (1 - 1e-12)
    # the tightest γ makes it exact at κ = 0
    tight = personalized_mse_bound(lam, **{**p, "kappa": 0.0}, gamma=None)
    assert tight == pytest.approx(exact, rel=1e-9, abs=1e-12)


@given(problems(), st.floats(0.05, 20.0))
def test_lambda_star_minimizes_the_bound(p, gamma):
    assume(p["n"] - p["f"] > 1)
    lam_star = lambda_star_mean(**p, gamma=gamma)
    grid = np.linspace(0, 1, 1001)
    b = personalized_mse_bound(grid, **p, gamma=gamma)
    at_star = personalized_mse_bound(lam_star, **p, gamma=gamma)
    assert at_star <= b.min() * (1 + 1e-9) + 1e-12
    assert mse_bound_at_lambda_star(**p, gamma=gamma) == pytest.approx(at_star, rel=1e-9, abs=1e-12)


@given(problems(), unit)
def test_bound_grows_with_kappa(p, lam):
    b0 = personalized_mse_bound(lam, **p)
    b1 = personalized_mse_bound(lam, **{**p, "kappa": p["kappa"] + 1.0})
    assert b1 >= b0


def test_exact_mse_known_values():
    # s = 225/20 = 11.25, c = 600: at λ = 0 the local MSE s; at λ = 1 s/c + bias2.
    assert personalized_mse_exact(0.0, sigma2=225, m=20, n=600, bias2=4.0) == pytest.approx(11.25)
    assert personalized_mse_exact(1.0, sigma2=225, m=20, n=600, bias2=4.0) == pytest.approx(11.25 / 600 + 4.0)


def test_paper_defaults_lambda_star():
    # n=600, f=100, m=20, σ=15, σ_h=2, κ = f/(n−2f) = 0.25 (the authors' notebook choice)
    het = expected_heterogeneity(sigma_h2=4.0, n=600, f=100)
    lam = lambda_star_mean(sigma2=225, m=20, n=600, f=100, kappa=0.25, bias2=het, spread2=het)
    q = (1 - 1 / 500) * 11.25
    assert lam == pytest.approx(q / (1.25 * q + 1.25 * het))


def test_broadcasting():
    lam = np.linspace(0, 1, 5)[:, None]
    kappa = np.array([0.0, 0.5, 2.0])
    out = personalized_mse_bound(lam, sigma2=1.0, m=10, n=50, f=5, kappa=kappa, bias2=0.1, spread2=0.2)
    assert out.shape == (5, 3)
    ls = lambda_star_mean(sigma2=np.array([1.0, 2.0]), m=10, n=50, f=5, kappa=0.3, bias2=0.1, spread2=0.1)
    assert ls.shape == (2,)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(f=300), "f"),  # f >= n/2
        (dict(f=-1), "f"),
        (dict(m=0), "m"),
        (dict(m=2.5), "m"),
        (dict(sigma2=-1.0), "sigma2"),
        (dict(sigma2=float("nan")), "sigma2"),
        (dict(bias2=-0.1), "bias2"),
        (dict(spread2=float("nan")), "spread2"),
        (dict(kappa=-1.0), "kappa"),
        (dict(lam=1.5), "lam"),
        (dict(lam=-0.01), "lam"),
        (dict(gamma=0.0), "gamma"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, name):
    base = dict(lam=0.5, sigma2=1.0, m=10, n=600, f=100, kappa=0.2, bias2=0.1, spread2=0.1, gamma=1.0)
    base.update(kwargs)
    with pytest.raises(ValueError, match=f"^{name} "):
        personalized_mse_bound(base.pop("lam"), **base)
    if name not in ("lam",):
        lam_args = {k: v for k, v in base.items()}
        with pytest.raises(ValueError, match=f"^{name} "):
            lambda_star_mean(**lam_args)


def test_exact_bad_input():
    with pytest.raises(ValueError, match="^lam "):
        personalized_mse_exact(2.0, sigma2=1.0, m=1, n=10, bias2=0.0)
    with pytest.raises(ValueError, match="^n "):
        personalized_mse_exact(0.5, sigma2=1.0, m=1, n=0, bias2=0.0)


# ----------------------------------------------------------------- classification (reconstructed)
@given(st.floats(1, 1e4), st.integers(1, 10_000), st.floats(0, 5), st.integers(3, 100), st.floats(0, 100))
def test_lambda_star_classification_range_and_zero_condition(pdim, m, phi, n, G2):
    f = n // 4
    lam = lambda_star_classification(pdim, m, phi, f, n, G2)
    assert 0.0 <= lam <= 1.0
    if phi >= np.sqrt(pdim / m):  # the quoted condition for local learning
        assert lam == 0.0


@given(st.floats(1, 1e4), st.integers(1, 10_000), st.floats(0, 5), st.integers(5, 100), st.floats(0.01, 100))
def test_lambda_star_classification_monotone_in_f_and_phi(pdim, m, phi, n, G2):
    f1, f2 = 1, (n - 1) // 2
    assume(f2 > f1)
    assert lambda_star_classification(pdim, m, phi, f2, n, G2) <= lambda_star_classification(pdim, m, phi, f1, n, G2)
    assert lambda_star_classification(pdim, m, phi + 0.1, f1, n, G2) <= lambda_star_classification(pdim, m, phi, f1, n, G2)


def test_lambda_star_classification_no_byzantine():
    assert lambda_star_classification(10, 100, 0.1, 0, 20, 5.0) == 1.0
    assert lambda_star_classification(10, 100, 0.5, 0, 20, 5.0) == 0.0  # Φ ≥ √(Pdim/m) ≈ 0.316
    with pytest.raises(ValueError, match="^phi "):
        lambda_star_classification(10, 100, -0.1, 0, 20, 5.0)
    with pytest.raises(ValueError, match="^f "):
        lambda_star_classification(10, 100, 0.1, 10, 20, 5.0)
