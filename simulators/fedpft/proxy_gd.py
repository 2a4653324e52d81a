r"""Exact gradient descent on a proxy f′ of a convex quadratic f, batched over seeds × instances (FedPFT Theorem 1).

Each instance: :math:`f(x) = \tfrac12(x - x^*)^\top Q(x - x^*)` in float64, Q with eigenvalues log-spaced in
[L₁/κ, L₁] (L₁ = 1) and a random basis, x* and x⁽⁰⁾ standard normal. Gradient descent runs on the proxy,
:math:`x^{(i+1)} = x^{(i)} - \eta\nabla f'(x^{(i)})` with η = ``eta_factor``/L₁, and every iterate records f, ∇f and
:math:`\delta = \nabla f' - \nabla f`. The proxies (``proxy``, error size c = ``scale``):

- ``"proportional"``: f′ = (1 + c) f, δ = c∇f (same minimiser; c < 0 too);
- ``"hessian"``: f′ = ½(x − x*)ᵀQ′(x − x*), Q′ = Q + cL₁P with P a random PSD matrix of norm 1 (same
  minimiser, a perturbed curvature);
- ``"shifted"``: f′ = ½(x − x′*)ᵀQ(x − x′*), x′* = x* + c‖x⁽⁰⁾ − x*‖u (δ constant: the minimiser moves);
- ``"random"``: δ = c‖∇f(x)‖u_i with a fresh random unit u_i every step — not the gradient of any function, so
  outside the theorem's assumptions (a stress test).

All but ``"random"`` are convex with Lipschitz gradients, as Theorem 1 assumes. :func:`run_logistic_feature_proxy`
adds ℓ₂-regularised logistic regression with a proxy on perturbed features, and :func:`run_logistic_proxy_gd` a
logistic head on real features (MiniLM's and a proxy's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_choice, check_scalar, check_seeds, require_ints
from fedtheory.simulators.shared.logistic import logistic_loss, logistic_newton, with_bias

__all__ = ["PROXIES", "ProxyGDConfig", "run_logistic_feature_proxy", "run_logistic_proxy_gd", "run_proxy_gd"]

PROXIES = ("proportional", "hessian", "shifted", "random")


@dataclass(frozen=True)
class ProxyGDConfig:
    """Sizes of the quadratic problem and the proxy."""

    dim: int = 8
    instances: int = 64
    steps: int = 200
    eta_factor: float = 1.0  # η = eta_factor / L₁ (Theorem 1 needs η ≤ 1/L₁)
    condition: float = 10.0  # κ = L₁ / λ_min(Q)
    proxy: str = "proportional"
    scale: float = 0.3  # c

    def __post_init__(self) -> None:
        require_ints(self, {"dim": 1, "instances": 1, "steps": 1})
        check_scalar("eta_factor", self.eta_factor, low=0, low_open=True)
        check_scalar("condition", self.condition, low=1)
        check_choice("proxy", self.proxy, PROXIES)
        check_scalar("scale", self.scale, low=-1, low_open=True)


def _rotations(gens, I: int, d: int) -> torch.Tensor:
    return torch.linalg.qr(seeding.draw(gens, torch.randn, (I, d, d), dtype=torch.float64))[0]


def run_proxy_gd(cfg: ProxyGDConfig, seeds: Sequence[int], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Gradient descent on the proxy for every seed and instance at once.

    Returns
    -------
    dict of float64 tensors: ``x`` (S, I, k+1, d) the iterates x⁽⁰⁾ … x⁽ᵏ⁾; ``f`` (S, I, k+1) f at them (f* = 0);
    ``grad`` and ``grad_error`` (S, I, k+1, d) ∇f and δ at them; ``x_star`` (S, I, d); ``eta`` (S, I).
    """
    seeds = check_seeds(seeds)
    S, I, d, k = len(seeds), cfg.instances, cfg.dim, cfg.steps
    gens = seeding.generators(seeds, "proxy gd")  # drawn on the CPU: the same numbers on every device
    eig = torch.logspace(-np.log10(cfg.condition), 0, d, dtype=torch.float64)  # L₁ = 1
    U = _rotations(gens, I, d)
    Q = (U * eig) @ U.transpose(-1, -2)
    x_star = seeding.draw(gens, torch.randn, (I, d), dtype=torch.float64)
    x0 = seeding.draw(gens, torch.randn, (I, d), dtype=torch.float64)
    extra = seeding.draw(gens, torch.randn, (I, d, d), dtype=torch.float64)  # P's basis, the shift's direction
    noise = seeding.draw(gens, torch.randn, (k + 1, I, d), dtype=torch.float64).movedim(1, 2)  # (S, I, k+1, d)
    Q, x_star, x0, extra, noise = (t.to(device) for t in (Q, x_star, x0, extra, noise))
    c = cfg.scale
    if cfg.proxy == "hessian":
        V = torch.linalg.qr(extra)[0]
        P = (V * torch.linspace(0, 1, d, dtype=torch.float64, device=device)) @ V.transpose(-1, -2)  # PSD, ‖P‖ = 1
        Qp = Q + c * P
        if c < 0 and torch.linalg.eigvalsh(Qp)[..., 0].min() < 0:
            raise ValueError(f"scale must keep Q + scale·P positive semidefinite for the hessian proxy, got {c}")
    if cfg.proxy == "shifted":
        u = extra[..., 0] / extra[..., 0].norm(dim=-1, keepdim=True)
        shift = c * (x0 - x_star).norm(dim=-1, keepdim=True) * u

    def grad_f(x):
        return ((x - x_star)[..., None, :] @ Q)[..., 0, :]  # Q symmetric

    def grad_error_at(x, g, i):
        if cfg.proxy == "proportional":
            return c * g
        if cfg.proxy == "hessian":
            return ((x - x_star)[..., None, :] @ (Qp - Q))[..., 0, :]
        if cfg.proxy == "shifted":
            return -(shift[..., None, :] @ Q)[..., 0, :]  # Q(x − x′*) − Q(x − x*)
        u = noise[:, :, i] / noise[:, :, i].norm(dim=-1, keepdim=True)
        return c * g.norm(dim=-1, keepdim=True) * u

    eta = torch.full((S, I), cfg.eta_factor, dtype=torch.float64, device=device)  # / L₁ = 1
    xs, gs, ds = [x0], [], []
    x = x0
    for i in range(k + 1):
        g = grad_f(x)
        dl = grad_error_at(x, g, i)
        gs.append(g), ds.append(dl)
        if i < k:
            x = x - eta[..., None] * (g + dl)
            xs.append(x)
    X = torch.stack(xs, 2)
    e = X - x_star[:, :, None]
    f = 0.5 * ((e[..., None, :] @ Q[:, :, None]) @ e[..., None])[..., 0, 0]
    return {"x": X, "f": f, "grad": torch.stack(gs, 2), "grad_error": torch.stack(ds, 2), "x_star": x_star, "eta": eta}


