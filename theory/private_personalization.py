r"""Privacy × robustness × personalization: the optimal collaboration level when the shared estimates are private.

No seed paper joins the two halves; this module does, for mean estimation, in the notation of
:mod:`fedtheory.theory.personalization` (whose λ* it reduces to without privacy). Related published work:
Allouah, Guerraoui, Gupta, Pinot, Stephan, "On the privacy-robustness-utility trilemma in distributed
learning", ICML 2023; Guerraoui, Gupta, Pinot, Rouault, Stephan, "Differential privacy and Byzantine
resilience in SGD: do they add up?", PODC 2021.

Model
-----
``n`` clients, ``f`` Byzantine, ``c = n − f`` honest. Honest client ``j`` holds ``m`` i.i.d. samples
:math:`x_{jk}` with mean :math:`\mu_j` and per-sample covariance of trace ``sigma2``. It *releases*

.. math:: r_j = \frac1m\sum_k \mathrm{clip}_C(x_{jk}) + \xi_j, \qquad \xi_j \sim N(0, \tau^2 I_d),

the mean of its samples projected onto the ball of radius C (``clip``), plus Gaussian noise. Under the
replace-one neighbouring relation (one sample of one client changed), the clipped mean has L2 sensitivity
2C/m, so the Gaussian mechanism with :math:`\tau = (2C/m)\,\sigma_{\mathrm{AGM}}(\varepsilon, \delta)` (the
analytic calibration of Balle & Wang 2018, :func:`fedtheory.theory.privacy.analytic_gaussian_sigma`) makes each
release (ε, δ)-DP for the samples of that client; ``noise2`` :math:`= d\tau^2` is the noise's total variance
(:func:`release_noise2`). Client i keeps its *own, non-private* local mean :math:`\bar x_i` and mixes it with
an (f, κ)-robust aggregate of the releases:

.. math:: \hat\theta_i(\lambda) = (1-\lambda)\,\bar x_i + \lambda\,F(r_1, \dots, r_n).

Clipping enters through three numbers: ``clipped_sigma2`` :math:`s_c m` (trace of the covariance of a clipped
sample), ``cross_sigma2`` :math:`s_\times m` (trace of the cross-covariance of a sample and its clipped
version; the local mean and the client's own release share samples), and the clipped means
:math:`\nu_j = \mathbb E\,\mathrm{clip}_C(x_{jk})`, through ``bias2`` :math:`= \lVert\nu_C - \mu_i\rVert^2`
(:math:`\nu_C` the mean of the honest :math:`\nu_j`: heterogeneity plus clipping bias) and ``spread2``
:math:`= \frac1c\sum_{j\in C}\lVert\nu_j-\nu_C\rVert^2`. Without clipping (C beyond every sample's norm)
:math:`s_c = s_\times = s = \sigma^2/m` and :math:`\nu_j = \mu_j`. Projection onto a ball is firmly
non-expansive, so :math:`s_c \le s_\times \le s`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_n_f, check_range, check_representable, provenance, scalar_or_array
from .privacy import analytic_gaussian_sigma

__all__ = ["release_noise2", "private_mse_exact", "private_mse_bound", "lambda_star_private_mean", "clipped_normal_moments",
           "lambda_star_classification_private"]


@provenance("derived", "the Gaussian mechanism (Balle & Wang 2018, Theorem 8) on a clipped mean; derived here")
def release_noise2(eps: ArrayLike, *, delta: ArrayLike, clip: ArrayLike, m: ArrayLike, dim: ArrayLike) -> ArrayLike:
    r"""Total variance :math:`d\tau^2` of the noise that makes a client's clipped mean (ε, δ)-DP.

    .. math:: d\,\tau^2 = d\,\Bigl(\frac{2C}{m}\Bigr)^2 \sigma_{\mathrm{AGM}}(\varepsilon, \delta)^2

    Sensitivity: replacing one of the m samples moves :math:`\frac1m\sum_k \mathrm{clip}_C(x_k)` by at most
    2C/m in L2; the analytic Gaussian mechanism with noise std σ_AGM per unit of sensitivity is (ε, δ)-DP.
    **derived** (the sensitivity; the calibration is published).

    Parameters
    ----------
    eps : array_like, > 0
    delta : array_like in (0, 1)
    clip : array_like, > 0 (C)
    m : array_like, integer ≥ 1
    dim : array_like, integer ≥ 1 (d)

    Returns
    -------
    ndarray or float, ≥ 0
    """
    x = {"eps": check_range("eps", eps, low=0.0, low_open=True),
         "delta": check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True),
         "clip": check_range("clip", clip, low=0.0, low_open=True), "m": check_range("m", m, low=1, integer=True),
         "dim": check_range("dim", dim, low=1, integer=True)}

    def noise2(eps, delta, clip, m, dim):
        return dim * (2 * clip * np.asarray(analytic_gaussian_sigma(eps, delta)) / m) ** 2

    return scalar_or_array(check_representable("the noise variance d(2Cσ_AGM/m)²", noise2, **x))


def _inputs(lam, sigma2, m, n, f, bias2, noise2, clipped_sigma2, cross_sigma2) -> dict:
    """Validated inputs; the clipping moments default to no clipping (both equal ``sigma2``)."""
    s2 = check_range("sigma2", sigma2, low=0.0, low_open=True)
    n_, f_ = check_n_f(n, f)
    out = {"sigma2": s2, "m": check_range("m", m, low=1, integer=True), "n": n_, "f": f_,
           "bias2": check_range("bias2", bias2, low=0.0), "noise2": check_range("noise2", noise2, low=0.0),
           "clipped_sigma2": s2 if clipped_sigma2 is None else check_range("clipped_sigma2", clipped_sigma2, low=0.0),
           "cross_sigma2": s2 if cross_sigma2 is None else check_range("cross_sigma2", cross_sigma2, low=0.0)}
    if lam is not None:
        out["lam"] = check_range("lam", lam, low=0.0, high=1.0)
    return out


def _coefficients(sigma2, m, n, f, bias2, noise2, clipped_sigma2, cross_sigma2):
    r"""(a, b, e) with MSE(λ) = a − 2λb + λ²e: a = s, b = s − s_×/c, e = s − 2s_×/c + s_c/c + dτ²/c + bias2."""
    c = n - f
    s, sc, sx = sigma2 / m, clipped_sigma2 / m, cross_sigma2 / m
    return s, s - sx / c, s - 2 * sx / c + sc / c + noise2 / c + bias2


@provenance("derived", "derived here (sympy-checked); privacy × personalization, no seed paper")
def private_mse_exact(lam: ArrayLike, *, sigma2: ArrayLike, m: ArrayLike, n: ArrayLike, f: ArrayLike = 0,
                      bias2: ArrayLike, noise2: ArrayLike, clipped_sigma2: ArrayLike | None = None,
                      cross_sigma2: ArrayLike | None = None) -> ArrayLike:
    r"""Exact MSE of :math:`\hat\theta_i(\lambda)` when F is the mean of the honest releases (f = 0, or an oracle).

    .. math::
        \mathbb E\lVert\hat\theta_i(\lambda) - \mu_i\rVert^2 = (1-\lambda)^2 s + 2\lambda(1-\lambda)\frac{s_\times}{c}
        + \lambda^2\Bigl(\frac{s_c}{c} + \frac{d\tau^2}{c} + \lVert\nu_C - \mu_i\rVert^2\Bigr).

    Derivation (**derived**; checked with sympy in the tests): with :math:`e_i = \bar x_i - \mu_i`,
    :math:`u_j = \frac1m\sum_k \mathrm{clip}(x_{jk}) - \nu_j` and :math:`\bar\xi = \frac1c\sum_j \xi_j`,
    :math:`\hat\theta_i - \mu_i = (1-\lambda)e_i + \frac\lambda c\sum_{j\in C}u_j + \lambda\bar\xi + \lambda(\nu_C - \mu_i)`.
    All terms but the last are zero-mean; :math:`e_i` and :math:`u_i` share samples,
    :math:`\mathbb E\langle e_i, u_i\rangle = s_\times`, every other pair is independent; so the MSE is
    :math:`(1-\lambda)^2 s + 2(1-\lambda)\frac\lambda c s_\times + c\frac{\lambda^2}{c^2}s_c + \lambda^2\frac{d\tau^2}{c}
    + \lambda^2\lVert\nu_C - \mu_i\rVert^2`. With no clipping and no noise it is
    :func:`fedtheory.theory.personalization.personalized_mse_exact`.

    Parameters
    ----------
    lam : array_like in [0, 1]
    sigma2, clipped_sigma2, cross_sigma2 : array_like, traces of the per-sample covariances (σ², s_c·m, s_×·m);
        the clipping moments default to ``sigma2`` (no clipping)
    m, n, f : array_like, integers (samples per client, clients, Byzantine clients: c = n − f honest)
    bias2 : array_like, ≥ 0 (:math:`\lVert\nu_C - \mu_i\rVert^2`)
    noise2 : array_like, ≥ 0 (dτ², :func:`release_noise2`; 0 without privacy)

    Returns
    -------
    ndarray or float, broadcast over the inputs
    """
    x = _inputs(lam, sigma2, m, n, f, bias2, noise2, clipped_sigma2, cross_sigma2)

    def mse(lam, **k):
        a, b, e = _coefficients(**k)
        return a - 2 * lam * b + lam**2 * e

    return scalar_or_array(check_representable("the MSE a − 2λb + λ²e", mse, **x))


def _spread_term(n, f, noise2, clipped_sigma2, m, spread2):
    r"""V = (1 − 1/c)(s_c + dτ²) + spread2: the expected spread of the honest releases around their mean."""
    c = n - f
    return (1 - 1 / c) * (clipped_sigma2 / m + noise2) + spread2


@provenance("derived", "derived here (Young's inequality and (f, κ)-robustness); privacy × robustness × personalization")
def private_mse_bound(lam: ArrayLike, *, sigma2: ArrayLike, m: ArrayLike, n: ArrayLike, f: ArrayLike, kappa: ArrayLike,
                      bias2: ArrayLike, spread2: ArrayLike, noise2: ArrayLike, clipped_sigma2: ArrayLike | None = None,
                      cross_sigma2: ArrayLike | None = None, gamma: ArrayLike = 1.0) -> ArrayLike:
    r"""Upper bound on the MSE of :math:`\hat\theta_i(\lambda)` for any (f, κ)-robust F of the releases.

    .. math::
        B_\gamma(\lambda) = (1+\gamma)\,M_0(\lambda) + (1+\tfrac1\gamma)\,\lambda^2\kappa V,\qquad
        V = (1-\tfrac1c)\,(s_c + d\tau^2) + \Delta_\nu^2,

    :math:`M_0` the exact MSE with the honest mean (:func:`private_mse_exact`). The DP noise enters twice: in
    :math:`M_0` as :math:`d\tau^2/c` (the noise left in the honest average) and in V, the spread of the honest
    releases that κ multiplies, as :math:`(1-1/c)d\tau^2` — a robust rule cannot tell noise from disagreement.

    Derivation (**derived**): :math:`\hat\theta_i - \mu_i = A + \lambda B` with A the error when F is the honest
    mean :math:`r_C` and :math:`B = F - r_C`; Young's inequality for any γ > 0, then (f, κ)-robustness on the
    honest set, :math:`\lVert B\rVert^2 \le \kappa\frac1c\sum_{j\in C}\lVert r_j - r_C\rVert^2`, whose expectation
    is κV (the :math:`r_j - \nu_j` are independent with variance :math:`s_c + d\tau^2`). As
    :func:`fedtheory.theory.personalization.personalized_mse_bound` with the releases in place of the means.

    Parameters
    ----------
    lam : array_like in [0, 1]
    sigma2, m, n, f, bias2, noise2, clipped_sigma2, cross_sigma2 : as :func:`private_mse_exact`
    kappa : array_like, ≥ 0 (the aggregator's κ)
    spread2 : array_like, ≥ 0 (:math:`\Delta_\nu^2`, the spread of the honest clipped means)
    gamma : array_like, > 0 (Young's parameter; 1 gives 2[M_0 + λ²κV])

    Returns
    -------
    ndarray or float
    """
    x = _inputs(lam, sigma2, m, n, f, bias2, noise2, clipped_sigma2, cross_sigma2)
    x |= {"kappa": check_range("kappa", kappa, low=0.0), "spread2": check_range("spread2", spread2, low=0.0),
          "gamma": check_range("gamma", gamma, low=0.0, low_open=True)}

    def bound(lam, kappa, spread2, gamma, **k):
        a, b, e = _coefficients(**k)
        v = _spread_term(k["n"], k["f"], k["noise2"], k["clipped_sigma2"], k["m"], spread2)
        return (1 + gamma) * (a - 2 * lam * b + lam**2 * e) + (1 + 1 / gamma) * lam**2 * kappa * v

    return scalar_or_array(check_representable("the bound (1+γ)M_0 + (1+1/γ)λ²κV", bound, **x))


@provenance("derived", "derived here (minimiser of a convex quadratic on [0, 1]); privacy × robustness × personalization")
def lambda_star_private_mean(*, sigma2: ArrayLike, m: ArrayLike, n: ArrayLike, f: ArrayLike = 0, kappa: ArrayLike = 0.0,
                             bias2: ArrayLike, spread2: ArrayLike = 0.0, noise2: ArrayLike,
                             clipped_sigma2: ArrayLike | None = None, cross_sigma2: ArrayLike | None = None,
                             gamma: ArrayLike = 1.0) -> ArrayLike:
    r"""The λ ∈ [0, 1] minimising :func:`private_mse_bound` (at κ = 0: the exact MSE), in closed form.

    .. math::
        \lambda^* = \min\Bigl\{1,\ \frac{s - s_\times/c}
        {s - 2s_\times/c + s_c/c + d\tau^2/c + \lVert\nu_C - \mu_i\rVert^2 + \frac\kappa\gamma V}\Bigr\}.

    **derived**: :math:`B_\gamma` is a convex quadratic in λ, :math:`(1+\gamma)(a - 2\lambda b + \lambda^2 e)
    + (1+1/\gamma)\lambda^2\kappa V`, with stationary point :math:`b/(e + \kappa V/\gamma)`; its minimiser on
    [0, 1] is that point, or 1 when it lies beyond (possible only with clipping, :math:`s_c < s_\times`, no noise
    and no heterogeneity). The numerator is ≥ 0 since :math:`s_\times \le s`. Where the bound does not depend on
    λ at all (c = 1, no clipping, noise, heterogeneity or κ) it returns 0. Without clipping,
    :math:`\lambda^* = q/(q + d\tau^2/c + \mathrm{bias2} + \frac\kappa\gamma[(1-\frac1c)(s + d\tau^2) + \Delta^2])`,
    q = (1 − 1/c)s: non-decreasing in ε (τ² falls), → :func:`fedtheory.theory.personalization.lambda_star_mean`
    as ε → ∞, → 0 as ε → 0.

    Parameters
    ----------
    as :func:`private_mse_bound`, without ``lam``

    Returns
    -------
    ndarray or float in [0, 1]
    """
    x = _inputs(None, sigma2, m, n, f, bias2, noise2, clipped_sigma2, cross_sigma2)
    x |= {"kappa": check_range("kappa", kappa, low=0.0), "spread2": check_range("spread2", spread2, low=0.0),
          "gamma": check_range("gamma", gamma, low=0.0, low_open=True)}

    def star(kappa, spread2, gamma, **k):
        _, b, e = _coefficients(**k)
        v = _spread_term(k["n"], k["f"], k["noise2"], k["clipped_sigma2"], k["m"], spread2)
        denom = e + kappa * v / gamma  # ≥ 0; 0 only with c = 1 and nothing but the shared samples, where b = 0 too
        return np.minimum(1.0, np.where(denom > 0, b / np.where(denom > 0, denom, 1.0), 0.0))

    return scalar_or_array(check_representable("λ* = b/(e + κV/γ)", star, **x))


@provenance("derived", "moments of a clipped (censored) normal; derived here")
def clipped_normal_moments(mu: ArrayLike, *, sigma: ArrayLike, clip: ArrayLike) -> tuple:
    r"""Mean, variance and covariance with x of :math:`\mathrm{clip}_C(x) = \max(-C, \min(C, x))` for
    x ~ N(μ, σ²) (one dimension: the ball of radius C is [−C, C]).

    With x = μ + σZ, :math:`a = (-C-\mu)/\sigma`, :math:`b = (C-\mu)/\sigma`, :math:`P = \Phi(b) - \Phi(a)` and the
    truncated moments :math:`\mathbb E[Z; a<Z<b] = \varphi(a) - \varphi(b)`,
    :math:`\mathbb E[Z^2; a<Z<b] = P + a\varphi(a) - b\varphi(b)`:

    .. math::
        \nu = C(\Phi(-b) - \Phi(a)) + \mu P + \sigma(\varphi(a) - \varphi(b)),

    .. math::
        \mathrm{Cov}(x, \mathrm{clip}) = \mathbb E[\sigma Z\,\mathrm{clip}]
        = \sigma\bigl[C\varphi(a) + C\varphi(b) + \mu(\varphi(a) - \varphi(b)) + \sigma(P + a\varphi(a) - b\varphi(b))\bigr],

    .. math::
        \mathrm{Var}(\mathrm{clip}) = (C+\nu)^2\Phi(a) + (C-\nu)^2\Phi(-b) + (\mu-\nu)^2 P
        + 2(\mu-\nu)\sigma(\varphi(a) - \varphi(b)) + \sigma^2(P + a\varphi(a) - b\varphi(b)).

    Centred forms, so that no difference of large numbers is taken; where P = 0 in float64 (the mean many σ
    beyond ±C) the middle piece is 0. **derived** (integrals of the normal density over the three pieces;
    checked by Monte Carlo in the tests).

    Parameters
    ----------
    mu : array_like
    sigma : array_like, > 0
    clip : array_like, > 0

    Returns
    -------
    (nu, var, cov) : ndarrays, the mean of clip(x), its variance, and Cov(x, clip(x))
    """
    from scipy.stats import norm

    x = {"mu": check_range("mu", mu), "sigma": check_range("sigma", sigma, low=0.0, low_open=True),
         "clip": check_range("clip", clip, low=0.0, low_open=True)}

    def moments(mu, sigma, clip):
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            a, b = (-clip - mu) / sigma, (clip - mu) / sigma
            lo, hi, pa, pb = norm.cdf(a), norm.sf(b), norm.pdf(a), norm.pdf(b)
            P = norm.cdf(b) - lo
            mid = P > 0
            z1 = pa - pb
            z2 = np.where(mid, P + np.where(pa > 0, a * pa, 0.0) - np.where(pb > 0, b * pb, 0.0), 0.0)
            nu = clip * (hi - lo) + np.where(mid, mu * P, 0.0) + sigma * z1
            cov = sigma * (clip * (pa + pb) + np.where(z1 != 0, mu * z1, 0.0) + sigma * z2)
            dm = mu - nu
            var = ((clip + nu) ** 2 * lo + (clip - nu) ** 2 * hi
                   + np.where(mid, dm**2 * P + 2 * dm * sigma * z1 + sigma**2 * z2, 0.0))
        # both are ≥ 0 exactly (clip is monotone); max(·, 0) only removes rounding below 0
        return np.stack(np.broadcast_arrays(nu, np.maximum(var, 0.0), np.maximum(cov, 0.0)))

    out = check_representable("the clipped-normal moments", moments, **x)
    return scalar_or_array(out[0]), scalar_or_array(out[1]), scalar_or_array(out[2])


@provenance("reconstructed", "arXiv 2409.20329, Section 4 (reconstructed λ*), its variance term extended by DP noise")
def lambda_star_classification_private(pdim: ArrayLike, m: ArrayLike, phi: ArrayLike, f: ArrayLike, n: ArrayLike,
                                       G2: ArrayLike, *, noise_var: ArrayLike, params: ArrayLike) -> ArrayLike:
    r"""The classification λ* of :func:`fedtheory.theory.personalization.lambda_star_classification` when the
    gradients clients send carry DP noise of variance ``noise_var`` per coordinate (z²C²/(qm)² for DP-SGD with
    noise multiplier z, clipping C, sampling rate q, m examples) on ``params`` coordinates:

    .. math::
        \lambda^* = \Pi_{[0,1]}\!\left(\frac{\sqrt{\mathrm{Pdim}/m} - \Phi}
        {\frac fn\,(G^2 + P\,\tau_g^2) + P\,\tau_g^2/(n-f)}\right).

    The noise enters the robustness cost twice, as in the mean-estimation bound
    (:func:`private_mse_bound`): in the spread of the honest sent gradients that κ ∝ f/n multiplies
    (G² + Pτ_g²), and as the noise left in their average (Pτ_g²/c). **reconstructed**: the formula it extends
    is itself a reconstruction "up to constants", so only its trends (λ* falls as ε shrinks or f grows) are
    claims; at τ_g = 0 it is that formula.

    Parameters
    ----------
    pdim, m, phi, f, n, G2 : as :func:`fedtheory.theory.personalization.lambda_star_classification`
    noise_var : array_like, ≥ 0 (τ_g², per coordinate)
    params : array_like, integer ≥ 1 (P, the coordinates of a sent gradient)

    Returns
    -------
    ndarray or float in [0, 1]
    """
    p = check_range("pdim", pdim, low=0.0, low_open=True)
    m_arr = check_range("m", m, low=1, integer=True)
    phi_ = check_range("phi", phi, low=0.0)
    n_arr, f_arr = check_n_f(n, f)
    g2 = check_range("G2", G2, low=0.0)
    t2 = check_range("noise_var", noise_var, low=0.0)
    P = check_range("params", params, low=1, integer=True)

    def star(pdim, m, phi, f, n, G2, noise_var, params):
        gain = np.sqrt(pdim / m) - phi
        cost = (f / n) * (G2 + params * noise_var) + params * noise_var / (n - f)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # huge ratios are projected to 1
            ratio = np.where(cost > 0, gain / np.where(cost > 0, cost, 1.0), np.where(gain > 0, 1.0, 0.0))
        return np.clip(ratio, 0.0, 1.0)

    return scalar_or_array(check_representable("λ* = Π(gain/cost)", star, pdim=p, m=m_arr, phi=phi_, f=f_arr, n=n_arr,
                                               G2=g2, noise_var=t2, params=P))
