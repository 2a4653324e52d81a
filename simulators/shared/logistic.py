"""ℓ₂-regularised logistic regression in float64, batched over leading dimensions: its loss, exact minimiser, bias column.

f(w) = mean softplus(−s·Xw) + (l2/2)‖w‖² with labels s ∈ {−1, +1}; convex, and strongly convex for l2 > 0,
so Newton's method from 0 reaches the unique minimiser. Shared by FedPFT's logistic proxies
(:mod:`fedtheory.simulators.fedpft.proxy_gd`) and the linear-probe reference of the full-model checks
(:mod:`fedtheory.simulators.la_lora.references`).
"""

from __future__ import annotations

import torch

__all__ = ["logistic_loss", "logistic_newton", "with_bias"]


def logistic_loss(X: torch.Tensor, s: torch.Tensor, l2: float):
    """f(w) = mean softplus(−s·Xw) + (l2/2)‖w‖² and its gradient, batched: X (..., N, d), s (..., N), w (..., d)."""
    def f(w):
        return torch.nn.functional.softplus(-s * (X @ w[..., None])[..., 0]).mean(-1) + 0.5 * l2 * (w * w).sum(-1)

    def grad(w):
        r = -s * torch.sigmoid(-s * (X @ w[..., None])[..., 0])
        return (X.transpose(-1, -2) @ r[..., None])[..., 0] / X.shape[-2] + l2 * w

    return f, grad


def logistic_newton(X: torch.Tensor, s: torch.Tensor, l2: float, tol: float = 1e-13, max_iter: int = 100) -> torch.Tensor:
    """The minimiser of the ℓ₂-regularised logistic loss for every leading index (Newton in float64, ‖∇f‖ ≤ tol)."""
    _, grad = logistic_loss(X, s, l2)
    w = torch.zeros(X.shape[:-2] + X.shape[-1:], dtype=torch.float64, device=X.device)
    eye = torch.eye(X.shape[-1], dtype=torch.float64, device=X.device)
    for _ in range(max_iter):
        g = grad(w)
        if g.norm(dim=-1).max() <= tol:
            return w
        p = torch.sigmoid(s * (X @ w[..., None])[..., 0])
        H = (X.transpose(-1, -2) * (p * (1 - p))[..., None, :]) @ X / X.shape[-2] + l2 * eye
        w = w - torch.linalg.solve(H, g[..., None])[..., 0]
    raise RuntimeError(f"Newton did not reach ‖∇f‖ <= {tol:g} in {max_iter} iterations "
                       f"(max ‖∇f‖ = {float(g.norm(dim=-1).max()):.2e})")


def with_bias(X: torch.Tensor) -> torch.Tensor:
    """``X`` (..., d) with a column of ones appended: (..., d + 1)."""
    return torch.cat([X, torch.ones(X.shape[:-1] + (1,), dtype=X.dtype, device=X.device)], -1)