def _logistic_gd(Xf: torch.Tensor, Xp: torch.Tensor, s: torch.Tensor, l2: float, steps: int,
                 eta_factor: float) -> dict[str, torch.Tensor]:
    """Gradient descent on the proxy's logistic loss (features Xp) from w = 0, recorded on the full one's (Xf), both
    (S, I, N, d); returns :func:`run_proxy_gd`'s arrays with f − f* (f* by Newton) and ``lipschitz`` (S, I)."""
    f, grad = logistic_loss(Xf, s, l2)
    _, grad_p = logistic_loss(Xp, s, l2)
    w_star = logistic_newton(Xf, s, l2)
    f_star = f(w_star)
    L1 = torch.linalg.eigvalsh(Xf.transpose(-1, -2) @ Xf)[..., -1] / (4 * Xf.shape[-2]) + l2
    eta = eta_factor / L1
    w = torch.zeros_like(w_star)
    xs, fs, gs, ds = [], [], [], []
    for _ in range(steps + 1):
        g, gp = grad(w), grad_p(w)
        xs.append(w), fs.append(f(w) - f_star), gs.append(g), ds.append(gp - g)
        w = w - eta[..., None] * gp
    return {"x": torch.stack(xs, 2), "f": torch.stack(fs, 2), "grad": torch.stack(gs, 2),
            "grad_error": torch.stack(ds, 2), "x_star": w_star, "eta": eta, "lipschitz": L1}


