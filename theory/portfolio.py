r"""Mixing a global and a local predictor: the prompt portfolio of PromptFolio (arXiv 2409.19610).

A global prompt :math:`p_G` (averaged by the server) and a client's local prompt :math:`p_L` are
mixed as :math:`p_\theta = (1-\theta)p_G + \theta p_L` (θ = 0: PromptFL, θ = 1: CoOp; the authors'
code mixes the normalized text features the same way, ``(1 - frac)·global + frac·local``). For a
linear score the margin of a fresh example is Gaussian, :math:`y\langle p_\theta, x\rangle \sim
\mathcal N(m(\theta), s(\theta)^2)`, so the accuracy is :math:`\Phi(m/s)`: the *return*
:math:`m` is the task-relevant part and the *risk* :math:`s` the task-irrelevant part, and the best
mixture is the maximum-Sharpe ("tangency") portfolio of mean–variance theory.

Provenance. The paper's abstract states the analogy ("combining two independent assets will
maintain the income while reducing the risk … derived the optimal mixing coefficient"); its
theorems could not be read (only the abstract of arXiv 2409.19610 was available to us). Every formula here is
therefore **derived** from the Gaussian-margin model, and the paper's own θ* is
**reconstructed** as its special case of *independent* assets (ρ = 0). Our model does not make
the assets independent (the local prompt's noise is part of the global one's, ρ ≈ 1/√n for n clients, see
:mod:`fedtheory.theory.feature_learning`), so :func:`theta_star` takes ρ and validation compares both.

The same mathematics serves the Byzantine paper (arXiv 2409.20329): its λ* mixes a local and a
collaborative estimator to minimize a risk, which is :func:`minimum_risk_weight`; the tangency
θ* reduces to it when both predictors have the same return.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from ._checks import (
    as_float_array,
    check_bool,
    check_range,
    check_representable,
    provenance,
    scalar_or_array,
    where_finite,
)

__all__ = [
    "minimum_risk_weight",
    "portfolio_return",
    "portfolio_risk",
    "sharpe_ratio",
    "gaussian_accuracy",
    "portfolio_accuracy",
    "theta_star",
    "max_sharpe_ratio",
]


@provenance(
    "derived",
    "derived here (minimum-variance two-asset portfolio); "
    "serves arXiv 2409.20329 (Byzantine-robust personalized FL), Section 3, and arXiv 2409.19610 (PromptFolio)",
)
def minimum_risk_weight(risk_a: ArrayLike, risk_b: ArrayLike, cov: ArrayLike = 0.0) -> ArrayLike:
    r"""Weight w on predictor b minimizing :math:`(1-w)^2 r_a + w^2 r_b + 2w(1-w)c`.

    .. math:: w^* = \frac{r_a - c}{r_a + r_b - 2c},

    the minimum-variance portfolio of two assets with variances (or mean-squared errors) r_a, r_b
    and covariance c, |c| ≤ √(r_a r_b). **derived** (stationary point of a convex quadratic).

    Serves both seed papers: the Byzantine λ* (arXiv 2409.20329, Section 3) is this weight with
    a = the local estimator (r_a = (1−1/c)σ²/m), b = the robust collaborative one and c = 0
    (:func:`fedtheory.theory.personalization.lambda_star_mean`); PromptFolio's θ* (:func:`theta_star`) equals
    it when global and local prompts have the same return.

    Raises ``ValueError`` if a risk is negative, |c| > √(r_a r_b), or the two predictors are the
    same (r_a + r_b − 2c = 0: every w is optimal).
    """
    ra = check_range("risk_a", risk_a, low=0.0)
    rb = check_range("risk_b", risk_b, low=0.0)
    c = as_float_array("cov", cov)
    with np.errstate(over="ignore"):
        c2, rab = c**2, ra * rb
        # where the squares overflow, compare |c| with √r_a·√r_b instead
        too_big = np.where(np.isfinite(c2) & np.isfinite(rab), c2 > rab * (1 + 1e-12),
                           np.abs(c) > np.sqrt(ra) * np.sqrt(rb) * np.sqrt(1 + 1e-12))
    if np.any(too_big):
        raise ValueError(f"cov must satisfy |cov| <= sqrt(risk_a*risk_b), got cov={cov!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        denom = ra + rb - 2 * c
        # halving every term is exact: where r_a + r_b − 2c overflows, w = (r_a/2 − c/2)/(r_a/2 + r_b/2 − c)
        half = 0.5 * ra + 0.5 * rb - c
    if np.any(np.where(np.isfinite(denom), denom, half) <= 0):
        raise ValueError("risk_a + risk_b - 2*cov must be > 0: the two predictors are identical")

    def weight(risk_a, risk_b, cov):
        denom = risk_a + risk_b - 2 * cov
        # a finite numerator over an overflowed denominator would read 0: use the halved form there
        return np.where(np.isfinite(denom), (risk_a - cov) / denom,
                        (0.5 * risk_a - 0.5 * cov) / (0.5 * risk_a + 0.5 * risk_b - cov))

    return scalar_or_array(check_representable("w* = (r_a − c)/(r_a + r_b − 2c)", weight, risk_a=ra, risk_b=rb, cov=c))


def _check_assets(s_global, s_local, rho):
    sg = check_range("s_global", s_global, low=0.0, low_open=True)
    sl = check_range("s_local", s_local, low=0.0, low_open=True)
    r = check_range("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)
    return sg, sl, r


@provenance("derived", "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio)")
def portfolio_return(theta: ArrayLike, m_global: ArrayLike, m_local: ArrayLike) -> ArrayLike:
    r"""Task-relevant mean of the mixed prompt, :math:`m(\theta) = (1-\theta)m_G + \theta m_L`. **derived**."""
    t = check_range("theta", theta, low=0.0, high=1.0)
    mg, ml = as_float_array("m_global", m_global), as_float_array("m_local", m_local)
    return scalar_or_array((1 - t) * mg + t * ml)


@provenance("derived", "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio)")
def portfolio_risk(theta: ArrayLike, s_global: ArrayLike, s_local: ArrayLike, rho: ArrayLike = 0.0) -> ArrayLike:
    r"""Task-irrelevant spread of the mixed prompt,

    .. math:: s(\theta)^2 = (1-\theta)^2 s_G^2 + \theta^2 s_L^2 + 2\theta(1-\theta)\rho\, s_G s_L,

    with ρ the correlation of the two prompts' noise margins (:math:`\rho s_G s_L = \sigma_p^2
    \langle P_\perp p_G, P_\perp p_L\rangle` in the Gaussian model). **derived**. Requires
    s_G, s_L > 0 and |ρ| < 1, so s(θ) > 0 for every θ.
    """
    t = check_range("theta", theta, low=0.0, high=1.0)
    sg, sl, r = _check_assets(s_global, s_local, rho)
    return scalar_or_array(_risk(t, sg, sl, r))


def _risk(t, sg, sl, r):
    """s(θ) of validated inputs; where the squares overflow, in units of a power of 2 ≥ the larger weighted risk."""
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.sqrt((1 - t) ** 2 * sg**2 + t**2 * sl**2 + 2 * t * (1 - t) * r * sg * sl)

    def rescaled():
        # s(θ) ≤ max((1−θ)s_G, θs_L)·√2, so the result is representable: no clamping involved
        _, e = np.frexp(np.maximum((1 - t) * sg, t * sl))
        a, b = np.ldexp((1 - t) * sg, -e), np.ldexp(t * sl, -e)
        return np.ldexp(np.sqrt(a**2 + b**2 + 2 * r * a * b), e)

    return where_finite(direct, rescaled)


@provenance("derived", "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio)")
def sharpe_ratio(m: ArrayLike, s: ArrayLike) -> ArrayLike:
    """Return over risk, m/s (s > 0): the paper's "ratio of task-relevant to task-irrelevant" terms.

    **derived** (the margin's mean over its standard deviation in the Gaussian-margin model).
    """
    mm = as_float_array("m", m)
    ss = check_range("s", s, low=0.0, low_open=True)
    return scalar_or_array(check_representable("m/s", lambda m, s: m / s, m=mm, s=ss))


@provenance("derived", "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio)")
def gaussian_accuracy(m: ArrayLike, s: ArrayLike) -> ArrayLike:
    r"""Accuracy of a linear score whose margin is :math:`\mathcal N(m, s^2)`: :math:`\Phi(m/s)`.

    Exact in the Gaussian data model x = y·µ + ξ with ξ ~ N(0, σ_p²P_⊥): then m = ⟨p, µ⟩ and
    s = σ_p‖P_⊥p‖ (**derived**; the abstract's "performance can be assessed by the ratio of
    task-relevant to task-irrelevant coefficients"). Ties (margin exactly 0) have probability 0.
    """
    mm = as_float_array("m", m)
    ss = check_range("s", s, low=0.0, low_open=True)
    with np.errstate(over="ignore"):  # m/s = ±inf (s → 0) is accuracy 1 or 0, exactly
        return scalar_or_array(norm.cdf(mm / ss))


@provenance("derived", "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio)")
def portfolio_accuracy(
    theta: ArrayLike,
    m_global: ArrayLike,
    m_local: ArrayLike,
    s_global: ArrayLike,
    s_local: ArrayLike,
    rho: ArrayLike = 0.0,
) -> ArrayLike:
    r""":math:`\Phi(m(\theta)/s(\theta))`, the accuracy of the mixture p_θ. **derived**."""
    m = portfolio_return(theta, m_global, m_local)
    s = portfolio_risk(theta, s_global, s_local, rho)
    return gaussian_accuracy(m, s)


@provenance(
    "derived",
    "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio); "
    "its ρ = 0 case is our reconstruction of the paper's θ*",
)
def theta_star(
    m_global: ArrayLike,
    m_local: ArrayLike,
    s_global: ArrayLike,
    s_local: ArrayLike,
    rho: ArrayLike = 0.0,
    *,
    constrained: bool = True,
) -> ArrayLike:
    r"""The mixing coefficient maximizing the Sharpe ratio m(θ)/s(θ), hence the accuracy Φ(m/s).

    With :math:`c = \rho s_G s_L` and :math:`D = m_L s_G^2 + m_G s_L^2 - (m_G+m_L)c`,

    .. math:: \theta_0 = \frac{m_L s_G^2 - m_G c}{D},

    the tangency portfolio. The derivative of m/s changes sign only at θ₀ and its numerator has
    slope −D, so θ₀ is the maximum when D > 0 and the minimum otherwise. ``constrained=True``
    (default) returns the best θ in [0, 1] (the mixing coefficient of the paper): θ₀ clipped to
    [0, 1] when D > 0, else the endpoint with the larger Sharpe ratio. ``constrained=False``
    returns θ₀ (it may lie outside [0, 1]: a "short" position when ρ > S_min/S_max) and raises
    if D ≤ 0. **derived**. With ρ = 0 ("two independent assets", the paper's abstract),

    .. math:: \theta^* = \frac{m_L/s_L^2}{m_G/s_G^2 + m_L/s_L^2}

    — our **reconstruction** of the paper's θ*; with m_G = m_L it is
    :func:`minimum_risk_weight` (s_G², s_L², c). θ₀ ≤ 0 exactly when S_L ≤ ρ·S_G (the global prompt
    dominates given the correlation), and symmetrically for θ₀ ≥ 1.
    """
    mg, ml = as_float_array("m_global", m_global), as_float_array("m_local", m_local)
    sg, sl, r = _check_assets(s_global, s_local, rho)
    constrained = check_bool("constrained", constrained)
    num, denom, local_better = _tangency(mg, ml, sg, sl, r)
    if not constrained:
        if np.any(denom <= 0):
            raise ValueError("no maximum-Sharpe mixture exists where D = m_L s_G² + m_G s_L² - (m_G+m_L)ρ s_G s_L <= 0 "
                             f"(m_global={m_global!r}, m_local={m_local!r}, s_global={s_global!r}, "
                             f"s_local={s_local!r}, rho={rho!r})")

        def theta0(m_global, m_local, s_global, s_local, rho):
            num, denom, _ = _tangency(m_global, m_local, s_global, s_local, rho)
            return num / denom

        return scalar_or_array(check_representable("θ₀ = (m_L s_G² − m_G ρ s_G s_L)/D", theta0, m_global=mg,
                                                   m_local=ml, s_global=sg, s_local=sl, rho=r))
    with np.errstate(divide="ignore", invalid="ignore"):
        interior = np.clip(num / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
    endpoint = np.where(local_better, 1.0, 0.0)
    return scalar_or_array(np.where(denom > 0, interior, endpoint))


def _tangency(mg, ml, sg, sl, r):
    """(numerator, D, S_L > S_G) of θ₀ for validated inputs.

    θ₀ is homogeneous of degree 0 in the returns and in the risks, so where a square or a product
    overflows, the returns and the risks are first divided by powers of 2 (exact) near their maxima.
    """
    def parts(mg, ml, sg, sl):
        c = r * sg * sl
        return ml * sg**2 - mg * c, ml * sg**2 + mg * sl**2 - (mg + ml) * c

    with np.errstate(over="ignore", invalid="ignore"):
        num, denom = parts(mg, ml, sg, sl)
        sharpe_l, sharpe_g = ml / sl, mg / sg
        local_better = sharpe_l > sharpe_g
    # overflow anywhere (or an underflow that zeroes D) is undone by the exact rescaling below
    bad = ~(np.isfinite(num) & np.isfinite(denom) & np.isfinite(sharpe_l) & np.isfinite(sharpe_g)) | (denom == 0)
    if np.any(bad):
        _, em = np.frexp(np.maximum(np.abs(mg), np.abs(ml)))
        _, es = np.frexp(np.maximum(sg, sl))
        mg2, ml2, sg2, sl2 = np.ldexp(mg, -em), np.ldexp(ml, -em), np.ldexp(sg, -es), np.ldexp(sl, -es)
        num2, denom2 = parts(mg2, ml2, sg2, sl2)
        num, denom = np.where(bad, num2, num), np.where(bad, denom2, denom)
        local_better = np.where(bad, ml2 * sg2 > mg2 * sl2, local_better)
    return num, denom, local_better


@provenance("derived", "derived here from the Gaussian-margin model of arXiv 2409.19610 (PromptFolio)")
def max_sharpe_ratio(sharpe_global: ArrayLike, sharpe_local: ArrayLike, rho: ArrayLike = 0.0) -> ArrayLike:
    r"""Sharpe ratio of the unconstrained tangency portfolio (a positive-return mixture):

    .. math:: S_*^2 = \frac{S_G^2 + S_L^2 - 2\rho S_G S_L}{1-\rho^2} \ge \max(S_G^2, S_L^2),

    with equality iff ρ = S_min/S_max (then one prompt alone is optimal). With ρ = 0,
    S*² = S_G² + S_L². **derived** (:math:`S_*^2 = m^\top\Sigma^{-1}m`). The best θ in [0, 1] reaches
    S* when θ₀ ∈ [0, 1], i.e. when ρ ≤ S_min/S_max.
    """
    a = check_range("sharpe_global", sharpe_global, low=0.0)
    b = check_range("sharpe_local", sharpe_local, low=0.0)
    r = check_range("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)

    def s_star(sharpe_global, sharpe_local, rho):
        a, b, r = sharpe_global, sharpe_local, rho
        direct = np.sqrt((a**2 + b**2 - 2 * r * a * b) / (1 - r**2))

        def rescaled():  # in units of a power of 2 near max(S_G, S_L) (exact), where the squares overflow
            _, e = np.frexp(np.maximum(a, b))
            a2, b2 = np.ldexp(a, -e), np.ldexp(b, -e)
            return np.ldexp(np.sqrt((a2**2 + b2**2 - 2 * r * a2 * b2) / (1 - r**2)), e)

        return where_finite(direct, rescaled)

    return scalar_or_array(check_representable("S* = √((S_G² + S_L² − 2ρS_GS_L)/(1 − ρ²))", s_star,
                                               sharpe_global=a, sharpe_local=b, rho=r))
