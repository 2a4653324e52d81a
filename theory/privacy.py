r"""Privacy accounting of DP-SGD: a thin layer over opacus' accountants, plus a closed-form oracle.

``epsilon`` and ``noise_multiplier`` account the *Poisson-subsampled* Gaussian mechanism (each
example enters a step's batch independently with probability q, the sampling rate), composed over
``steps``, with opacus' RDP accountant (Mironov 2017; Mironov, Talwar & Zhang 2019; conversion of
Balle et al. 2020) or PRV accountant (Gopi, Lee & Wutschitz 2021). A simulator that uses them must
sample its batches the same way. opacus (and with it torch) is imported only when these are
called, so ``theory`` stays importable without torch; only the accountants are used, never
opacus' PrivacyEngine.

``analytic_gaussian_epsilon`` is the exact ε of a single Gaussian mechanism (Balle & Wang 2018,
Theorem 8), the oracle against which the accountants are tested (q = 1, one step): PRV is tight
there, RDP is an upper bound.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.stats import norm

from ._checks import _FLOAT_MAX, check_choice, check_range, provenance, scalar_or_array

__all__ = ["ACCOUNTANTS", "epsilon", "noise_multiplier", "analytic_gaussian_delta", "analytic_gaussian_epsilon",
           "analytic_gaussian_sigma"]

ACCOUNTANTS = ("rdp", "prv")


#: Smallest positive noise multiplier opacus can account: below it the terms (i² − i)/(2z²) of its RDP
#: series overflow and the series loops forever (checked for sampling rates 5e-324 … 1 − 2⁻⁵³).
Z_MIN = 1e-153

#: The PRV accountant discretizes the privacy loss on a grid of about 2L/Δ points, Δ ∝ 1/√steps;
#: beyond this many points (gigabytes of FFT work) it is refused rather than run.
PRV_MAX_GRID = 2**24


def _accountant(name: str):
    check_choice("accountant", name, ACCOUNTANTS)
    try:
        from opacus.accountants import PRVAccountant, RDPAccountant
    except ImportError as exc:  # pragma: no cover - opacus is a dependency
        raise ValueError("privacy accounting needs opacus: pip install 'opacus==1.6.0'") from exc
    return RDPAccountant() if name == "rdp" else PRVAccountant()


def _epsilon_one(z: float, q: float, steps: int, delta: float, accountant: str, *, strict: bool = True) -> float:
    """opacus' ε for one setting; ``strict=False`` lets an overflowing ε through as inf (for the bisection)."""
    if z == 0:
        return math.inf
    if z < Z_MIN:  # opacus' RDP series never terminates there (its terms overflow to NaN)
        raise ValueError(f"noise_multiplier={z:g} is too small for opacus' accountants: noise_multiplier must be 0 or "
                         f"at least {Z_MIN:g} (below it ε > 1e305 and opacus' RDP series does not terminate)")
    acc = _accountant(accountant)
    acc.history = [(float(z), float(q), int(steps))]
    failures = (ArithmeticError, RuntimeError, MemoryError, ValueError)  # opacus' own numerics failing
    if accountant == "prv":
        try:
            with np.errstate(all="ignore"):
                size = _prv_grid_size(float(z), float(q), int(steps), float(delta))
        except failures as exc:
            raise ValueError(_not_accountable(accountant, z, q, steps, delta, f"{type(exc).__name__}: {exc}")) from exc
        if not size <= PRV_MAX_GRID:
            raise ValueError(f"the PRV accountant would discretize on about {size:.3g} points (more than PRV_MAX_GRID "
                             f"= {PRV_MAX_GRID}) at noise_multiplier={z:g}, sample_rate={q:g}, steps={steps:g}, "
                             f"delta={delta:g}: use accountant='rdp', fewer steps or more noise")
    try:
        with np.errstate(all="ignore"):
            eps = float(acc.get_epsilon(delta=float(delta)))
    except failures as exc:
        raise ValueError(_not_accountable(accountant, z, q, steps, delta, f"{type(exc).__name__}: {exc}")) from exc
    if math.isnan(eps) or (strict and math.isinf(eps)):
        raise ValueError(_not_accountable(accountant, z, q, steps, delta, f"the accountant returned ε = {eps}"))
    return eps


