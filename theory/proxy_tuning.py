r"""Fine-tuning through a proxy sub-model: FedPFT's Theorems 1 and 2, its saliency and APoZ (arXiv 2404.11536).

**Theorem 1** (FedPFT §3.5, proof in Appendix A). f and its proxy f′ are convex with L₁- and
L₂-Lipschitz gradients; gradient descent runs on f′, :math:`x^{(i+1)} = x^{(i)} - \eta\nabla f'(x^{(i)})`,
η ≤ 1/L₁, and :math:`\delta = \nabla f' - \nabla f` (``grad_error``). If

.. math:: \lVert\delta\rVert_2^2 < \tfrac12\lVert\nabla f\rVert_2^2 \quad (9), \qquad
          \eta\sum_{i=1}^k\lVert\delta^{(i)}\rVert_2^2 \le \sum_{i=1}^k\langle\delta^{(i)}, x^{(i)} - x^*\rangle \quad (10)

then :math:`f(x^{(k)}) - f(x^*) \le \lVert x^{(0)} - x^*\rVert_2^2/(2\eta k)` (11). The proof passes through
the descent step (17) and the per-step inequality of (22)–(25); each is a function here, as printed and
as **derived** here, so that a verdict can say which step fails:

- (17) as printed, :math:`f(x^+) \le f(x) - \frac\eta2\lVert\nabla f\rVert^2 - \eta\nabla f^\top\delta + \frac\eta2\lVert\delta\rVert^2`,
  rests on :math:`\lVert\nabla f + \delta\rVert^2 \le \lVert\nabla f\rVert^2 + \lVert\delta\rVert^2`, which drops
  the cross term :math:`2\nabla f^\top\delta`. Keeping it, the descent lemma with Lη ≤ 1 gives
  :math:`f(x^+) \le f(x) - \frac\eta2\lVert\nabla f\rVert^2 + \frac\eta2\lVert\delta\rVert^2` (**derived**).
- (22)–(25): with the derived descent step and convexity, :math:`\nabla f = \nabla f' - \delta` and
  :math:`\eta\nabla f' = e - e^+` (e = x − x*, e⁺ = x⁺ − x*),

  .. math:: f(x^+) - f^* \le \frac{\lVert e\rVert^2 - \lVert e^+\rVert^2}{2\eta} - \langle\delta(x), e^+\rangle

  (**derived**; sympy-checked in the tests), where the paper prints
  :math:`\ldots - \langle\delta, e\rangle + \eta\lVert\delta\rVert^2` (it misses :math:`\eta\langle\nabla f,\delta\rangle`).
  Summed, the derived step gives (11) under :math:`\sum_{i=1}^k\langle\delta(x^{(i-1)}), x^{(i)} - x^*\rangle \ge 0`
  and a monotone f (which the derived (17) guarantees when :math:`\lVert\delta\rVert < \lVert\nabla f\rVert`).

Indices. As printed, (10) pairs :math:`\delta^{(i)} = \delta(x^{(i)})` with :math:`x^{(i)}`, i = 1 … k; the
functions take the trajectory and evaluate the condition exactly so.

**Theorem 2** (§3.5, Appendix B). A one-head linear transformer without nonlinearity or residual,
:math:`y = xAx^\top xBC` (x: S × d, A = W^Q W^{K\top}, B = W^V W^O, C = W₁W₂), and its proxy y′ with C′;
loss f(y) with an L₃-Lipschitz gradient in the squared form :math:`\lVert\nabla f(y) - \nabla f(y')\rVert^2 \le L_3\lVert y - y'\rVert^2` (30).
With :math:`\epsilon_1 = \lVert C - C'\rVert_2^2`, :math:`\epsilon_2 = \lVert y - y'\rVert_2^2`, the theorem prints
:math:`\lVert\partial_A\mathrm{loss}' - \partial_A\mathrm{loss}\rVert_2^2 \le K_1\epsilon_1 + K_2\epsilon_2` with (32)
:math:`K_1 = L_3\lVert x\rVert^6\lVert B\rVert^2\lVert C\rVert^2`, :math:`K_2 = \lVert x\rVert^6\lVert B\rVert^2\lVert\partial\mathrm{loss}'/\partial y'\rVert^2`;
its own step (31) pairs K₁ with ε₂ and K₂ with ε₁; and (29) uses :math:`\lVert a + b\rVert^2 \le \lVert a\rVert^2 + \lVert b\rVert^2`,
which needs a factor 2 (**derived**: :math:`2(K_1\epsilon_2 + K_2\epsilon_1)`). For B ("similarly", **reconstructed**):
:math:`\partial_B = x^\top x A^\top x^\top G C^\top`, so K₃, K₄ are K₁, K₂ with ‖A‖ for ‖B‖. ‖·‖₂ of a matrix is
read as the spectral norm (submultiplicative, as the proof's steps need).

**Saliency** (Eq. 8): :math:`\mathrm{Saliency}(i) = \sqrt{\sum_j w_{ij}^2 + u_{ij}^2}` over neuron i's output
weights :math:`w_i` and input weights :math:`u_i`. **APoZ** (Eq. 14): the fraction of a neuron's activations that
are exactly 0 over the downstream tokens (Hu et al. 2016).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_float_array, check_range, check_representable, check_scalar, provenance, scalar_or_array

__all__ = ["gradient_error_condition", "alignment_margin", "alignment_margin_derived", "proxy_rate_bound",
           "descent_bound", "descent_bound_derived", "step_bound", "step_bound_derived",
           "linear_transformer_grads", "gradient_gap_bounds", "saliency", "apoz", "apoz_nonpositive"]


def _vectors(**arrays) -> dict[str, np.ndarray]:
    """Finite float arrays with one common shape (..., d), d ≥ 1."""
    out = {k: as_float_array(k, v) for k, v in arrays.items()}
    first, shape = next(iter(out)), next(iter(out.values())).shape
    for k, v in out.items():
        if v.ndim < 1 or v.shape[-1] < 1:
            raise ValueError(f"{k} must have a last axis of length >= 1 (the dimension d), got shape {v.shape}")
        if v.shape != shape:
            raise ValueError(f"{k} must have the shape of {first} {shape}, got {v.shape}")
    return out


def _eta(eta: ArrayLike) -> np.ndarray:
    return check_range("eta", eta, low=0, low_open=True)


def _sq(v: np.ndarray) -> np.ndarray:
    return np.sum(v * v, axis=-1)


@provenance("published", "FedPFT (arXiv 2404.11536), Theorem 1, condition (9); proof Eq. 18 with grad f'")
def gradient_error_condition(grad_error: ArrayLike, grad: ArrayLike) -> ArrayLike:
    r"""Condition (9): :math:`\lVert\delta\rVert_2^2 < \tfrac12\lVert g\rVert_2^2`, vectors along the last axis.

    ``grad`` = ∇f gives the theorem as stated; ``grad`` = ∇f′ the proof's (18). **published**.

    Parameters
    ----------
    grad_error, grad : array_like, shape (..., d)

    Returns
    -------
    bool or ndarray of bool, shape (...)
    """
    v = _vectors(grad_error=grad_error, grad=grad)
    val = check_representable("||grad_error||^2 - ||grad||^2 / 2", lambda grad_error, grad: _sq(grad_error) - 0.5 * _sq(grad),
                              elementwise=False, **v)
    return val < 0 if val.ndim else bool(val < 0)


def _trajectory(grad_error, x, x_star):
    v = _vectors(grad_error=grad_error, x=x)
    if v["x"].ndim < 2:
        raise ValueError(f"x must be a trajectory of shape (..., k, d) with k >= 1, got shape {v['x'].shape}")
    xs = as_float_array("x_star", x_star)
    if xs.shape != v["x"].shape[:-2] + v["x"].shape[-1:]:
        raise ValueError(f"x_star must have shape {v['x'].shape[:-2] + v['x'].shape[-1:]} (x without its step axis), "
                         f"got {xs.shape}")
    return v["grad_error"], v["x"], xs[..., None, :]


@provenance("published", "FedPFT (arXiv 2404.11536), Theorem 1, condition (10) = proof Eq. 25")
def alignment_margin(grad_error: ArrayLike, x: ArrayLike, x_star: ArrayLike, eta: ArrayLike) -> np.ndarray:
    r"""Condition (10) for every prefix k: :math:`\sum_{i=1}^k\langle\delta^{(i)}, x^{(i)} - x^*\rangle - \eta\sum_{i=1}^k\lVert\delta^{(i)}\rVert^2`
    (≥ 0 where (10) holds), with :math:`\delta^{(i)} = \delta(x^{(i)})` paired with :math:`x^{(i)}` as printed. **published**.

    Parameters
    ----------
    grad_error : array_like (..., k, d), δ at x⁽¹⁾ … x⁽ᵏ⁾
    x : array_like (..., k, d), the iterates x⁽¹⁾ … x⁽ᵏ⁾
    x_star : array_like (..., d), the minimiser of f
    eta : array_like > 0, broadcastable with (...)

    Returns
    -------
    ndarray (..., k): the margin after each step.
    """
    d, xs, star = _trajectory(grad_error, x, x_star)
    eta = _eta(eta)
    return check_representable("sum <grad_error, x - x*> - eta sum ||grad_error||^2",
                               lambda d, xs, star, eta: np.cumsum(np.sum(d * (xs - star), -1), -1)
                               - np.asarray(eta)[..., None] * np.cumsum(_sq(d), -1),
                               elementwise=False, d=d, xs=xs, star=star, eta=eta)


@provenance("derived", "derived here from the proof of FedPFT Theorem 1 (arXiv 2404.11536), Eq. 22-25")
def alignment_margin_derived(grad_error: ArrayLike, x: ArrayLike, x_star: ArrayLike) -> np.ndarray:
    r"""The condition the derived per-step inequality needs, for every prefix k:
    :math:`\sum_{i=1}^k\langle\delta(x^{(i-1)}), x^{(i)} - x^*\rangle` (≥ 0 where it holds). **derived** (module docstring).

    Parameters
    ----------
    grad_error : array_like (..., k, d), δ at x⁽⁰⁾ … x⁽ᵏ⁻¹⁾ (the error each step used)
    x : array_like (..., k, d), x⁽¹⁾ … x⁽ᵏ⁾ (where each step landed)
    x_star : array_like (..., d)

    Returns
    -------
    ndarray (..., k)
    """
    d, xs, star = _trajectory(grad_error, x, x_star)
    return check_representable("sum <grad_error(x_{i-1}), x_i - x*>",
                               lambda d, xs, star: np.cumsum(np.sum(d * (xs - star), -1), -1),
                               elementwise=False, d=d, xs=xs, star=star)


@provenance("published", "FedPFT (arXiv 2404.11536), Theorem 1, Eq. 11")
def proxy_rate_bound(distance0_sq: ArrayLike, eta: ArrayLike, k: ArrayLike) -> ArrayLike:
    r"""The bound (11) on :math:`f(x^{(k)}) - f(x^*)`: :math:`\lVert x^{(0)} - x^*\rVert^2/(2\eta k)`. **published**.

    Parameters
    ----------
    distance0_sq : array_like >= 0, :math:`\lVert x^{(0)} - x^*\rVert^2`
    eta : array_like > 0
    k : array_like of integers >= 1

    Returns
    -------
    float or ndarray, the broadcast shape.
    """
    r0 = check_range("distance0_sq", distance0_sq, low=0)
    eta = _eta(eta)
    k = check_range("k", k, low=1, integer=True)
    return scalar_or_array(check_representable("distance0_sq / (2 eta k)", lambda r0, eta, k: r0 / (2 * eta * k),
                                               r0=r0, eta=eta, k=k))


def _descent(f_x, grad, grad_error, eta, cross: bool):
    f_x = as_float_array("f_x", f_x)
    v = _vectors(grad=grad, grad_error=grad_error)
    eta = _eta(eta)

    def rhs(f_x, grad, grad_error, eta):
        out = f_x - 0.5 * eta * _sq(grad) + 0.5 * eta * _sq(grad_error)
        return out - eta * np.sum(grad * grad_error, -1) if cross else out

    return scalar_or_array(check_representable("the descent bound", rhs, elementwise=False, f_x=f_x, eta=eta, **v))


@provenance("published", "FedPFT (arXiv 2404.11536), proof of Theorem 1, Eq. 17")
def descent_bound(f_x: ArrayLike, grad: ArrayLike, grad_error: ArrayLike, eta: ArrayLike) -> ArrayLike:
    r"""(17) as printed: the bound on f(x⁺) after one step on f′,
    :math:`f(x) - \frac\eta2\lVert\nabla f\rVert^2 - \eta\nabla f^\top\delta + \frac\eta2\lVert\delta\rVert^2`. **published**.

    Parameters
    ----------
    f_x : array_like (...), f(x)
    grad, grad_error : array_like (..., d), ∇f(x) and δ(x)
    eta : array_like > 0, the step (the proof assumes η ≤ 1/L₁)

    Returns
    -------
    float or ndarray (...)
    """
    return _descent(f_x, grad, grad_error, eta, cross=True)


@provenance("derived", "derived here: the descent lemma with L1*eta <= 1 (corrects FedPFT Eq. 17)")
def descent_bound_derived(f_x: ArrayLike, grad: ArrayLike, grad_error: ArrayLike, eta: ArrayLike) -> ArrayLike:
    r"""The descent step with the cross term kept: :math:`f(x) - \frac\eta2\lVert\nabla f\rVert^2 + \frac\eta2\lVert\delta\rVert^2`,
    valid for η ≤ 1/L₁ (module docstring). **derived**. Parameters and returns as :func:`descent_bound`."""
    return _descent(f_x, grad, grad_error, eta, cross=False)


def _step(f_star, x, x_next, x_star, grad_error, eta, printed: bool):
    f_star = as_float_array("f_star", f_star)
    v = _vectors(x=x, x_next=x_next, x_star=x_star, grad_error=grad_error)
    eta = _eta(eta)

    def rhs(f_star, x, x_next, x_star, grad_error, eta):
        e, e_next = x - x_star, x_next - x_star
        out = f_star + (_sq(e) - _sq(e_next)) / (2 * eta)
        if printed:
            return out - np.sum(grad_error * e, -1) + eta * _sq(grad_error)
        return out - np.sum(grad_error * e_next, -1)

    return scalar_or_array(check_representable("the per-step bound", rhs, elementwise=False, f_star=f_star, eta=eta,
                                               **v))


@provenance("published", "FedPFT (arXiv 2404.11536), proof of Theorem 1, Eq. 22-23 (per step)")
def step_bound(f_star: ArrayLike, x: ArrayLike, x_next: ArrayLike, x_star: ArrayLike, grad_error: ArrayLike,
               eta: ArrayLike) -> ArrayLike:
    r"""The per-step inequality of (22)–(23) as printed, the bound on f(x⁺):
    :math:`f^* + \frac{\lVert x - x^*\rVert^2 - \lVert x^+ - x^*\rVert^2}{2\eta} - \langle\delta, x - x^*\rangle + \eta\lVert\delta\rVert^2`.
    **published**.

    Parameters
    ----------
    f_star : array_like (...), f(x*)
    x, x_next, x_star, grad_error : array_like (..., d): the point, the next iterate x − η∇f′(x), the minimiser, δ(x)
    eta : array_like > 0

    Returns
    -------
    float or ndarray (...)
    """
    return _step(f_star, x, x_next, x_star, grad_error, eta, printed=True)


@provenance("derived", "derived here from the proof of FedPFT Theorem 1 (arXiv 2404.11536), Eq. 22-23")
def step_bound_derived(f_star: ArrayLike, x: ArrayLike, x_next: ArrayLike, x_star: ArrayLike, grad_error: ArrayLike,
                       eta: ArrayLike) -> ArrayLike:
    r"""The per-step inequality derived with the cross term kept:
    :math:`f^* + \frac{\lVert x - x^*\rVert^2 - \lVert x^+ - x^*\rVert^2}{2\eta} - \langle\delta(x), x^+ - x^*\rangle`
    (η ≤ 1/L₁, f convex; module docstring). **derived**. Parameters and returns as :func:`step_bound`."""
    return _step(f_star, x, x_next, x_star, grad_error, eta, printed=False)


def _matrices(**arrays) -> dict[str, np.ndarray]:
    out = {}
    for k, v in arrays.items():
        a = as_float_array(k, v)
        if a.ndim < 2:
            raise ValueError(f"{k} must be a matrix (..., rows, cols), got shape {a.shape}")
        out[k] = a
    return out


def _check_transformer(x, A, B, C, target):
    m = _matrices(x=x, A=A, B=B, C=C, target=target)
    S, d = m["x"].shape[-2:]
    for k in ("A", "B", "C"):
        if m[k].shape[-2:] != (d, d):
            raise ValueError(f"{k} must be (..., d, d) with d = {d} (x is (..., S, d)), got {m[k].shape}")
    if m["target"].shape[-2:] != (S, d):
        raise ValueError(f"target must be (..., S, d) = (..., {S}, {d}), got {m['target'].shape}")
    return m


def _grads(x, A, B, C, target):
    xt = np.swapaxes(x, -1, -2)
    gram = xt @ x  # xᵀx
    y = x @ A @ gram @ B @ C
    G = y - target  # ∂loss/∂y of loss = ½‖y − target‖²_F
    dA = xt @ G @ np.swapaxes(C, -1, -2) @ np.swapaxes(B, -1, -2) @ gram  # Eq. 28: xᵀ G Cᵀ Bᵀ xᵀ x
    dB = gram @ np.swapaxes(A, -1, -2) @ xt @ G @ np.swapaxes(C, -1, -2)  # xᵀx Aᵀ xᵀ G Cᵀ
    return y, G, dA, dB


@provenance("published", "FedPFT (arXiv 2404.11536), proof of Theorem 2, Eq. 27-28 (dB reconstructed)")
def linear_transformer_grads(x: ArrayLike, A: ArrayLike, B: ArrayLike, C: ArrayLike, target: ArrayLike) -> dict:
    r"""Output and gradients of the one-head linear transformer :math:`y = xAx^\top xBC` (Eq. 27) under the squared
    loss :math:`\tfrac12\lVert y - t\rVert_F^2`: :math:`\partial_A = x^\top G C^\top B^\top x^\top x` (Eq. 28, **published**) and
    :math:`\partial_B = x^\top x A^\top x^\top G C^\top` (**reconstructed**: "similarly"), G = y − t.

    Parameters
    ----------
    x : array_like (..., S, d); A, B, C : array_like (..., d, d); target : array_like (..., S, d)

    Returns
    -------
    dict with ``y`` and ``grad_y`` (..., S, d), ``grad_A`` and ``grad_B`` (..., d, d).
    """
    m = _check_transformer(x, A, B, C, target)
    with np.errstate(over="ignore", invalid="ignore"):
        y, G, dA, dB = _grads(**m)
    for name, v in (("y", y), ("grad_A", dA), ("grad_B", dB)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} overflows float64: reduce the magnitudes of x, A, B, C or target")
    return {"y": y, "grad_y": G, "grad_A": dA, "grad_B": dB}


def _spec(M: np.ndarray) -> np.ndarray:
    """Spectral norm over the last two axes; entries that no SVD can take are refused, not propagated."""
    if not np.all(np.isfinite(M)):
        raise ValueError("the gradients or outputs overflow float64: reduce the magnitudes of x, A, B, C, C_proxy "
                         "or target")
    try:
        return np.linalg.norm(M, ord=2, axis=(-2, -1))
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"the spectral norms of x, A, B, C, C_proxy or target cannot be computed ({exc})") from None


@provenance("published", "FedPFT (arXiv 2404.11536), Theorem 2 (Eq. 12) and its proof (Eq. 29-34)")
def gradient_gap_bounds(x: ArrayLike, A: ArrayLike, B: ArrayLike, C: ArrayLike, C_proxy: ArrayLike,
                        target: ArrayLike, L3: float = 1.0) -> dict:
    r"""Theorem 2 on one instance: the measured squared gradient gaps and the three readings of the bound.

    With spectral norms, ε₁ = ‖C − C′‖², ε₂ = ‖y − y′‖², K₁ = L₃‖x‖⁶‖B‖²‖C‖², K₂ = ‖x‖⁶‖B‖²‖∂loss′/∂y′‖² (Eq. 32),
    K₃, K₄ the same with ‖A‖ (**reconstructed**), the bounds on :math:`\lVert\partial_A' - \partial_A\rVert^2` are

    - ``printed``: K₁ε₁ + K₂ε₂ (Eq. 12 and 33, **published**),
    - ``proof``: K₁ε₂ + K₂ε₁ (the pairing of step 31, **published**),
    - ``derived``: 2(K₁ε₂ + K₂ε₁) (step 29 with :math:`\lVert a+b\rVert^2 \le 2\lVert a\rVert^2 + 2\lVert b\rVert^2`, **derived**),

    and for B the same with K₃, K₄. The squared loss has L₃ = 1.

    Parameters
    ----------
    x : (..., S, d); A, B, C, C_proxy : (..., d, d); target : (..., S, d)
    L3 : float > 0

    Returns
    -------
    dict of arrays (...): ``gap_A``, ``gap_B``, ``eps1``, ``eps2``, ``K1`` … ``K4``, and ``{printed,proof,derived}_{A,B}``.
    """
    m = _check_transformer(x, A, B, C, target)
    Cp = _matrices(C_proxy=C_proxy)["C_proxy"]
    if Cp.shape[-2:] != m["C"].shape[-2:]:
        raise ValueError(f"C_proxy must have the shape of C {m['C'].shape}, got {Cp.shape}")
    L3 = check_scalar("L3", L3, low=0, low_open=True)
    with np.errstate(over="ignore", invalid="ignore"):
        return _gap_bounds(m, Cp, L3)


def _gap_bounds(m: dict, Cp: np.ndarray, L3: float) -> dict:
    y, G, dA, dB = _grads(**m)
    y_p, G_p, dA_p, dB_p = _grads(m["x"], m["A"], m["B"], Cp, m["target"])
    if not all(np.all(np.isfinite(v)) for v in (y, dA, dB, y_p, dA_p, dB_p)):
        raise ValueError("the outputs overflow float64: reduce the magnitudes of x, A, B, C, C_proxy or target")
    x6 = _spec(m["x"]) ** 6
    out = {"gap_A": _spec(dA_p - dA) ** 2, "gap_B": _spec(dB_p - dB) ** 2, "eps1": _spec(m["C"] - Cp) ** 2,
           "eps2": _spec(y - y_p) ** 2}
    gy = _spec(G_p) ** 2
    for K_hi, K_lo, W in (("K1", "K2", "B"), ("K3", "K4", "A")):
        out[K_hi] = L3 * x6 * _spec(m[W]) ** 2 * _spec(m["C"]) ** 2
        out[K_lo] = x6 * _spec(m[W]) ** 2 * gy
    for p, (hi, lo) in (("A", ("K1", "K2")), ("B", ("K3", "K4"))):
        out[f"printed_{p}"] = out[hi] * out["eps1"] + out[lo] * out["eps2"]
        out[f"proof_{p}"] = out[hi] * out["eps2"] + out[lo] * out["eps1"]
        out[f"derived_{p}"] = 2 * out[f"proof_{p}"]
    for k, v in out.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{k} overflows float64: reduce the magnitudes of x, A, B, C, C_proxy, target or L3")
    return {k: scalar_or_array(np.asarray(v)) for k, v in out.items()}


@provenance("published", "FedPFT (arXiv 2404.11536), Eq. 8")
def saliency(w_in: ArrayLike, w_out: ArrayLike) -> np.ndarray:
    r"""Neuron saliency of an FFN, Eq. 8: :math:`\sqrt{\sum_j u_{ij}^2 + w_{ij}^2}` for neuron i, with ``w_in`` the
    input weights (d_ff × d, row i = :math:`u_i`; a torch ``Linear(d, d_ff).weight``) and ``w_out`` the output
    weights (d × d_ff, column i = :math:`w_i`; ``Linear(d_ff, d).weight``). **published**.

    Parameters
    ----------
    w_in : array_like (..., d_ff, d); w_out : array_like (..., d, d_ff)

    Returns
    -------
    ndarray (..., d_ff)
    """
    m = _matrices(w_in=w_in, w_out=w_out)
    if m["w_out"].shape[-2:] != m["w_in"].shape[-2:][::-1]:
        raise ValueError(f"w_out must be (..., d, d_ff) = the transpose shape of w_in {m['w_in'].shape[-2:]}, "
                         f"got {m['w_out'].shape}")
    return check_representable("sqrt(sum u^2 + w^2)",
                               lambda w_in, w_out: np.sqrt(np.sum(w_in**2, -1) + np.sum(w_out**2, -2)),
                               elementwise=False, **m)


@provenance("published", "FedPFT (arXiv 2404.11536), Eq. 14 (APoZ, Hu et al. 2016)")
def apoz(activations: ArrayLike, threshold: float = 0.0) -> np.ndarray:
    r"""Average percentage of zeros per neuron, Eq. 14: the fraction of a neuron's activations with
    :math:`|O| \le` ``threshold`` over all tokens (``threshold`` = 0 is the printed :math:`\mathbb 1(O = 0)`;
    under GELU almost no activation is exactly 0). **published**.

    Parameters
    ----------
    activations : array_like (..., N, d_ff), N = samples × tokens
    threshold : float >= 0

    Returns
    -------
    ndarray (..., d_ff) in [0, 1]
    """
    a = _activations(activations)
    threshold = check_scalar("threshold", threshold, low=0)
    return np.mean(np.abs(a) <= threshold, axis=-2)


def _activations(activations: ArrayLike) -> np.ndarray:
    a = as_float_array("activations", activations)
    if a.ndim < 2 or a.shape[-2] < 1:
        raise ValueError(f"activations must be (..., N, d_ff) with N >= 1, got shape {a.shape}")
    return a


@provenance("reconstructed", "FedPFT (arXiv 2404.11536), Eq. 14 read for GELU")
def apoz_nonpositive(activations: ArrayLike) -> np.ndarray:
    r"""Eq. 14 for a GELU network: the fraction of a neuron's activations with :math:`O \le 0` over all tokens.

    Under ReLU, :math:`O = 0` exactly when the pre-activation is :math:`\le 0`; GELU(x) = xΦ(x) has the sign of
    x and is exactly 0 only at x = 0, so the printed count :func:`apoz` is 0 for (almost) every neuron and its
    ranking is all ties. Counting the non-positive activations is the ReLU count read for GELU. **reconstructed**
    (the paper, on GELU models, does not say how it counts zeros).

    Parameters
    ----------
    activations : array_like (..., N, d_ff), N = samples × tokens

    Returns
    -------
    ndarray (..., d_ff) in [0, 1]
    """
    return np.mean(_activations(activations) <= 0, axis=-2)
