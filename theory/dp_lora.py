r"""DP noise on LoRA factors, gradient coupling, alternating updates and the smoothing filter (LA-LoRA).

Source: arXiv 2602.19926 (LA-LoRA, ICLR 2026). Only the opening of the paper (Section 3.2), figure
captions and garbled fragments of its appendix could be read; each function
says what is **published** (visible in those fragments), **derived** (here, with the derivation)
or **reconstructed**.

Set-up: :math:`W = W_0 + sBA`, :math:`B\in\mathbb R^{m\times r}`, :math:`A\in\mathbb R^{r\times n}`.
DP-SGD adds i.i.d. :math:`\mathcal N(0,\sigma^2)` entries to each factor's (clipped, averaged)
gradient; the noise then enters the product (paper, Section 3.2, "noise is added independently to
A and B … we ignore the LoRA scaling factor s"):

.. math:: (B+N_B)(A+N_A) = BA + N_BA + BN_A + N_BN_A .
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ._checks import (
    as_float_array,
    check_bool,
    check_choice,
    check_range,
    check_representable,
    provenance,
    scalar_or_array,
    stable_product,
    where_finite,
)

__all__ = [
    "noise_term_norms2",
    "full_model_noise_norm2",
    "crossover_sigma",
    "effective_sigma",
    "accumulated_noise_norms2",
    "noisy_updates",
    "lora_gradients",
    "projected_gradients",
    "simultaneous_second_order_term",
    "SMOOTHING_KERNEL",
    "smoothing_response",
    "smoothing_variance_factor",
    "smoothing_autocorrelation",
    "sensing_rate",
    "sensing_contraction",
    "sensing_step_limit",
]


# --------------------------------------------------------------------------- noise amplification
@provenance("derived", "derived here; the terms of arXiv 2602.19926 (LA-LoRA), Eq. 4 and Fig. 3")
def noise_term_norms2(sigma: ArrayLike, m: ArrayLike, n: ArrayLike, r: ArrayLike,
                      norm_A2: ArrayLike, norm_B2: ArrayLike) -> dict[str, np.ndarray | float]:
    r"""Expected squared Frobenius norms of the three noise terms of the product.

    .. math:: \mathbb E\lVert N_BA\rVert_F^2 = \sigma^2 m\lVert A\rVert_F^2,\quad
              \mathbb E\lVert BN_A\rVert_F^2 = \sigma^2 n\lVert B\rVert_F^2,\quad
              \mathbb E\lVert N_BN_A\rVert_F^2 = \sigma^4 mnr,

    for N_B, N_A with i.i.d. N(0, σ²) entries, independent, and fixed A, B. The three terms are
    uncorrelated (each pair has a factor with zero mean), so their sum is the expected squared
    norm of the whole perturbation. **derived** (E‖NM‖² = σ²·rows(N)·‖M‖² for N ∈ ℝ^{p×q} with
    i.i.d. entries; the paper's Eq. 4 lists the terms and Fig. 3 plots their norms against σ).
    Keys: ``"NB_A"``, ``"B_NA"``, ``"NB_NA"``, ``"total"``.
    """
    inputs = {"sigma": check_range("sigma", sigma, low=0.0), **_factor_dims(m, n, r, norm_A2, norm_B2)}
    # one noisy update of each factor: the (1, 1) case of the accumulated noise
    return _noise_norms(inputs, "sigma", steps=(np.float64(1.0), np.float64(1.0)))


def _factor_dims(m, n, r, norm_A2, norm_B2):
    return {"m": check_range("m", m, low=1, integer=True), "n": check_range("n", n, low=1, integer=True),
            "r": check_range("r", r, low=1, integer=True), "norm_A2": check_range("norm_A2", norm_A2, low=0.0),
            "norm_B2": check_range("norm_B2", norm_B2, low=0.0)}


def _noise_norms(inputs: dict, sigma: str, steps=None) -> dict[str, np.ndarray | float]:
    """The three noise terms and their total from validated ``inputs`` (noise std under the key ``sigma``).

    Where a power overflows but the term does not, the term is computed as a :func:`stable_product`;
    a term (or the total) beyond float64 raises, naming the input responsible.
    """
    def terms(**kw):
        es, mm, nn, rr, a2, b2 = (kw[k] for k in (sigma, "m", "n", "r", "norm_A2", "norm_B2"))
        tb, ta = (kw["steps_B"], kw["steps_A"]) if steps is None else steps
        t1 = where_finite(tb * es**2 * mm * a2, lambda: stable_product(1.0, (tb, 1), (es, 2), (mm, 1), (a2, 1)))
        t2 = where_finite(ta * es**2 * nn * b2, lambda: stable_product(1.0, (ta, 1), (es, 2), (nn, 1), (b2, 1)))
        t3 = where_finite(tb * ta * es**4 * mm * nn * rr,
                          lambda: stable_product(1.0, (tb, 1), (ta, 1), (es, 4), (mm, 1), (nn, 1), (rr, 1)))
        return {"NB_A": t1, "B_NA": t2, "NB_NA": t3, "total": t1 + t2 + t3}

    s, tb, ta = ("σ", "", "") if steps is not None else ("ησ", "T_B·", "T_A·")
    what = {"NB_A": f"E‖N_B A‖² = {tb}({s})²m‖A‖²", "B_NA": f"E‖B N_A‖² = {ta}({s})²n‖B‖²",
            "NB_NA": f"E‖N_B N_A‖² = {tb}{ta}({s})⁴mnr", "total": "the total noise norm²"}
    return {k: scalar_or_array(check_representable(w, lambda k=k, **kw: terms(**kw)[k], **inputs))
            for k, w in what.items()}


@provenance("derived", "derived here for arXiv 2602.19926 (LA-LoRA), Section 3.2")
def full_model_noise_norm2(sigma: ArrayLike, m: ArrayLike, n: ArrayLike) -> ArrayLike:
    r""":math:`\mathbb E\lVert N_W\rVert_F^2 = \sigma^2 mn`: the same DP noise added to a full m×n update. **derived**."""
    s = check_range("sigma", sigma, low=0.0)
    mm = check_range("m", m, low=1, integer=True)
    nn = check_range("n", n, low=1, integer=True)

    def norm2(sigma, m, n):
        return where_finite(sigma**2 * m * n, lambda: stable_product(1.0, (sigma, 2), (m, 1), (n, 1)))

    return scalar_or_array(check_representable("σ²mn", norm2, sigma=s, m=mm, n=nn))


@provenance("derived", "derived here; the crossover arXiv 2602.19926 (LA-LoRA) states in words")
def crossover_sigma(r: ArrayLike) -> ArrayLike:
    r"""σ* = 1/√r: above it the quadratic term N_BN_A alone exceeds full-model noise in expectation.

    E‖N_BN_A‖² / E‖N_W‖² = σ⁴mnr / (σ²mn) = σ²r. **derived** (the paper states that the LoRA
    perturbation "eventually exceeds" the full-model one; the crossover is our closed form).
    """
    rr = check_range("r", r, low=1, integer=True)
    return scalar_or_array(1.0 / np.sqrt(rr))


@provenance(
    "derived",
    "derived here from DP-SGD (Abadi et al. 2016) and the authors' code of arXiv 2602.19926 (LA-LoRA)",
)
def effective_sigma(noise_multiplier: ArrayLike, clip: ArrayLike, batch_size: ArrayLike) -> ArrayLike:
    r"""Per-entry noise std of a DP-SGD averaged gradient: σ_eff = z·C/b.

    Sum of b clipped per-example gradients plus N(0, z²C²), divided by b. Multiply by the step size
    for the noise on the parameters. **derived** (DP-SGD, Abadi et al. 2016; the authors' code uses
    ``dp_sigma * C / batch_size``).
    """
    z = check_range("noise_multiplier", noise_multiplier, low=0.0)
    c = check_range("clip", clip, low=0.0, low_open=True)
    b = check_range("batch_size", batch_size, low=1, integer=True)

    def std(noise_multiplier, clip, batch_size):
        return where_finite(noise_multiplier * clip / batch_size,
                            lambda: stable_product(1.0, (noise_multiplier, 1), (clip, 1), (batch_size, -1)))

    return scalar_or_array(check_representable("z·C/b", std, noise_multiplier=z, clip=c, batch_size=b))


@provenance("derived", "derived here; our caveat to arXiv 2602.19926 (LA-LoRA), Section 4")
def accumulated_noise_norms2(eta_sigma: ArrayLike, m: ArrayLike, n: ArrayLike, r: ArrayLike, norm_A2: ArrayLike,
                             norm_B2: ArrayLike, steps_B: ArrayLike, steps_A: ArrayLike) -> dict[str, np.ndarray | float]:
    r"""Noise in the product after ``steps_B`` noisy B-updates and ``steps_A`` noisy A-updates.

    With parameter noise of std ησ per entry per noisy update, and A, B held at their values (small
    ηT: the drift of the factors is a higher-order effect), the accumulated noises are
    :math:`\tilde N_B = \sum_j\eta N_B^{(j)}` and :math:`\tilde N_A = \sum_k\eta N_A^{(k)}`, and

    .. math:: (B+\tilde N_B)(A+\tilde N_A) - BA = \tilde N_BA + B\tilde N_A + \tilde N_B\tilde N_A,

    with :math:`\mathbb E\lVert\tilde N_B\tilde N_A\rVert_F^2 = T_BT_A(\eta\sigma)^4 mnr`. Methods differ
    only in (T_B, T_A) over T steps: simultaneous DP-LoRA (T, T); LA-LoRA, alternating per step
    (⌈T/2⌉, ⌊T/2⌋); FFA-LoRA, A frozen (T, 0): no quadratic term at all. A *single* alternating step
    is (1, 0) or (0, 1): linear in its noise, as the paper says (Section 4); a B→A pair (1, 1) still
    carries η²N_BN_A. At equal T, η and σ, alternation cuts the accumulated quadratic term to 1/4
    (in squared norm) and each linear term to 1/2. **derived** (our caveat to the per-step statement).
    Keys as :func:`noise_term_norms2`.
    """
    inputs = {"eta_sigma": check_range("eta_sigma", eta_sigma, low=0.0), **_factor_dims(m, n, r, norm_A2, norm_B2),
              "steps_B": check_range("steps_B", steps_B, low=0, integer=True),
              "steps_A": check_range("steps_A", steps_A, low=0, integer=True)}
    return _noise_norms(inputs, "eta_sigma")


@provenance(
    "published",
    "the update schedules of the methods: arXiv 2602.19926 (LA-LoRA), Section 4, and its authors' code; "
    "FFA-LoRA; RoLoRA",
)
def noisy_updates(method: str, steps: int) -> tuple[int, int]:
    """(T_B, T_A): how many of ``steps`` local steps add DP noise to B and to A under ``method``.

    ``dp_lora`` both every step; ``ffa_lora`` B only (A frozen); ``la_lora`` (and ``la_lora_filter``,
    whose smoothing is post-processing) alternating per step, B first; ``rolora`` alternating per round (this round's factor: all steps on one factor, B in
    even rounds; give ``steps`` as the round's steps and read the pair for a B-round).

    **published**: the update schedules as the methods define them (LA-LoRA, arXiv 2602.19926,
    Section 4, alternating per step with B first as in the authors' code; FFA-LoRA freezes A;
    RoLoRA alternates per round).
    """
    t = int(check_range("steps", steps, low=0, integer=True, scalar=True))
    table = {"dp_lora": (t, t), "ffa_lora": (t, 0), "la_lora": ((t + 1) // 2, t // 2),
             "la_lora_filter": ((t + 1) // 2, t // 2), "rolora": (t, 0)}
    return table[check_choice("method", method, table)]


# --------------------------------------------------------------------------- gradient coupling
@provenance("published", "arXiv 2602.19926 (LA-LoRA), Eq. 3")
def lora_gradients(grad_W: ArrayLike, A: ArrayLike, B: ArrayLike, s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Chain rule through W = W₀ + sBA (paper Eq. 3, **published** in its public paper notes):

    .. math:: \nabla_A L = s\,B^\top\nabla_W L,\qquad \nabla_B L = s\,\nabla_W L\,A^\top .

    Each factor's gradient is the full gradient seen through the *other* factor: that is the
    coupling. Returns (∇_A, ∇_B).
    """
    inputs = _factors(grad_W, A, B, s)
    return _finite_pair(_grads, inputs, ("∇_A = s·Bᵀ∇_W L", "∇_B = s·∇_W L·Aᵀ"))


def _finite_pair(fn, inputs, whats):
    """``fn(**inputs)``, a pair of arrays, if finite; else the overflow error of the first non-finite one."""
    with np.errstate(over="ignore", invalid="ignore"):
        pair = fn(**inputs)
    if all(np.all(np.isfinite(x)) for x in pair):
        return pair
    for i, what in enumerate(whats):  # raises for the first output that overflows
        check_representable(what, lambda i=i, **kw: fn(**kw)[i], elementwise=False, **inputs)
    raise ValueError(f"{' and '.join(whats)} overflow float64 for these grad_W, A, B, s")  # pragma: no cover


def _factors(grad_W, A, B, s, *, nonzero_s=False):
    """The validated (grad_W, A, B, s) of the coupling functions."""
    G, A_, B_ = (as_float_array(k, v) for k, v in (("grad_W", grad_W), ("A", A), ("B", B)))
    _check_factor_shapes(G, A_, B_)
    s_ = float(check_range("s", s, scalar=True))  # a Python float, as the formulas have always used
    if nonzero_s and s_ == 0:
        raise ValueError("s must be nonzero: the projected gradients scale as 1/s")
    return {"grad_W": G, "A": A_, "B": B_, "s": s_}


def _square(x):
    """x², inf where a Python float's square overflows (Python raises there, numpy does not)."""
    try:
        return x**2
    except OverflowError:
        return math.inf


def _check_factor_shapes(G, A, B):
    for name, x in (("grad_W", G), ("A", A), ("B", B)):
        if x.ndim != 2:
            raise ValueError(f"shapes must be grad_W (m, n), B (m, r), A (r, n): {name} must be 2-d, "
                             f"got shape {x.shape}")
    if B.shape[1] != A.shape[0] or G.shape != (B.shape[0], A.shape[1]):
        raise ValueError(f"shapes must be grad_W (m, n), B (m, r), A (r, n); got {G.shape}, {B.shape}, {A.shape}")


def _grads(grad_W, A, B, s):
    """(∇_A, ∇_B) of validated inputs."""
    return s * B.T @ grad_W, s * grad_W @ A.T


_TINY = float(np.finfo(float).tiny)  # smallest normal float64


def _unit(x):
    """x = 2^e·x̂ with max|x̂| in [1/2, 1) (exact): (x̂, e)."""
    _, e = np.frexp(np.max(np.abs(x)))
    return np.ldexp(x, -e), int(e)


def _projected(grad_W, A, B, s):
    """(∇̃_A, ∇̃_B) of validated inputs; rescaled by powers of 2 (exact) where the direct form over/underflows."""
    G = grad_W
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        gA, gB = _grads(G, A, B, s)
        AAt, BtB, s2 = A @ A.T, B.T @ B, _square(s)
    try:
        # the direct form wherever s² is a normal float and nothing overflows (bit for bit as before)
        if all(np.all(np.isfinite(x)) for x in (gA, gB, AAt, BtB)) and np.isfinite(s2) and s2 >= _TINY:
            with np.errstate(over="ignore", invalid="ignore"):
                tB = np.linalg.solve(AAt, gB.T).T / s2
                tA = np.linalg.solve(BtB, gA) / s2
            if np.all(np.isfinite(tA)) and np.all(np.isfinite(tB)):
                return tA, tB
        # ∇̃_B = s⁻¹·2^(e_G−e_A)·Ĝ Âᵀ(ÂÂᵀ)⁻¹ and ∇̃_A = s⁻¹·2^(e_G−e_B)·(B̂ᵀB̂)⁻¹B̂ᵀĜ with unit-scale factors
        (Gh, eg), (Ah, ea), (Bh, eb) = _unit(G), _unit(A), _unit(B)
        xB = np.linalg.solve(Ah @ Ah.T, (Gh @ Ah.T).T).T
        xA = np.linalg.solve(Bh.T @ Bh, Bh.T @ Gh)
    except np.linalg.LinAlgError as exc:
        raise ValueError("A and B must have full rank r (AAᵀ and BᵀB invertible)") from exc
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ldexp(xA, eg - eb) / s, np.ldexp(xB, eg - ea) / s


@provenance("reconstructed", "arXiv 2602.19926 (LA-LoRA), Theorem 2 (reconstructed from its public paper notes)")
def projected_gradients(grad_W: ArrayLike, A: ArrayLike, B: ArrayLike, s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Alternating steps as projections of ∇_W L (paper Theorem 2, **reconstructed** from its public paper notes):

    .. math:: \tilde\nabla_B = s^{-2}\nabla_B L\,(AA^\top)^{-1} = s^{-1}\nabla_W L\,A^\top(AA^\top)^{-1},
              \qquad \tilde\nabla_A = s^{-2}(B^\top B)^{-1}\nabla_A L .

    s·∇̃_B·A = ∇_W L·Aᵀ(AAᵀ)⁻¹A is the projection of ∇_W L onto the row space of A: ∇̃_B solves
    :math:`\min_X\lVert s^{-1}\nabla_W L - XA\rVert_F` (least squares), and likewise for A. Needs full-rank
    factors (AAᵀ and BᵀB invertible). Returns (∇̃_A, ∇̃_B).
    """
    inputs = _factors(grad_W, A, B, s, nonzero_s=True)
    return _finite_pair(_projected, inputs, ("∇̃_A = s⁻¹(BᵀB)⁻¹Bᵀ∇_W L", "∇̃_B = s⁻¹∇_W L·Aᵀ(AAᵀ)⁻¹"))


@provenance("derived", "derived here; the η² term of arXiv 2602.19926 (LA-LoRA), Theorem 3")
def simultaneous_second_order_term(grad_W: ArrayLike, A: ArrayLike, B: ArrayLike, eta: float, s: float = 1.0,
                                   projected: bool = False) -> np.ndarray:
    r"""The η² term that a *simultaneous* step adds to the product (Theorem 3, **derived** form).

    (B − η g_B)(A − η g_A) = BA − η(g_B A + B g_A) + η² g_B g_A. With plain gradients
    :math:`g_Bg_A = s^2\nabla_WL\,A^\top B^\top\nabla_WL`; with the projected gradients of
    :func:`projected_gradients`, :math:`s^{-2}\nabla_WL\,A^\top(AA^\top)^{-1}(B^\top B)^{-1}B^\top\nabla_WL`
    (the paper notes' "η²(BᵀB)⁻¹Bᵀ∇_W L ∇_W L Aᵀ(AAᵀ)⁻¹" does not type-check for m ≠ n; this is
    the product it stands for). Alternating steps have no such term within a step. Returns η²·g_B·g_A
    (m × n).
    """
    e = float(check_range("eta", eta, low=0.0, scalar=True))
    projected = check_bool("projected", projected)
    inputs = _factors(grad_W, A, B, s, nonzero_s=projected)  # a rank-deficient factor raises in _projected

    def term(eta, **kw):
        gA, gB = _projected(**kw) if projected else _grads(**kw)
        # (η g_B)(η g_A) where η² or the product overflows but the term does not
        return where_finite(_square(eta) * gB @ gA, lambda: (eta * gB) @ (eta * gA))

    return check_representable("η²·g_B·g_A", term, elementwise=False, eta=e, **inputs)


# --------------------------------------------------------------------------- smoothing filter
SMOOTHING_KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
"""LA-LoRA's 5-tap Gaussian low-pass kernel G_s (binomial weights), applied to the noisy factor
gradients along n for A and along m for B (authors' README; **published** in the code repository)."""


@provenance("derived", "derived here for the 5-tap kernel of arXiv 2602.19926 (LA-LoRA; authors' README)")
def smoothing_response(omega: ArrayLike) -> ArrayLike:
    r"""Frequency response of the kernel, :math:`H(\omega) = \cos^4(\omega/2)` ∈ [0, 1], H(0) = 1.

    **derived**: [1,4,6,4,1]/16 is the 4-fold convolution of [1,1]/2, whose response is
    e^{−iω/2}cos(ω/2); centred, the phase cancels.
    """
    w = as_float_array("omega", omega)
    return scalar_or_array(np.cos(w / 2) ** 4)


@provenance("derived", "derived here for the 5-tap kernel of arXiv 2602.19926 (LA-LoRA; authors' README)")
def smoothing_variance_factor() -> float:
    r"""Per-entry variance of filtered white noise over the input's: Σ g_k² = 70/256 ≈ 0.273. **derived**."""
    return float((SMOOTHING_KERNEL**2).sum())


@provenance("derived", "derived here for the 5-tap kernel of arXiv 2602.19926 (LA-LoRA; authors' README)")
def smoothing_autocorrelation(lag: ArrayLike) -> ArrayLike:
    r"""Autocovariance of filtered unit white noise at integer ``lag``: Σ_k g_k g_{k+lag}.

    Equals (70, 56, 28, 8, 1)/256 for lags 0…4 and 0 beyond (away from the boundary). **derived**.
    """
    L = check_range("lag", lag, integer=True)
    g = SMOOTHING_KERNEL
    full = np.correlate(g, g, mode="full")  # lags −4 … 4
    near = np.abs(L) <= 4  # compared as floats: a lag beyond the int range must not wrap around
    idx = np.where(near, np.abs(L), 4).astype(int)
    out = np.where(near, full[idx + 4], 0.0)
    return scalar_or_array(out)


# --------------------------------------------------------------------------- matrix sensing rate
@provenance("published", "arXiv 2602.19926 (LA-LoRA), appendix, step-size condition (garbled extraction)")
def sensing_step_limit(delta_r: ArrayLike, n: ArrayLike) -> ArrayLike:
    r"""Largest step of the step-size condition 0 ≤ η ≤ 1/(1 + δ_r + 1/n), n clients/blocks (the paper's P)
    (appendix, **published**, garbled)."""
    d = check_range("delta_r", delta_r, low=0.0, high=1.0, high_open=True)
    nn = check_range("n", n, low=1, integer=True)
    return scalar_or_array(1.0 / (1.0 + d + 1.0 / nn))


@provenance("reconstructed", "arXiv 2602.19926 (LA-LoRA), appendix Eq. 42–43 (garbled extraction)")
def sensing_rate(eta: ArrayLike, delta_r: ArrayLike, n: ArrayLike, reading: str = "published") -> ArrayLike:
    r"""η_c of the matrix-sensing bound (appendix Eq. 42–43) for n clients/blocks (the paper's P), under two readings.

    ``"published"`` (as extracted): :math:`\eta_c = 2n(1-\delta_r)\left(\eta - \tfrac{\eta^2}{2}(1+\delta_r+\tfrac1n)\right)`.
    ``"normalized"``: the same without the factor n (a 1/n normalisation of the client sum that
    the garbled "PΣ" may hide), :math:`\eta_c = 2(1-\delta_r)(\eta - \ldots)`. At the best step
    η = 1/(1+δ+1/n) the published reading gives η_c = n(1−δ)/(1+δ+1/n), above 1 for n ≥ 2.
    **reconstructed** (the extraction is garbled: its "PΣ" over the clients may hide a 1/n
    normalisation, hence the two readings).
    """
    check_choice("reading", reading, ("published", "normalized"))
    e = check_range("eta", eta, low=0.0)
    d = check_range("delta_r", delta_r, low=0.0, high=1.0, high_open=True)
    nn = check_range("n", n, low=1, integer=True)
    return scalar_or_array(check_representable("η_c = 2n(1−δ_r)(η − η²(1+δ_r+1/n)/2)",
                                               lambda **kw: _eta_c(reading, **kw), eta=e, delta_r=d, n=nn))


def _eta_c(reading, eta, delta_r, n):
    """η_c of validated inputs; as a product 2(1−δ)·η·(1 − η(1+δ+1/n)/2)[·n] where η² overflows."""
    e, d = eta, delta_r
    core = 2 * (1 - d) * (e - e**2 * (1 + d + 1 / n) / 2)
    direct = core * (n if reading == "published" else 1.0)
    return where_finite(direct, lambda: stable_product(2.0, (1 - d, 1), (e, 1), (1 - e * ((1 + d + 1 / n) / 2), 1),
                                                       (n if reading == "published" else 1.0, 1)))


@provenance("reconstructed", "arXiv 2602.19926 (LA-LoRA), appendix Eq. 42 (garbled extraction)")
def sensing_contraction(eta: ArrayLike, delta_r: ArrayLike, n: ArrayLike, reading: str = "published") -> ArrayLike:
    r"""Per-step factor (1 − η_c)² of the sensing loss, Eq. 42: L_{k+1} ≤ (1−η_c)² L_k, for n clients/blocks
    (the paper's P).

    A factor ≥ 1 makes the bound vacuous (it allows no decrease); η_c > 1 makes it non-monotone in
    η, so a measured ratio above it is a violation, not a vacuous pass. **reconstructed**.
    """
    check_choice("reading", reading, ("published", "normalized"))
    inputs = {"eta": check_range("eta", eta, low=0.0), "delta_r": check_range("delta_r", delta_r, low=0.0, high=1.0,
                                                                               high_open=True),
              "n": check_range("n", n, low=1, integer=True)}

    def factor(**kw):
        return (1 - _eta_c(reading, **kw)) ** 2

    return scalar_or_array(check_representable("(1 − η_c)²", factor, **inputs))
