r"""Proximal operators of the nuclear and ℓ₁ norms, their optimality conditions, and a reference solver.

FedSLR (arXiv 2302.11051, Huang, Shen, Sun, Lin, Tao) learns a low-rank global model by a proximal
step on the nuclear norm and a sparse personal part by a proximal step on the ℓ₁ norm:

- stage 1: :math:`\min_w \frac1N\sum_i f_i(w) + \lambda\sum_\ell \lVert W_\ell\rVert_*`;
- stage 2: :math:`\min_{p_i} f_i(w + p_i) + \gamma \lVert p_i\rVert_1` with w fixed.

The operators are the textbook ones (**published**): singular value thresholding (Cai, Candès & Shen
2010, "A singular value thresholding algorithm for matrix completion", Theorem 2.1) and soft
thresholding (Donoho 1995). Their optimality conditions and the stationarity (KKT) residuals of the two
problems are **derived** here from the subdifferentials (Watson 1992 for the nuclear norm):
with :math:`X = U\Sigma V^\top` the compact SVD of rank k,

.. math::
    \partial\lVert X\rVert_* = \{UV^\top + W : U^\top W = 0,\; WV = 0,\; \lVert W\rVert_2 \le 1\},
    \qquad
    \partial\lVert x\rVert_1 = \{g : g_j = \operatorname{sign} x_j \text{ if } x_j \ne 0,\;
    |g_j| \le 1 \text{ otherwise}\}.

Every residual below is the exact Frobenius distance of a matrix (vector) G from τ times the
subdifferential, so it is 0 exactly at optimality and measures how far a point is from it. In the
bases [U U⊥], [V V⊥], G splits into four blocks; the kept block must equal τI, the two mixed blocks
must vanish, and the complement must lie in the spectral ball of radius τ:

.. math::
    d(G, \tau\partial\lVert X\rVert_*)^2 = \lVert U^\top G V - \tau I\rVert_F^2 + \lVert U^\top G V_\perp\rVert_F^2
      + \lVert U_\perp^\top G V\rVert_F^2 + \sum_j \bigl(\sigma_j(U_\perp^\top G V_\perp) - \tau\bigr)_+^2 .

All functions take numpy arrays and broadcast over leading dimensions (matrices are the last two axes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_float_array, check_range, check_representable, check_scalar, provenance, scalar_or_array

__all__ = [
    "soft_threshold",
    "singular_value_threshold",
    "nuclear_norm",
    "numerical_rank",
    "l1_subgradient_distance",
    "nuclear_subgradient_distance",
    "soft_threshold_residual",
    "svt_residual",
    "l1_kkt_residual",
    "nuclear_kkt_residual",
    "prox_gradient_nuclear",
    "prox_gradient_l1",
]


def _matrix(name: str, X: ArrayLike) -> np.ndarray:
    arr = as_float_array(name, X)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (..., m, n) with ndim >= 2, got shape {arr.shape}")
    return arr


def _same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_b} must have the shape of {name_a} {a.shape}, got {b.shape}")


@provenance("published", "Donoho 1995 (soft thresholding); FedSLR (arXiv 2302.11051) stage 2")
def soft_threshold(x: ArrayLike, tau: ArrayLike) -> np.ndarray:
    r""":math:`S_\tau(x) = \operatorname{sign}(x)\max(|x| - \tau, 0)`, the prox of :math:`\tau\lVert\cdot\rVert_1`.

    Parameters
    ----------
    x : array_like, any shape
    tau : array_like, broadcastable to ``x``, ``tau >= 0``

    Returns
    -------
    ndarray, the broadcast shape of ``x`` and ``tau``. **published**.
    """
    x = as_float_array("x", x)
    tau = check_range("tau", tau, low=0.0)
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0.0)


@provenance("published", "Cai, Candès & Shen 2010 (SIAM J. Optim.), Theorem 2.1; FedSLR (arXiv 2302.11051) stage 1")
def singular_value_threshold(X: ArrayLike, tau: ArrayLike) -> np.ndarray:
    r""":math:`D_\tau(X) = U\max(\Sigma - \tau, 0)V^\top`, the prox of :math:`\tau\lVert\cdot\rVert_*`.

    Parameters
    ----------
    X : array_like, shape (..., m, n)
    tau : array_like, broadcastable to the batch shape (...), ``tau >= 0``

    Returns
    -------
    ndarray, shape (..., m, n). **published**.
    """
    X = _matrix("X", X)
    tau = check_range("tau", tau, low=0.0)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    s = np.maximum(s - tau[..., None], 0.0)
    return (U * s[..., None, :]) @ Vt


@provenance("published", "the nuclear (trace) norm, sum of singular values")
def nuclear_norm(X: ArrayLike) -> ArrayLike:
    r""":math:`\lVert X\rVert_* = \sum_j \sigma_j(X)`; X of shape (..., m, n) → (...). **published** (definition)."""
    return scalar_or_array(np.linalg.svd(_matrix("X", X), compute_uv=False).sum(-1))


def _rank_tol(s: np.ndarray, shape: tuple[int, int], rtol: float | None) -> np.ndarray:
    """Absolute cut-off on singular values: rtol·σ_max, rtol defaulting to max(m, n)·eps (numpy's matrix_rank)."""
    r = max(shape) * np.finfo(float).eps if rtol is None else rtol
    return r * (s[..., :1] if s.shape[-1] else np.zeros(s.shape[:-1] + (1,)))


@provenance("published", "numerical rank as in numpy.linalg.matrix_rank")
def numerical_rank(X: ArrayLike, rtol: float | None = None) -> ArrayLike:
    """Number of singular values above ``rtol``·σ_max (default rtol = max(m, n)·eps, numpy's
    ``matrix_rank`` convention); X (..., m, n) → (...). **published** (definition)."""
    X = _matrix("X", X)
    if rtol is not None:
        rtol = check_scalar("rtol", rtol, low=0.0, high=1.0)
    s = np.linalg.svd(X, compute_uv=False)
    out = (s > _rank_tol(s, X.shape[-2:], rtol)).sum(-1)
    return int(out) if out.ndim == 0 else out


@provenance("derived", "derived here from the subdifferential of the l1 norm")
def l1_subgradient_distance(p: ArrayLike, g: ArrayLike, tau: ArrayLike) -> ArrayLike:
    r"""Euclidean distance of ``g`` from :math:`\tau\,\partial\lVert p\rVert_1`. **derived**.

    .. math:: d^2 = \sum_{p_j \ne 0} (g_j - \tau\operatorname{sign} p_j)^2 + \sum_{p_j = 0} (|g_j| - \tau)_+^2 .

    Parameters
    ----------
    p, g : array_like, shape (..., d): vectors along the last axis (a scalar is a vector of length 1)
    tau : array_like, broadcastable to the batch shape (...), ``tau >= 0``

    Returns
    -------
    float or ndarray, shape (...).
    """
    return _l1_checked(p, g, tau, ("p", "g", "tau"))


def _l1_checked(p, g, tau, names):
    """Validate (naming the caller's parameters) and evaluate the ℓ₁ distance."""
    p, g = np.atleast_1d(as_float_array(names[0], p)), np.atleast_1d(as_float_array(names[1], g))
    _same_shape(names[0], p, names[1], g)
    tau = check_range(names[2], tau, low=0.0)
    return scalar_or_array(check_representable(f"d({names[1]}, {names[2]}*subdiff ||{names[0]}||_1)",
                                               lambda **kw: _l1_distance(*kw.values()), elementwise=False,
                                               **{names[0]: p, names[1]: g, names[2]: tau}))


def _l1_distance(p, g, tau):
    # scaled by c = max(|g|, tau) so that the squares cannot overflow: d(g, τ∂) = c·d(g/c, (τ/c)∂)
    tau = np.asarray(tau, dtype=float)[..., None]
    c = np.maximum(np.abs(g).max(-1, initial=0.0), np.broadcast_to(tau, tau.shape)[..., 0])[..., None]
    c = np.where(c > 0, c, 1.0)
    gs, ts = g / c, tau / c
    sq = np.where(p != 0, (gs - ts * np.sign(p)) ** 2, np.maximum(np.abs(gs) - ts, 0.0) ** 2)
    with np.errstate(over="ignore"):
        return c[..., 0] * np.sqrt(sq.sum(-1))


@provenance("derived", "derived here from the subdifferential of the nuclear norm (Watson 1992)")
def nuclear_subgradient_distance(X: ArrayLike, G: ArrayLike, tau: ArrayLike, rtol: float | None = None) -> ArrayLike:
    r"""Frobenius distance of ``G`` from :math:`\tau\,\partial\lVert X\rVert_*` (formula in the module docstring). **derived**.

    The rank of X is its :func:`numerical_rank` (singular values above ``rtol``·σ_max), so a matrix
    produced by thresholding in float64 is read with the rank the threshold left.

    Parameters
    ----------
    X, G : array_like, shape (..., m, n)
    tau : array_like, broadcastable to (...), ``tau >= 0``
    rtol : float in [0, 1], optional

    Returns
    -------
    float or ndarray, shape (...).
    """
    return _nuclear_checked(X, G, tau, rtol, ("X", "G", "tau"))


def _nuclear_checked(X, G, tau, rtol, names):
    """Validate (naming the caller's parameters) and evaluate the nuclear-norm distance."""
    X, G = _matrix(names[0], X), _matrix(names[1], G)
    _same_shape(names[0], X, names[1], G)
    tau = check_range(names[2], tau, low=0.0)
    if rtol is not None:
        rtol = check_scalar("rtol", rtol, low=0.0, high=1.0)
    return scalar_or_array(check_representable(
        f"d({names[1]}, {names[2]}*subdiff ||{names[0]}||_*)", lambda **kw: _nuclear_distance(*kw.values(), rtol),
        elementwise=False, **{names[0]: X, names[1]: G, names[2]: tau}))


def _nuclear_distance(X, G, tau, rtol):
    m, n = X.shape[-2:]
    # the bases and the rank of X do not depend on its scale; G and τ are scaled together by c
    sx = np.abs(X).max((-2, -1), keepdims=True)
    U, s, Vt = np.linalg.svd(X / np.where(sx > 0, sx, 1.0), full_matrices=True)  # U (..., m, m), Vt (..., n, n)
    keep = s > _rank_tol(s, (m, n), rtol)  # (..., min(m, n)); kept values come first
    tau_b = np.broadcast_to(np.asarray(tau, dtype=float), G.shape[:-2])
    c = np.maximum(np.abs(G).max((-2, -1)), tau_b)
    c = np.where(c > 0, c, 1.0)
    Gr = np.swapaxes(U, -1, -2) @ (G / c[..., None, None]) @ np.swapaxes(Vt, -1, -2)  # G/c in the singular bases
    out = np.empty(Gr.shape[:-2])
    for idx in np.ndindex(Gr.shape[:-2]):  # the rank differs per matrix: blocks of different sizes
        k = int(keep[idx].sum())
        g, t = Gr[idx], float(tau_b[idx] / c[idx])
        d2 = ((g[:k, :k] - t * np.eye(k)) ** 2).sum() + (g[:k, k:] ** 2).sum() + (g[k:, :k] ** 2).sum()
        if k < min(m, n):
            rest = np.linalg.svd(g[k:, k:], compute_uv=False)
            d2 += (np.maximum(rest - t, 0.0) ** 2).sum()
        out[idx] = np.sqrt(d2)
    with np.errstate(over="ignore"):
        return c * out


@provenance("derived", "derived here: optimality condition of the prox of the l1 norm")
def soft_threshold_residual(x: ArrayLike, y: ArrayLike, tau: ArrayLike) -> ArrayLike:
    r"""How far ``x`` is from :math:`S_\tau(y)`: the distance in the optimality condition
    :math:`0 \in x - y + \tau\partial\lVert x\rVert_1`, i.e. :func:`l1_subgradient_distance` (x, y − x, τ);
    vectors along the last axis, (..., d) → (...). **derived**."""
    x, y = as_float_array("x", x), as_float_array("y", y)
    _same_shape("x", x, "y", y)
    return l1_subgradient_distance(x, y - x, tau)


@provenance("derived", "derived here: optimality condition of the prox of the nuclear norm")
def svt_residual(X: ArrayLike, Y: ArrayLike, tau: ArrayLike, rtol: float | None = None) -> ArrayLike:
    r"""How far ``X`` is from :math:`D_\tau(Y)`: the distance in :math:`0 \in X - Y + \tau\partial\lVert X\rVert_*`,
    i.e. :func:`nuclear_subgradient_distance` (X, Y − X, τ). **derived**."""
    X, Y = _matrix("X", X), _matrix("Y", Y)
    _same_shape("X", X, "Y", Y)
    return nuclear_subgradient_distance(X, Y - X, tau, rtol)


@provenance("derived", "derived here: stationarity of f + gamma*||p||_1 (FedSLR stage 2)")
def l1_kkt_residual(p: ArrayLike, grad: ArrayLike, weight: ArrayLike) -> ArrayLike:
    r"""Stationarity residual of :math:`\min_p f(p) + \gamma\lVert p\rVert_1` (γ = ``weight``) at ``p`` with ``grad`` = ∇f(p):
    the distance of −∇f from :math:`\gamma\partial\lVert p\rVert_1` (0 iff :math:`|\partial_j f| \le \gamma`
    where :math:`p_j = 0` and :math:`\partial_j f = -\gamma\operatorname{sign}p_j` elsewhere); vectors along the
    last axis. **derived**."""
    p, grad = as_float_array("p", p), as_float_array("grad", grad)
    _same_shape("p", p, "grad", grad)
    return _l1_checked(p, -grad, weight, ("p", "grad", "weight"))


@provenance("derived", "derived here: stationarity of Phi + lam*||W||_* (FedSLR stage 1)")
def nuclear_kkt_residual(W: ArrayLike, grad: ArrayLike, weight: ArrayLike, rtol: float | None = None) -> ArrayLike:
    r"""Stationarity residual of :math:`\min_W \Phi(W) + \lambda\lVert W\rVert_*` (λ = ``weight``) at ``W`` with ``grad`` = ∇Φ(W):
    the distance of −∇Φ from :math:`\lambda\partial\lVert W\rVert_*` (0 iff :math:`U^\top\nabla\Phi V = -\lambda I`
    on the kept directions, the mixed blocks vanish and :math:`\lVert U_\perp^\top\nabla\Phi V_\perp\rVert_2 \le \lambda`).
    **derived**."""
    W, grad = _matrix("W", W), _matrix("grad", grad)
    _same_shape("W", W, "grad", grad)
    return _nuclear_checked(W, -grad, weight, rtol, ("W", "grad", "weight"))


@provenance("published", "Beck & Teboulle 2009 (FISTA); O'Donoghue & Candes 2015 (adaptive restart)")
def prox_gradient_nuclear(
    grad: Callable[[np.ndarray], np.ndarray],
    W0: ArrayLike,
    *,
    lipschitz: float,
    weight: float,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> tuple[np.ndarray, dict]:
    r"""Solve :math:`\min_W F(W) + \lambda\lVert W\rVert_*` for a convex, L-smooth F by FISTA (float64).

    Accelerated proximal gradient (Beck & Teboulle 2009) with step 1/L and gradient-based adaptive
    restart (O'Donoghue & Candès 2015); it stops when the norm of the gradient mapping
    :math:`\lVert W - D_{\lambda/L}(W - \nabla F(W)/L)\rVert_F \cdot L` is at most ``tol``
    (checked at the non-extrapolated iterate). The reference minimiser against which FedSLR's
    federated fixed point is compared. **published** (the algorithm; the stopping rule is ours).

    Parameters
    ----------
    grad : callable, (m, n) → (m, n), ∇F
    W0 : array_like, shape (m, n), the start
    lipschitz : float > 0, the Lipschitz constant L of ∇F
    weight : float >= 0, λ
    tol : float > 0
    max_iter : int >= 1

    Returns
    -------
    W : ndarray (m, n)
    info : dict with ``iterations``, ``mapping_norm`` (the final gradient-mapping norm) and ``converged``.
    """
    W = _matrix("W0", W0)
    weight = check_scalar("weight", weight, low=0.0)
    return _fista(grad, W, "W0", lipschitz, tol, max_iter, lambda Y, step: singular_value_threshold(Y, weight * step))


@provenance("published", "Beck & Teboulle 2009 (FISTA); O'Donoghue & Candes 2015 (adaptive restart)")
def prox_gradient_l1(
    grad: Callable[[np.ndarray], np.ndarray],
    x0: ArrayLike,
    *,
    lipschitz: float,
    weight: float,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> tuple[np.ndarray, dict]:
    r"""Solve :math:`\min_x f(x) + \gamma\lVert x\rVert_1` for a convex, L-smooth f by FISTA (float64).

    The same solver as :func:`prox_gradient_nuclear` with the soft threshold as the prox; the
    reference for FedSLR's stage 2 (the personal part with w fixed). **published** (the algorithm).

    Parameters
    ----------
    grad : callable, x.shape → x.shape, ∇f
    x0 : array_like, any shape, the start
    lipschitz : float > 0
    weight : float >= 0, γ
    tol : float > 0
    max_iter : int >= 1

    Returns
    -------
    x : ndarray of the shape of ``x0``
    info : dict with ``iterations``, ``mapping_norm`` and ``converged``.
    """
    x = as_float_array("x0", x0)
    weight = check_scalar("weight", weight, low=0.0)
    return _fista(grad, x, "x0", lipschitz, tol, max_iter, lambda y, step: soft_threshold(y, weight * step))


def _fista(grad, x0: np.ndarray, name: str, lipschitz, tol, max_iter, prox) -> tuple[np.ndarray, dict]:
    """FISTA with gradient-based restart; ``prox(y, step)`` is the prox of step·(the regulariser)."""
    if not callable(grad):
        raise TypeError(f"grad must be a callable of one array returning an array of its shape, got {grad!r}")
    shape = np.shape(grad(np.array(x0, dtype=float)))
    if shape != np.shape(x0):
        raise ValueError(f"{name} must have the shape grad maps it to: grad({name}) has shape {shape}, "
                         f"{name} has shape {np.shape(x0)}")
    L = check_scalar("lipschitz", lipschitz, low=0.0, low_open=True)
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    max_iter = check_scalar("max_iter", max_iter, int, low=1)
    x = np.array(x0, dtype=float)

    def step(z):
        with np.errstate(over="ignore", invalid="ignore"):
            y = z - np.asarray(grad(z), dtype=float) / L
        if y.shape != x.shape or not np.all(np.isfinite(y)):
            raise ValueError(f"the gradient step overflowed or changed shape at lipschitz={L!r}: lipschitz must be "
                             "at least the Lipschitz constant of grad, and grad must keep the shape of its input")
        return prox(y, 1.0 / L)

    z, t, mapping = x.copy(), 1.0, np.inf
    for it in range(1, max_iter + 1):
        x_new = step(z)
        if np.sum((z - x_new) * (x_new - x)) > 0:  # momentum points uphill: restart
            z, t = x.copy(), 1.0
            x_new = step(z)
        t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
        mapping = L * float(np.linalg.norm(x - step(x)))
        if mapping <= tol:
            return x, {"iterations": it, "mapping_norm": mapping, "converged": True}
    return x, {"iterations": max_iter, "mapping_norm": mapping, "converged": False}