def run_logistic_proxy_gd(X: np.ndarray, X_proxy: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, steps: int = 1000,
                          eta_factor: float = 1.0) -> dict[str, np.ndarray]:
    r"""Gradient descent on a logistic head over a proxy's features, measured on the full model's (Theorem 1, real proxy).

    f(w) = mean softplus(−s·x̃w) + (l2/2)‖w‖² with x̃ = [x, 1] the full model's features and s = 2y − 1; f′ the same on
    the proxy's features. Both are convex with L = λ_max(X̃ᵀX̃)/(4N) + l2; the step is η = ``eta_factor``/L₁.
    Returns as :func:`run_proxy_gd` with one instance (leading shape (1, 1)), f measured as f − f* (f* by Newton)."""
    steps = check_scalar("steps", steps, int, low=1)
    l2 = check_scalar("l2", l2, low=0, low_open=True)
    check_scalar("eta_factor", eta_factor, low=0, low_open=True)
    if X.shape != X_proxy.shape or X.shape[0] != y.shape[0]:
        raise ValueError(f"X and X_proxy must have one shape (N, d) and y (N,), got {X.shape}, {X_proxy.shape}, {y.shape}")
    Xf, Xp = (with_bias(torch.as_tensor(a, dtype=torch.float64))[None, None] for a in (X, X_proxy))
    s = torch.as_tensor(2.0 * y - 1.0, dtype=torch.float64)[None, None]
    r = _logistic_gd(Xf, Xp, s, l2, steps, eta_factor)
    out = {k: v.numpy() for k, v in r.items()}
    out["lipschitz"] = np.array(float(r["lipschitz"]))
    return out


def run_logistic_feature_proxy(noise: float, seeds: Sequence[int], *, dim: int = 8, examples: int = 64,
                               instances: int = 64, steps: int = 200, eta_factor: float = 1.0, l2: float = 1e-2,
                               device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    r"""Theorem 1 on ℓ₂-regularised logistic regression whose proxy sees perturbed features, batched over seeds × instances.

    Each instance: N = ``examples`` points x ~ N(0, I_d), labels y ~ Bernoulli(σ(xᵀw₀)) with w₀ ~ N(0, I_d); f is the
    logistic loss on x̃ = [x, 1], f′ the same on [x + c·e, 1] with e ~ N(0, I_d) fixed per point and c = ``noise``
    (a proxy whose features err, as a compressed model's do; its minimiser moves). Both convex, ∇f Lipschitz with
    L₁ = λ_max(X̃ᵀX̃)/(4N) + l2; η = ``eta_factor``/L₁, gradient descent on f′ from 0.

    Returns
    -------
    dict of float64 tensors as :func:`run_proxy_gd` (x (S, I, k+1, d+1), f = f − f*, grad, grad_error, x_star, eta (S, I)).
    """
    seeds = check_seeds(seeds)
    check_scalar("noise", noise, low=0)
    check_scalar("eta_factor", eta_factor, low=0, low_open=True)
    l2 = check_scalar("l2", l2, low=0, low_open=True)
    I, N = (check_scalar(k, v, int, low=1) for k, v in (("instances", instances), ("examples", examples)))
    gens = seeding.generators(seeds, "logistic feature proxy")  # drawn on the CPU: the same numbers on every device
    X = seeding.draw(gens, torch.randn, (I, N, dim), dtype=torch.float64)
    w0 = seeding.draw(gens, torch.randn, (I, dim), dtype=torch.float64)
    u = seeding.draw(gens, torch.rand, (I, N), dtype=torch.float64)
    E = seeding.draw(gens, torch.randn, (I, N, dim), dtype=torch.float64)
    X, w0, u, E = (t.to(device) for t in (X, w0, u, E))
    s = torch.where(u < torch.sigmoid((X @ w0[..., None])[..., 0]), 1.0, -1.0).to(torch.float64)
    r = _logistic_gd(with_bias(X), with_bias(X + noise * E), s, l2, steps, eta_factor)
    r.pop("lipschitz")
    return r