def _prv_grid_size(z: float, q: float, steps: int, delta: float) -> float:
    """Points of the grid opacus' PRV accountant would build (its own domain sizing, nothing allocated)."""
    from opacus.accountants.analysis.prv import PoissonSubsampledGaussianPRV, compute_safe_domain_size

    eps_error, delta_error = 0.01, delta / 1000  # opacus' PRVAccountant.get_epsilon defaults
    L = compute_safe_domain_size([PoissonSubsampledGaussianPRV(q, z)], [steps], eps_error=eps_error,
                                 delta_error=delta_error)
    return 2 * L * math.sqrt(steps * math.log(12 / delta_error) / 2) / eps_error


def _not_accountable(accountant, z, q, steps, delta, cause) -> str:
    at = f"noise_multiplier={z:g}, sample_rate={q:g}, steps={steps:g}, delta={delta:g}"
    if z > 1e150:
        return (f"noise_multiplier={z:g} is too large for opacus' {accountant} accountant, which squares it "
                f"(noise_multiplier must be at most about 1.3e154; ε has long reached its floor there) ({cause})")
    return (f"the {accountant} accountant cannot represent ε in float64 at {at} ({cause}): ε overflows or the "
            "accountant's numerics fail there; increase noise_multiplier or delta, or reduce steps or sample_rate")


@provenance("published", "opacus RDP/PRV accountants (Mironov 2017; Gopi et al. 2021)")
def epsilon(noise_multiplier: ArrayLike, sample_rate: ArrayLike, steps: ArrayLike, delta: ArrayLike,
            accountant: str = "rdp") -> ArrayLike:
    r"""ε of ``steps`` Poisson-subsampled Gaussian steps with noise std z·C and sampling rate q, at δ.

    **published** (the accountants' own papers; the computation is opacus'). Decreasing in z,
    increasing in q and steps. z = 0 (no noise) gives ε = ∞ (the one infinite result of the
    theory functions, by design). Where opacus cannot represent ε (it overflows float64, or its
    numerics fail: z outside [:data:`Z_MIN`, about 1.3e154], δ near the float64 limit) a
    ``ValueError`` names the inputs; the PRV accountant also refuses grids above :data:`PRV_MAX_GRID`
    points.
    """
    z = check_range("noise_multiplier", noise_multiplier, low=0.0)
    q = check_range("sample_rate", sample_rate, low=0.0, high=1.0, low_open=True)
    t = check_range("steps", steps, low=1, integer=True)
    d = check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    _accountant(accountant)  # validate the name before broadcasting
    out = np.vectorize(lambda a, b, c, e: _epsilon_one(a, b, c, e, accountant), otypes=[float])(z, q, t, d)
    return scalar_or_array(out)


@provenance("published", "opacus RDP/PRV accountants (Mironov 2017; Gopi et al. 2021), inverted by bisection")
def noise_multiplier(eps: ArrayLike, sample_rate: ArrayLike, steps: ArrayLike, delta: ArrayLike,
                     accountant: str = "rdp", rtol: float = 1e-6) -> ArrayLike:
    r"""The noise multiplier z with ε(z) = ``eps`` (inverse of :func:`epsilon`, by bisection on log z).

    ε is continuous and strictly decreasing in z, so the root is unique; ``rtol`` is its relative
    tolerance in z (opacus' own ``get_noise_multiplier`` stops at an ε tolerance of 0.01 instead).

    **published**, as :func:`epsilon` (the accountants' papers; the inversion is numerical and adds
    only the tolerance ``rtol``).
    """
    e = check_range("eps", eps, low=0.0, low_open=True)
    q = check_range("sample_rate", sample_rate, low=0.0, high=1.0, low_open=True)
    t = check_range("steps", steps, low=1, integer=True)
    d = check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    _accountant(accountant)
    rtol = float(check_range("rtol", rtol, low=8 * np.finfo(float).eps, scalar=True))  # brentq's floor, halved

    def one(target, qq, tt, dd):
        f = lambda logz: _epsilon_one(math.exp(logz), qq, tt, dd, accountant, strict=False) - target  # noqa: E731
        at = f"sample_rate={qq:g}, steps={tt:g}, delta={dd:g}"
        lo, hi = math.log(0.05), math.log(2.0)
        while f(hi) > 0:
            lo, hi = hi, hi + math.log(4.0)
            if hi > math.log(1e6):
                raise ValueError(f"no noise multiplier up to 1e6 reaches eps={target} at {at}")
        while f(lo) < 0:
            hi, lo = lo, lo - math.log(4.0)
            if lo < math.log(1e-4):
                raise ValueError(f"eps={target} is reached with almost no noise (z < 1e-4) at {at}")
        return math.exp(brentq(f, lo, hi, xtol=rtol / 2, rtol=rtol / 2))

    return scalar_or_array(np.vectorize(one, otypes=[float])(e, q, t, d))


