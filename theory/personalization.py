r"""Personalized federated learning under Byzantine clients: errors and the optimal λ.

Source: Allouah, El Mrini, Guerraoui, Gupta, Pinot, "Fine-Tuning Personalization in Federated
Learning to Mitigate Adversarial Clients", NeurIPS 2024 (arXiv 2409.20329), Section 3 (mean
estimation, Proposition 1 and the λ* that follows) and Section 4 (binary classification).
The theorem statements of the paper could not be read by this project; what follows is
**derived** here (mean estimation, with the derivation below) or **reconstructed** from the
paper's summary (classification), as each function says.

Mean-estimation model (all functions below)
-------------------------------------------
``n`` clients of which ``f`` are Byzantine; ``c = n - f`` honest clients. Honest client ``i``
holds ``m`` i.i.d. samples with mean :math:`\mu_i` and per-sample covariance of trace
``sigma2`` (:math:`d\sigma^2` for isotropic noise in dimension d); its local mean is
:math:`\bar x_i`. The personalized estimator is

.. math::
    \hat\theta_i(\lambda) = (1-\lambda)\,\bar x_i + \lambda\, F(\bar x_1, \dots, \bar x_n),

with :math:`F` an (f, κ)-robust aggregator. Write :math:`s = \sigma^2/m`,
:math:`q = (1 - 1/c)\,s`, ``bias2`` :math:`= \lVert\mu_i - \mu_C\rVert^2` and
``spread2`` :math:`= \Delta^2 = \frac1c\sum_{j\in C}\lVert\mu_j-\mu_C\rVert^2`. Expectations are
over the sampling noise, conditional on the :math:`\mu_j`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_n_f, check_range, check_representable, provenance, scalar_or_array, where_finite
from .portfolio import minimum_risk_weight

__all__ = [
    "personalized_mse_exact",
    "personalized_mse_bound",
    "lambda_star_mean",
    "mse_bound_at_lambda_star",
    "expected_heterogeneity",
    "lambda_star_classification",
]


def _checked(sigma2, m, n, f):
    """The validated (σ², m, n, f)."""
    s2 = check_range("sigma2", sigma2, low=0.0, low_open=True)
    m_arr = check_range("m", m, low=1, integer=True)
    n_arr, f_arr = check_n_f(n, f)
    return {"sigma2": s2, "m": m_arr, "n": n_arr, "f": f_arr}


def _sq(sigma2, m, n, f):
    """(s, q) = (σ²/m, (1 − 1/c)σ²/m), c = n − f, from validated inputs."""
    s = sigma2 / m
    c = n - f
    q = (1.0 - 1.0 / c) * s
    return s, q


def _m0(lam, sigma2, m, n, f, bias2):
    """M_0(λ) = s − 2λq + λ²(q + bias2), the exact MSE of the honest-mean estimator."""
    s, q = _sq(sigma2, m, n, f)
    return s - 2.0 * lam * q + lam**2 * (q + bias2)


def _lam(lam):
    return check_range("lam", lam, low=0.0, high=1.0)


@provenance("derived", "derived here; the κ = 0 case of arXiv 2409.20329 (Byzantine-robust personalized FL), Prop. 1")
def personalized_mse_exact(
    lam: ArrayLike, *, sigma2: ArrayLike, m: ArrayLike, n: ArrayLike, f: ArrayLike = 0, bias2: ArrayLike
) -> ArrayLike:
    r"""Exact MSE of :math:`\hat\theta_i(\lambda)` when F is the mean of the honest clients.

    .. math::
        \mathbb E\lVert\hat\theta_i(\lambda)-\mu_i\rVert^2
        = s\left[1 - 2\lambda(1-\tfrac1c) + \lambda^2(1-\tfrac1c)\right] + \lambda^2\,\mathrm{bias2}.

    Derivation (**derived**; matches the κ = 0 case of arXiv 2409.20329, Prop. 1): with
    :math:`e_j = \bar x_j - \mu_j` i.i.d., zero-mean, :math:`\mathbb E\lVert e_j\rVert^2 = s`,
    :math:`\hat\theta_i - \mu_i = (1-\lambda)e_i + \lambda\bar e_C + \lambda(\mu_C - \mu_i)`; the
    noise has variance :math:`s[(1-\lambda+\lambda/c)^2 + (c-1)\lambda^2/c^2]`, which expands
    to the bracket. Exact for f = 0 (F = plain mean), or for any f with an oracle that
    averages the honest clients only. Averaging over honest clients replaces ``bias2`` by
    ``spread2``.
    """
    inputs = {"lam": _lam(lam), **_checked(sigma2, m, n, f), "bias2": check_range("bias2", bias2, low=0.0)}
    return scalar_or_array(check_representable("the MSE s − 2λq + λ²(q + bias2)", _m0, **inputs))


@provenance(
    "derived",
    "derived here (Young's inequality) for arXiv 2409.20329 (Byzantine-robust personalized FL), Section 3",
)
def personalized_mse_bound(
    lam: ArrayLike,
    *,
    sigma2: ArrayLike,
    m: ArrayLike,
    n: ArrayLike,
    f: ArrayLike,
    kappa: ArrayLike,
    bias2: ArrayLike,
    spread2: ArrayLike,
    gamma: ArrayLike | None = 1.0,
) -> ArrayLike:
    r"""Upper bound on :math:`\mathbb E\lVert\hat\theta_i(\lambda)-\mu_i\rVert^2` for any (f, κ)-robust F.

    .. math::
        B_\gamma(\lambda) = (1+\gamma)\,M_0(\lambda) + (1+\tfrac1\gamma)\,\lambda^2\kappa V,
        \qquad V = (1-\tfrac1c)s + \Delta^2,

    where :math:`M_0` is :func:`personalized_mse_exact` (with ``bias2``).

    Derivation (**derived**). Split :math:`\hat\theta_i - \mu_i = A + \lambda B` with
    :math:`A = (1-\lambda)\bar x_i + \lambda\bar x_C - \mu_i` and :math:`B = F - \bar x_C`.
    Young's inequality :math:`\lVert A+\lambda B\rVert^2 \le (1+\gamma)\lVert A\rVert^2 +
    (1+1/\gamma)\lambda^2\lVert B\rVert^2` holds for every γ > 0 and makes no assumption on the
    correlation of the aggregation error B with A (an adversary may correlate them). Then
    :math:`\mathbb E\lVert A\rVert^2 = M_0(\lambda)` exactly, and (f, κ)-robustness with
    S = C gives :math:`\lVert B\rVert^2 \le \kappa\frac1c\sum_{j\in C}\lVert\bar x_j-\bar x_C\rVert^2`,
    whose expectation is :math:`\kappa[(1-1/c)s + \Delta^2] = \kappa V`.

    ``gamma=1`` (default) gives :math:`2[M_0 + \lambda^2\kappa V]`, whose minimizer is the
    closed form of the paper (:func:`lambda_star_mean`). ``gamma=None`` takes the best γ for
    each λ, :math:`\gamma = \lambda\sqrt{\kappa V / M_0}`, which gives the tightest bound of
    this family, :math:`(\sqrt{M_0} + \lambda\sqrt{\kappa V})^2` (Minkowski), exact at κ = 0.
    The bound without the cross term, :math:`M_0 + \lambda^2\kappa V` (a first reading's form), is
    *not* a bound unless :math:`\mathbb E\langle A, B\rangle \le 0`; it is not offered.
    """
    inputs = {"lam": _lam(lam), **_checked(sigma2, m, n, f), "kappa": check_range("kappa", kappa, low=0.0),
              "bias2": check_range("bias2", bias2, low=0.0), "spread2": check_range("spread2", spread2, low=0.0)}

    def parts(lam, sigma2, m, n, f, kappa, bias2, spread2):
        _, q = _sq(sigma2, m, n, f)
        return _m0(lam, sigma2, m, n, f, bias2), kappa * (q + spread2)

    if gamma is None:
        def best(**kw):
            m0, kv = parts(**kw)
            return (np.sqrt(m0) + kw["lam"] * np.sqrt(kv)) ** 2

        return scalar_or_array(check_representable("the bound (√M_0 + λ√(κV))²", best, **inputs))

    def young(gamma, **kw):
        m0, kv = parts(**kw)
        return (1.0 + gamma) * m0 + (1.0 + 1.0 / gamma) * kw["lam"] ** 2 * kv

    inputs["gamma"] = check_range("gamma", gamma, low=0.0, low_open=True)
    return scalar_or_array(check_representable("the bound (1+γ)M_0 + (1+1/γ)λ²κV", young, **inputs))


@provenance(
    "derived",
    "derived here; at γ = 1 the λ* of arXiv 2409.20329 (Byzantine-robust personalized FL), Section 3",
)
def lambda_star_mean(
    *,
    sigma2: ArrayLike,
    m: ArrayLike,
    n: ArrayLike,
    f: ArrayLike,
    kappa: ArrayLike,
    bias2: ArrayLike,
    spread2: ArrayLike,
    gamma: ArrayLike = 1.0,
) -> ArrayLike:
    r"""The λ minimizing :func:`personalized_mse_bound` (for a fixed γ > 0), in closed form.

    .. math::
        \lambda^* = \frac{(1-\frac1c)\frac{\sigma^2}{m}}
        {(1+\frac{\kappa}{\gamma})(1-\frac1c)\frac{\sigma^2}{m} + \lVert\mu_i-\mu_C\rVert^2
         + \frac{\kappa}{\gamma}\Delta^2}.

    With γ = 1 this is the form of arXiv 2409.20329, Section 3 ("λ* … approaches 0 as
    ‖µ_i − µ_C‖² + κΔ² grows"), and of the authors' notebook `theoretic` once its quirks are
    removed (it ignores m and squares its heterogeneity term, so it agrees with this form only at
    its default parameters). **derived** (stationary point of a convex quadratic;
    checked with sympy in the tests). It always lies in [0, 1]. It is
    :func:`fedtheory.theory.portfolio.minimum_risk_weight` with risks q (local) and D − q (collaborative).

    Limits: λ* → 0 as ``bias2 + kappa*spread2`` → ∞ or σ²/m → 0 (local learning);
    λ* → 1/(1 + κ/γ) as heterogeneity → 0 or σ²/m → ∞; λ* = 1 only if κ = 0 and bias2 = 0.
    """
    _, q, denom, _ = _lambda_star_parts(sigma2, m, n, f, kappa, bias2, spread2, gamma)
    if np.all(np.isfinite(denom)):
        # the risk-minimizing mix of a local (risk q) and a collaborative predictor (risk D − q),
        # uncorrelated: the same two-asset mathematics as PromptFolio's θ* (fedtheory.theory.portfolio)
        return minimum_risk_weight(q, denom - q)
    # D overflows float64 (κ/γ or the heterogeneity near the float64 limit): there λ* = q/D in log space
    qb, db = np.broadcast_arrays(q, denom)
    fin = np.isfinite(db)
    with np.errstate(divide="ignore"):
        out = np.exp(np.log(qb) - _log_denom(sigma2, m, n, f, kappa, bias2, spread2, gamma))
    if np.any(fin):
        out[fin] = minimum_risk_weight(qb[fin], db[fin] - qb[fin])
    return scalar_or_array(out)


def _log_denom(sigma2, m, n, f, kappa, bias2, spread2, gamma):
    """log D, D = q + bias2 + (κ/γ)(q + Δ²), without overflow (validated inputs)."""
    _, q = _sq(*(np.asarray(v, dtype=float) for v in (sigma2, m, n, f)))
    k, b2, d2, g = (np.asarray(v, dtype=float) for v in (kappa, bias2, spread2, gamma))
    with np.errstate(divide="ignore"):  # log 0 = −inf is what logaddexp needs
        lq, lb, ld, lk = np.log(q), np.log(b2), np.log(d2), np.log(k)
    return np.logaddexp(np.logaddexp(lq, lb), lk - np.log(g) + np.logaddexp(lq, ld))


def _lambda_star_parts(sigma2, m, n, f, kappa, bias2, spread2, gamma):
    """(s, q, D, γ) with D = q + bias2 + (κ/γ)(q + Δ²), the denominator of λ*."""
    inputs = _checked(sigma2, m, n, f)
    s, q = _sq(**inputs)
    k = check_range("kappa", kappa, low=0.0)
    b2 = check_range("bias2", bias2, low=0.0)
    d2 = check_range("spread2", spread2, low=0.0)
    g = check_range("gamma", gamma, low=0.0, low_open=True)
    with np.errstate(over="ignore"):  # an overflowing D is handled by the callers (log space)
        denom = q + b2 + k / g * (q + d2)
    if np.any(denom <= 0):  # only when c = 1 and there is no heterogeneity
        raise ValueError("bias2 and spread2 must not both be 0 when n - f = 1: λ* is undefined there")
    return s, q, denom, g


@provenance(
    "derived",
    "derived here (minimum of the bound) for arXiv 2409.20329 (Byzantine-robust personalized FL), Section 3",
)
def mse_bound_at_lambda_star(
    *,
    sigma2: ArrayLike,
    m: ArrayLike,
    n: ArrayLike,
    f: ArrayLike,
    kappa: ArrayLike,
    bias2: ArrayLike,
    spread2: ArrayLike,
    gamma: ArrayLike = 1.0,
) -> ArrayLike:
    r"""The bound :math:`B_\gamma(\lambda^*) = (1+\gamma)\left(s - q^2/D\right)`, D the denominator of λ*.

    **derived** (minimum of the quadratic). It is below the γ-bound of local learning,
    :math:`B_\gamma(0) = (1+\gamma)s`, whenever c > 1.
    """
    _lambda_star_parts(sigma2, m, n, f, kappa, bias2, spread2, gamma)  # validates, and rejects D = 0
    inputs = {**_checked(sigma2, m, n, f),
              **{k: np.asarray(v, dtype=float) for k, v in (("kappa", kappa), ("bias2", bias2), ("spread2", spread2),
                                                            ("gamma", gamma))}}

    def bound(sigma2, m, n, f, kappa, bias2, spread2, gamma):
        s, q = _sq(sigma2, m, n, f)
        denom = q + bias2 + kappa / gamma * (q + spread2)
        direct = (1.0 + gamma) * (s - q**2 / denom)
        # q²/D = q·λ*, with λ* = q/D ∈ [0, 1] in log space, where q² or D overflows
        return where_finite(direct, lambda: (1.0 + gamma) * (s - q * np.exp(
            np.log(q) - _log_denom(sigma2, m, n, f, kappa, bias2, spread2, gamma))))

    return scalar_or_array(check_representable("the bound (1+γ)(s − q²/D)", bound, **inputs))


@provenance(
    "derived",
    "derived here for the Gaussian client means of arXiv 2409.20329 (Byzantine-robust personalized FL), Section 3",
)
def expected_heterogeneity(*, sigma_h2: ArrayLike, n: ArrayLike, f: ArrayLike) -> ArrayLike:
    r"""Expectation of ``bias2`` (and of ``spread2``) when :math:`\mu_j \sim N(\mu, \sigma_h^2 I)`.

    .. math:: \mathbb E\lVert\mu_i-\mu_C\rVert^2 = \mathbb E\,\Delta^2 = (1 - \tfrac1c)\,\sigma_h^2,

    with ``sigma_h2`` the trace of the covariance of the client means. **derived**.
    """
    s_h = check_range("sigma_h2", sigma_h2, low=0.0)
    n_arr, f_arr = check_n_f(n, f)
    return scalar_or_array((1.0 - 1.0 / (n_arr - f_arr)) * s_h)


@provenance(
    "reconstructed",
    "reconstructed from the summary of arXiv 2409.20329 (Byzantine-robust personalized FL), Section 4",
)
def lambda_star_classification(
    pdim: ArrayLike, m: ArrayLike, phi: ArrayLike, f: ArrayLike, n: ArrayLike, G2: ArrayLike
) -> ArrayLike:
    r"""Optimal collaboration level for binary classification (arXiv 2409.20329, Section 4).

    .. math::
        \lambda^* = \Pi_{[0,1]}\!\left(\frac{\sqrt{\mathrm{Pdim}(\mathcal H)/m} - \Phi(D_i, D_C)}
        {(f/n)\,G^2}\right),

    with λ* = 0 exactly when :math:`\Phi \ge \sqrt{\mathrm{Pdim}/m}` (quoted in the paper's
    summary). The projection onto [0, 1] is part of the formula. With f = 0 or G² = 0 the
    robustness cost vanishes and λ* is 1 when :math:`\Phi < \sqrt{\mathrm{Pdim}/m}`, else 0.

    **reconstructed**: the summary prints this formula garbled; it is our reading, "up to
    constants", of the minimizer of :math:`\lambda^2\kappa G^2 + \lambda\Phi +
    (1-\lambda)\sqrt{\mathrm{Pdim}/m}` with κ = Θ(f/n). That exact minimizer carries a factor 2,
    :math:`(\sqrt{\mathrm{Pdim}/m} - \Phi)/(2\kappa G^2)`; the published form (as summarized)
    has none, and it is kept without it here. Assumptions: ℓ smooth and strongly convex, gradient
    dissimilarity bounded by G², bounded loss, finite pseudo-dimension, large |C|.
    """
    p = check_range("pdim", pdim, low=0.0, low_open=True)
    m_arr = check_range("m", m, low=1, integer=True)
    phi_ = check_range("phi", phi, low=0.0)
    n_arr, f_arr = check_n_f(n, f)
    g2 = check_range("G2", G2, low=0.0)
    gain = np.sqrt(p / m_arr) - phi_
    cost = (f_arr / n_arr) * g2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # huge ratios are projected to 1
        ratio = np.where(cost > 0, gain / np.where(cost > 0, cost, 1.0), np.where(gain > 0, 1.0, 0.0))
    return scalar_or_array(np.clip(ratio, 0.0, 1.0))
