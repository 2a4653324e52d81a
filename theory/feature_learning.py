r"""Signal learning vs noise memorization of a prompt (PromptFolio, arXiv 2409.19610).

Data model (**reconstructed**, in the style of Cao et al. 2022 and Huang et al. 2024, which the
paper builds on; its own definitions could not be read): n clients (the paper's K) with m examples
each (the paper's n), :math:`x = y\mu_k + \xi`, y = ±1, :math:`\xi\sim\mathcal N(0,\sigma_p^2 P_\perp)`
orthogonal to the signal span, :math:`\mu_k = \lVert\mu\rVert(\sqrt{1-h}\,e_0 + \sqrt h\,e_k)` (h = heterogeneity,
cos(µ_k, µ_k') = 1 − h), SNR = ‖µ‖/(σ_p√d), a linear text encoder (logit ⟨p, x⟩), logistic loss,
full-batch gradient descent with step η from p⁽⁰⁾ = 0.

Gradient descent keeps the prompt in the span of the data, so it decomposes exactly as

.. math:: p^{(t)} = \sum_k \gamma_k^{(t)}\frac{\mu_k}{\lVert\mu_k\rVert^2}
          + \sum_{k,i}\rho_{k,i}^{(t)}\frac{\xi_{k,i}}{\lVert\xi_{k,i}\rVert^2},
   \qquad \gamma_k \mathrel{+}= -\tfrac{\eta}{m}\sum_i \ell'_i\lVert\mu_k\rVert^2,\quad
   \rho_{k,i} \mathrel{+}= -\tfrac{\eta}{m}\ell'_i y_i\lVert\xi_{k,i}\rVert^2 .

Stage 1 (margins ≪ 1, ℓ' ≈ −1/2) is linear; the rates and the Sharpe ratios below are our
**derivation** in that regime (with ‖ξ‖² ≈ σ_p²d). They make the portfolio's inputs a-priori
functions of (m, d, SNR, n, h). (The margin means m_G, m_L of :mod:`fedtheory.theory.portfolio` keep
their subscripts; a bare m is always the number of samples per client.)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_range, check_representable, provenance, scalar_or_array, stable_product, where_finite

__all__ = [
    "snr",
    "signal_rate",
    "noise_rate",
    "coefficient_ratio",
    "stage1_sharpe_local",
    "stage1_sharpe_global",
    "stage1_correlation",
    "stage1_theta_star",
    "stage1_margin",
]


@provenance(
    "reconstructed",
    "the data model of arXiv 2409.19610 (PromptFolio), reconstructed after Cao et al. 2022 and Huang et al. 2024",
)
def snr(mu_norm: ArrayLike, sigma_p: ArrayLike, d: ArrayLike) -> ArrayLike:
    r"""Signal-to-noise ratio :math:`\mathrm{SNR} = \lVert\mu\rVert/(\sigma_p\sqrt d)`. **reconstructed** (standard)."""
    mu = check_range("mu_norm", mu_norm, low=0.0)
    sp = check_range("sigma_p", sigma_p, low=0.0, low_open=True)
    dd = check_range("d", d, low=1, integer=True)

    def ratio(mu_norm, sigma_p, d):
        return where_finite(mu_norm / (sigma_p * np.sqrt(d)),
                            lambda: stable_product(1.0, (mu_norm, 1), (sigma_p, -1), (d, -0.5)))

    return scalar_or_array(check_representable("SNR = ‖µ‖/(σ_p√d)", ratio, mu_norm=mu, sigma_p=sp, d=dd))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def signal_rate(eta: ArrayLike, mu_norm: ArrayLike) -> ArrayLike:
    r"""Stage-1 growth of the signal coefficient per step, :math:`d\gamma/dt = \eta\lVert\mu\rVert^2/2`.

    **derived** (|ℓ'| = 1/2 at zero margin). Holds for a client's local prompt and for its copy of
    the global prompt during local steps.
    """
    e = check_range("eta", eta, low=0.0, low_open=True)
    mu = check_range("mu_norm", mu_norm, low=0.0)
    return scalar_or_array(check_representable("η‖µ‖²/2", _signal_rate, eta=e, mu_norm=mu))


def _signal_rate(eta, mu_norm):
    return where_finite(eta * mu_norm**2 / 2, lambda: stable_product(0.5, (eta, 1), (mu_norm, 2)))


def _noise_rate(eta, sigma_p, d, m):
    return where_finite(eta * sigma_p**2 * d / (2 * m),
                        lambda: stable_product(0.5, (eta, 1), (sigma_p, 2), (d, 1), (m, -1)))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def noise_rate(eta: ArrayLike, sigma_p: ArrayLike, d: ArrayLike, m: ArrayLike) -> ArrayLike:
    r"""Stage-1 growth of the mean noise coefficient :math:`\bar\rho = \frac1m\sum_i y_i\rho_i`,
    :math:`d\bar\rho/dt = \eta\sigma_p^2 d/(2m)`. **derived** (‖ξ‖² ≈ σ_p²d)."""
    e = check_range("eta", eta, low=0.0, low_open=True)
    sp = check_range("sigma_p", sigma_p, low=0.0, low_open=True)
    dd = check_range("d", d, low=1, integer=True)
    mm = check_range("m", m, low=1, integer=True)
    return scalar_or_array(check_representable("ησ_p²d/(2m)", _noise_rate, eta=e, sigma_p=sp, d=dd, m=mm))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def coefficient_ratio(m: ArrayLike, snr_value: ArrayLike) -> ArrayLike:
    r"""Signal-to-memorization ratio of local training, :math:`\gamma/\bar\rho = m\cdot\mathrm{SNR}^2`.

    **derived**: each step adds to γ and to the ρ_i with the same weights |ℓ'_i|, so the ratio of
    the increments is :math:`m\lVert\mu\rVert^2 / \overline{\lVert\xi\rVert^2}` at *every* step,
    not only in stage 1 (its spread comes only from the spread of ‖ξ_i‖² ~ σ_p²χ²_{d⊥}). FedAvg
    averages the n client copies: every coefficient of p_G is 1/n of a client's, so the ratio per
    coefficient is unchanged, but the signal adds up coherently over clients while the noise adds
    up incoherently — see :func:`stage1_sharpe_global`.
    """
    mm = check_range("m", m, low=1, integer=True)
    s = check_range("snr_value", snr_value, low=0.0)

    def ratio(m, snr_value):
        return where_finite(m * snr_value**2, lambda: stable_product(1.0, (m, 1), (snr_value, 2)))

    return scalar_or_array(check_representable("m·SNR²", ratio, m=mm, snr_value=s))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def stage1_margin(t: ArrayLike, eta: ArrayLike, mu_norm: ArrayLike, sigma_p: ArrayLike, d: ArrayLike, m: ArrayLike) -> ArrayLike:
    r"""Typical training margin of the local prompt after t stage-1 steps,
    :math:`y_i\langle p, x_i\rangle \approx \gamma + \rho_i = \tfrac{\eta t}{2}(\lVert\mu\rVert^2 + \sigma_p^2 d/m)`.

    **derived**. Stage 1 lasts while it is ≪ 1: at margin z, |ℓ'| = 1/(1+e^z) ≥ (1/2)(1 − z/2),
    so the growth rates stay within a factor 1 − z/2 of :func:`signal_rate` and :func:`noise_rate`.
    """
    inputs = {"t": check_range("t", t, low=0.0), "eta": check_range("eta", eta, low=0.0, low_open=True),
              "mu_norm": check_range("mu_norm", mu_norm, low=0.0),
              "sigma_p": check_range("sigma_p", sigma_p, low=0.0, low_open=True),
              "d": check_range("d", d, low=1, integer=True), "m": check_range("m", m, low=1, integer=True)}

    def margin(t, eta, mu_norm, sigma_p, d, m):
        return where_finite(t * (_signal_rate(eta, mu_norm) + _noise_rate(eta, sigma_p, d, m)),
                            lambda: stable_product(0.5, (t, 1), (eta, 1), (mu_norm, 2))
                            + stable_product(0.5, (t, 1), (eta, 1), (sigma_p, 2), (d, 1), (m, -1)))

    return scalar_or_array(check_representable("(ηt/2)(‖µ‖² + σ_p²d/m)", margin, **inputs))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def stage1_sharpe_local(m: ArrayLike, d: ArrayLike, snr_value: ArrayLike) -> ArrayLike:
    r"""Sharpe ratio (mean/spread of the margin) of a local prompt (CoOp) in stage 1:
    :math:`S_L = \sqrt{md}\,\mathrm{SNR}^2`.

    **derived**: :math:`p_L = \frac{\eta t}{2}(\mu_k + \frac1m\sum_i y_i\xi_i)`, so the margin's
    mean is (ηt/2)‖µ‖² and its spread (ηt/2)σ_p²√(d/m). Independent of t: the accuracy Φ(S_L) of local
    training is fixed by m·SNR² (noise-limited when √(md)·SNR² is O(1)).
    """
    mm = check_range("m", m, low=1, integer=True)
    dd = check_range("d", d, low=1, integer=True)
    s = check_range("snr_value", snr_value, low=0.0)
    return scalar_or_array(check_representable("√(md)·SNR²", _sharpe_local, m=mm, d=dd, snr_value=s))


def _sharpe_local(m, d, snr_value):
    return where_finite(np.sqrt(m * d) * snr_value**2, lambda: stable_product(1.0, (m, 0.5), (d, 0.5), (snr_value, 2)))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def stage1_sharpe_global(m: ArrayLike, d: ArrayLike, snr_value: ArrayLike, n: ArrayLike, h: ArrayLike) -> ArrayLike:
    r"""Sharpe ratio of the FedAvg global prompt (PromptFL) on a client, stage 1:

    .. math:: S_G = \sqrt n\,(1-h+h/n)\,S_L .

    **derived**: in stage 1 the gradients are linear in the data, so FedAvg is gradient descent on
    the union: :math:`p_G = \frac{\eta t}{2}\frac1n\sum_j(\mu_j + \frac1m\sum_i y_i\xi_{j,i})`. On
    client k, m_G = (ηt/2)‖µ‖²(1−h+h/n) (the other clients' signals are aligned by 1 − h) and
    s_G = s_L/√n (n·m independent noise vectors).
    """
    nn = check_range("n", n, low=1, integer=True)
    hh = check_range("h", h, low=0.0, high=1.0)
    inputs = {"m": check_range("m", m, low=1, integer=True), "d": check_range("d", d, low=1, integer=True),
              "snr_value": check_range("snr_value", snr_value, low=0.0), "n": nn, "h": hh}

    def sharpe(m, d, snr_value, n, h):
        return where_finite(np.sqrt(n) * (1 - h + h / n) * _sharpe_local(m, d, snr_value),
                            lambda: stable_product(1.0, (n, 0.5), (1 - h + h / n, 1), (m, 0.5), (d, 0.5),
                                                   (snr_value, 2)))

    return scalar_or_array(check_representable("√n(1 − h + h/n)·√(md)·SNR²", sharpe, **inputs))


@provenance("derived", "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio)")
def stage1_correlation(n: ArrayLike) -> ArrayLike:
    r"""Correlation of the global and a local prompt's noise margins in stage 1, ρ = 1/√n.

    **derived**: p_G's noise is (1/n)Σ_j N_j and p_L's is N_k, so ⟨·,·⟩ = ‖N_k‖²/n = s_G², and
    ρ = s_G/s_L = 1/√n. The assets are *not* independent (the abstract's premise) unless n → ∞.
    """
    nn = check_range("n", n, low=1, integer=True)
    return scalar_or_array(1 / np.sqrt(nn))


@provenance(
    "derived",
    "derived here, stage 1 of the reconstructed data model of arXiv 2409.19610 (PromptFolio), through theta_star",
)
def stage1_theta_star(n: ArrayLike, h: ArrayLike) -> ArrayLike:
    r"""A-priori optimal mixing coefficient in stage 1,

    .. math:: \theta^* = \frac{h}{n(1-h) + h}.

    **derived**: :func:`fedtheory.theory.portfolio.theta_star` with m_G/m_L = 1−h+h/n, s_L² = n s_G² and
    ρ = 1/√n (so c = s_G²): θ* = (m_L − m_G)/(m_G(n−1)). It falls as n grows, rises with h, is 0
    without heterogeneity and 1 at h = 1; it does not depend on m, d or SNR. Defined for n ≥ 2
    (with one client global and local coincide).
    """
    nn = check_range("n", n, low=2, integer=True)
    hh = check_range("h", h, low=0.0, high=1.0)
    return scalar_or_array(hh / (nn * (1 - hh) + hh))