@provenance("published", "Balle & Wang 2018, Theorem 8")
def analytic_gaussian_delta(eps: ArrayLike, sigma: ArrayLike) -> ArrayLike:
    r"""Exact δ(ε) of the Gaussian mechanism with L2 sensitivity 1 and noise std σ (Balle & Wang 2018, Thm 8):

    .. math:: \delta(\varepsilon) = \Phi\!\left(\tfrac{1}{2\sigma} - \varepsilon\sigma\right)
              - e^{\varepsilon}\,\Phi\!\left(-\tfrac{1}{2\sigma} - \varepsilon\sigma\right).

    **published**.
    """
    e = check_range("eps", eps, low=0.0)
    s = check_range("sigma", sigma, low=0.0, low_open=True)
    # e^ε Φ(−a) computed in log space: stable for large ε
    second = np.exp(e + norm.logcdf(-1 / (2 * s) - e * s))
    return scalar_or_array(norm.cdf(1 / (2 * s) - e * s) - second)


@provenance("published", "Balle & Wang 2018, Theorem 8")
def analytic_gaussian_epsilon(sigma: ArrayLike, delta: ArrayLike) -> ArrayLike:
    """Smallest ε with :func:`analytic_gaussian_delta` (ε, σ) ≤ δ (root of a decreasing function). **published**."""
    s = check_range("sigma", sigma, low=0.0, low_open=True)
    d = check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)

    def one(ss, dd):
        if analytic_gaussian_delta(0.0, ss) <= dd:
            return 0.0
        hi = 1.0
        while analytic_gaussian_delta(hi, ss) > dd:
            if hi > _FLOAT_MAX / 4:  # ε ≈ 1/(2σ²) does not fit in float64
                raise ValueError(f"sigma={ss:g} is too small: ε(σ, δ={dd:g}) > {hi:.3g} overflows float64 "
                                 f"(ε ≈ 1/(2σ²)); sigma must be at least about {math.sqrt(0.5 / _FLOAT_MAX):.2g}")
            hi *= 2
        return brentq(lambda x: analytic_gaussian_delta(x, ss) - dd, 0.0, hi, xtol=1e-12, rtol=1e-12)

    return scalar_or_array(np.vectorize(one, otypes=[float])(s, d))


@provenance("published", "Balle & Wang 2018, Theorem 8 (the analytic Gaussian mechanism's calibration)")
def analytic_gaussian_sigma(eps: ArrayLike, delta: ArrayLike) -> ArrayLike:
    r"""Smallest noise std σ (L2 sensitivity 1) with :func:`analytic_gaussian_delta` (ε, σ) ≤ δ: the Gaussian
    mechanism's exact calibration (Balle & Wang 2018, Theorem 8), found as the root in σ of the decreasing
    δ(ε, σ) − δ. **published**.

    Parameters
    ----------
    eps : array_like, > 0
    delta : array_like in (0, 1)

    Returns
    -------
    ndarray or float, σ ≥ 0, the std per unit of sensitivity
    """
    e = check_range("eps", eps, low=0.0, low_open=True)
    d = check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)

    def one(ee, dd):
        lo, hi = 1e-3, 1.0
        while analytic_gaussian_delta(ee, lo) <= dd:  # δ(ε, σ) falls from 1 (σ → 0) to 0 (σ → ∞)
            lo /= 2
        while analytic_gaussian_delta(ee, hi) > dd:
            hi *= 2
        return math.exp(brentq(lambda t: analytic_gaussian_delta(ee, math.exp(t)) - dd, math.log(lo), math.log(hi),
                               xtol=1e-13, rtol=1e-13))

    return scalar_or_array(np.vectorize(one, otypes=[float])(e, d))
