"""Privacy × robustness × personalization: the private λ* and MSE against their non-private forms, their limits in
ε, and a Monte Carlo check of the exact MSE with clipping and noise."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedtheory.theory.personalization import lambda_star_mean, personalized_mse_bound, personalized_mse_exact
from fedtheory.theory.privacy import analytic_gaussian_delta, analytic_gaussian_sigma
from fedtheory.theory.private_personalization import (
    lambda_star_private_mean,
    private_mse_bound,
    private_mse_exact,
    release_noise2,
)

settings_ = dict(sigma2=st.floats(0.01, 10.0), m=st.integers(1, 200), n=st.integers(3, 600),
                 bias2=st.floats(0.0, 5.0), kappa=st.floats(0.0, 5.0), spread2=st.floats(0.0, 5.0))


def _f(n: int) -> int:
    return (n - 1) // 3  # f < n/2, and c = n − f ≥ 2


@given(**settings_)
def test_without_noise_and_clipping_it_is_the_non_private_theory(sigma2, m, n, bias2, kappa, spread2):
    f = _f(n)
    kw = dict(sigma2=sigma2, m=m, n=n, f=f, bias2=bias2)
    lam = np.linspace(0, 1, 5)
    np.testing.assert_allclose(private_mse_exact(lam, **kw, noise2=0.0), personalized_mse_exact(lam, **kw), rtol=1e-12)
    np.testing.assert_allclose(private_mse_bound(lam, **kw, kappa=kappa, spread2=spread2, noise2=0.0),
                               personalized_mse_bound(lam, **kw, kappa=kappa, spread2=spread2), rtol=1e-12)
    np.testing.assert_allclose(lambda_star_private_mean(**kw, kappa=kappa, spread2=spread2, noise2=0.0),
                               lambda_star_mean(**kw, kappa=kappa, spread2=spread2), rtol=1e-12, atol=1e-300)


@given(**settings_, eps=st.floats(0.01, 50.0), ratio=st.floats(1.0, 10.0), dim=st.integers(1, 50))
def test_lambda_star_is_in_unit_interval_and_grows_with_epsilon(sigma2, m, n, bias2, kappa, spread2, eps, ratio, dim):
    kw = dict(sigma2=sigma2, m=m, n=n, f=_f(n), bias2=bias2, kappa=kappa, spread2=spread2)
    noise = release_noise2(np.array([eps, eps * ratio]), delta=1e-5, clip=1.0, m=m, dim=dim)
    lo, hi = lambda_star_private_mean(**kw, noise2=noise)
    assert 0.0 <= lo <= hi * (1 + 1e-12) <= 1.0 + 1e-12  # more privacy budget, less noise, more collaboration
    assert noise[0] >= noise[1]


def test_limits_in_epsilon():
    kw = dict(sigma2=1.0, m=20, n=50, f=5, bias2=0.05, kappa=0.3, spread2=0.1)
    eps = np.array([1e-3, 1e-1, 1.0, 10.0, 1e3])
    star = lambda_star_private_mean(**kw, noise2=release_noise2(eps, delta=1e-5, clip=3.0, m=20, dim=8))
    assert np.all(np.diff(star) > 0) and star[0] < 1e-3  # ε → 0: the noise dominates, local learning
    assert star[-1] == pytest.approx(lambda_star_mean(**kw), rel=1e-3)  # ε → ∞: the non-private λ*


def test_the_bound_holds_over_the_exact_mse_and_lambda_star_minimises_it():
    kw = dict(sigma2=2.0, m=16, n=12, f=3, bias2=0.2, noise2=0.4, clipped_sigma2=1.5, cross_sigma2=1.7)
    lam = np.linspace(0, 1, 2001)
    exact = private_mse_exact(lam, **kw)
    for gamma in (0.3, 1.0, 3.0):
        bound = private_mse_bound(lam, **kw, kappa=0.7, spread2=0.3, gamma=gamma)
        assert np.all(bound >= exact)  # (1+γ)M_0 ≥ M_0 and the κ term is ≥ 0
        star = lambda_star_private_mean(**kw, kappa=0.7, spread2=0.3, gamma=gamma)
        assert abs(lam[np.argmin(bound)] - star) <= 1e-3  # the grid step
    # heavy clipping without noise or heterogeneity: the stationary point lies beyond 1 and λ* is 1
    assert lambda_star_private_mean(sigma2=1.0, m=1, n=2, bias2=0.0, noise2=0.0, clipped_sigma2=0.4,
                                    cross_sigma2=0.5) == 1.0


def test_exact_mse_matches_monte_carlo_with_clipping_and_noise():
    rng = np.random.default_rng(0)
    n, m, d, C, lam, reps = 6, 5, 3, 1.2, 0.6, 40_000
    mu = rng.normal(size=(n, d)) * 0.5
    x = mu[None, :, None, :] + rng.normal(size=(reps, n, m, d))  # (reps, clients, samples, d)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    clipped = x * np.minimum(1.0, C / norms)
    tau2 = 0.05
    release = clipped.mean(2) + rng.normal(size=(reps, n, d)) * np.sqrt(tau2)
    est = (1 - lam) * x[:, 0].mean(1) + lam * release.mean(1)  # client 0, f = 0, F = mean
    err = np.sum((est - mu[0]) ** 2, -1)
    # the clipping moments of client 0 (the others' clipped variance enters through s_c: use the mean over clients)
    big = mu[None, :, :] + rng.normal(size=(400_000, n, d))
    cb = big * np.minimum(1.0, C / np.linalg.norm(big, axis=-1, keepdims=True))
    nu = cb.mean(0)
    sc2 = np.mean([np.trace(np.cov(cb[:, j].T)) for j in range(n)])
    sx2 = np.trace(np.cov(big[:, 0].T, cb[:, 0].T)[:d, d:])
    pred = private_mse_exact(lam, sigma2=float(d), m=m, n=n, bias2=float(np.sum((nu.mean(0) - mu[0]) ** 2)),
                             noise2=d * tau2, clipped_sigma2=sc2, cross_sigma2=sx2)
    half = 4 * err.std(ddof=1) / np.sqrt(reps)  # ~4 standard errors of the Monte Carlo mean
    assert abs(err.mean() - pred) <= half + 5e-3 * pred  # + the moments' own estimation error


def test_analytic_gaussian_sigma_inverts_delta():
    sig = analytic_gaussian_sigma(np.array([0.1, 1.0, 8.0]), 1e-5)
    np.testing.assert_allclose(analytic_gaussian_delta(np.array([0.1, 1.0, 8.0]), sig), 1e-5, rtol=1e-8)
    assert np.all(np.diff(sig) < 0)
    with pytest.raises(ValueError, match="delta"):
        analytic_gaussian_sigma(1.0, 1.5)
    with pytest.raises(ValueError, match="clip"):
        release_noise2(1.0, delta=1e-5, clip=0.0, m=10, dim=2)
    with pytest.raises(ValueError, match="eps"):
        release_noise2(0.0, delta=1e-5, clip=1.0, m=10, dim=2)


def test_clipped_normal_moments_match_monte_carlo_and_vanish_without_clipping():
    from fedtheory.theory.private_personalization import clipped_normal_moments

    rng = np.random.default_rng(1)
    for mu, sigma, C in [(0.7, 1.3, 1.0), (-2.0, 0.5, 1.5), (0.0, 3.0, 0.2)]:
        x = mu + sigma * rng.standard_normal(2_000_000)
        c = np.clip(x, -C, C)
        nu, var, cov = clipped_normal_moments(mu, sigma=sigma, clip=C)
        se = 5 / np.sqrt(x.size)  # ~5 standard errors at unit scale
        assert abs(nu - c.mean()) <= se * c.std() and abs(var - c.var()) <= 5 * se * max(1.0, sigma**2)
        assert abs(cov - np.cov(x, c)[0, 1]) <= 5 * se * max(1.0, sigma**2)
        assert var <= cov + 1e-12 <= sigma**2 + 1e-12  # firm non-expansiveness: s_c ≤ s_× ≤ s
    nu, var, cov = clipped_normal_moments(np.array([0.0, 1.0]), sigma=1.0, clip=50.0)
    np.testing.assert_allclose(nu, [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(var, 1.0, atol=1e-12)
    np.testing.assert_allclose(cov, 1.0, atol=1e-12)


@given(pdim=st.floats(1.0, 100.0), m=st.integers(1, 500), phi=st.floats(0.0, 1.0), n=st.integers(3, 100),
       G2=st.floats(0.0, 10.0), t1=st.floats(0.0, 1.0), t2=st.floats(0.0, 1.0), P=st.integers(1, 100))
def test_private_classification_lambda_star_falls_with_noise_and_reduces_without_it(pdim, m, phi, n, G2, t1, t2, P):
    from fedtheory.theory.personalization import lambda_star_classification
    from fedtheory.theory.private_personalization import lambda_star_classification_private

    f = (n - 1) // 3
    kw = dict(pdim=pdim, m=m, phi=phi, f=f, n=n, G2=G2, params=P)
    lo, hi = min(t1, t2), max(t1, t2)
    a, b = lambda_star_classification_private(**kw, noise_var=hi), lambda_star_classification_private(**kw, noise_var=lo)
    assert 0.0 <= a <= b + 1e-12 <= 1.0 + 1e-12  # more noise, less collaboration
    assert lambda_star_classification_private(**kw, noise_var=0.0) == lambda_star_classification(
        pdim=pdim, m=m, phi=phi, f=f, n=n, G2=G2)
