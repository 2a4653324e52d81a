r"""Federated matrix regression with a low-rank global part and sparse personal parts (FedSLR, synthetic).

Client i of n observes m measurements :math:`y_{ij} = \langle X_{ij}, L^\star + S_i^\star\rangle + \sigma\varepsilon_{ij}`
with Gaussian :math:`X_{ij}` (entries N(0, 1)), a rank-k global matrix :math:`L^\star` (d₁ × d₂, Frobenius
norm ``signal``) shared by all clients and an s-sparse personal matrix :math:`S_i^\star` (s entries of
magnitude ``sparse_scale``, random signs and positions). Its loss is the least-squares

.. math:: f_i(W) = \frac1{2m}\sum_{j=1}^m \bigl(\langle X_{ij}, W\rangle - y_{ij}\bigr)^2 ,

convex and :math:`L_i`-smooth with :math:`L_i = \lambda_{\max}(\frac1m\sum_j x_{ij}x_{ij}^\top)`
(x the vectorised X). The test loss of client i is the mean squared error on ``m_test`` fresh
measurements of its own matrix :math:`L^\star + S_i^\star`. Batched over seeds × clients: the
measurements are one tensor (S, n, m, d₁d₂); full-batch gradients and test errors go through each
client's Gram matrix (D × D, D = d₁d₂), one batched product for every client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_scalar, check_seeds, require_ints

__all__ = ["MatrixRegressionConfig", "MatrixRegressionTask"]


@dataclass(frozen=True)
class MatrixRegressionConfig:
    """Sizes of the synthetic problem (d₁ × d₂ weight, n clients with m measurements each)."""

    d1: int = 12
    d2: int = 10
    rank: int = 2
    sparsity: int = 4  # s non-zero entries of each S_i⋆
    n: int = 8  # clients
    m: int = 200  # training measurements per client
    m_test: int = 200
    signal: float = 3.0  # ‖L⋆‖_F
    sparse_scale: float = 1.0
    noise: float = 0.1  # σ

    def __post_init__(self) -> None:
        require_ints(self, {"d1": 1, "d2": 1, "rank": 0, "sparsity": 0, "n": 1, "m": 1, "m_test": 1})
        check_scalar("rank", self.rank, int, low=0, high=min(self.d1, self.d2))
        check_scalar("sparsity", self.sparsity, int, low=0, high=self.d1 * self.d2)
        for name in ("signal", "sparse_scale", "noise"):
            check_scalar(name, getattr(self, name), low=0)


class MatrixRegressionTask:
    """The problem of :class:`MatrixRegressionConfig` for seeds ``seeds`` (float64 by default).

    Attributes: ``L_star`` (S, d₁, d₂), ``S_star`` (S, n, d₁, d₂), ``X`` (S, n, m, d₁d₂), ``y`` (S, n, m),
    the test measurements ``X_test``/``y_test``, and ``lipschitz`` (S, n) the L_i.
    """

    def __init__(self, cfg: MatrixRegressionConfig, seeds: Sequence[int], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float64) -> None:
        self.cfg, self.seeds = cfg, check_seeds(seeds)
        self.n, self.m = cfg.n, cfg.m
        d1, d2, D, n = cfg.d1, cfg.d2, cfg.d1 * cfg.d2, cfg.n
        Ls, Ss, Xs, ys, Xt, yt = [], [], [], [], [], []
        for s in self.seeds:  # draws per seed on the CPU (device-independent numbers), arithmetic batched below
            g = seeding.generator(s, "matrix regression", "cpu")
            U = torch.linalg.qr(torch.randn(d1, max(cfg.rank, 1), generator=g, dtype=dtype))[0][:, : cfg.rank]
            V = torch.linalg.qr(torch.randn(d2, max(cfg.rank, 1), generator=g, dtype=dtype))[0][:, : cfg.rank]
            L = U @ V.T * (cfg.signal / max(cfg.rank, 1) ** 0.5)  # equal singular values, ‖L‖_F = signal
            Sp = torch.zeros(n, D, dtype=dtype)
            pos = torch.rand(n, D, generator=g).argsort(-1)[:, : cfg.sparsity]
            sign = torch.randint(0, 2, (n, cfg.sparsity), generator=g).to(dtype) * 2 - 1
            Sp.scatter_(1, pos, cfg.sparse_scale * sign)
            Sp = Sp.view(n, d1, d2)
            X = torch.randn(n, cfg.m, D, generator=g, dtype=dtype)
            X_test = torch.randn(n, cfg.m_test, D, generator=g, dtype=dtype)
            truth = (L + Sp).reshape(n, D)
            Ls.append(L), Ss.append(Sp), Xs.append(X), Xt.append(X_test)
            ys.append(torch.einsum("nmd,nd->nm", X, truth) + cfg.noise * torch.randn(n, cfg.m, generator=g, dtype=dtype))
            yt.append(torch.einsum("nmd,nd->nm", X_test, truth)
                      + cfg.noise * torch.randn(n, cfg.m_test, generator=g, dtype=dtype))
        to = dict(device=device, dtype=dtype)
        self.L_star, self.S_star = torch.stack(Ls).to(**to), torch.stack(Ss).to(**to)
        self.X, self.y = torch.stack(Xs).to(**to), torch.stack(ys).to(**to)
        self.X_test, self.y_test = torch.stack(Xt).to(**to), torch.stack(yt).to(**to)
        # sufficient statistics: full-batch gradients and test errors through the D × D Gram matrices,
        # one batched matrix-vector product each instead of two passes over the measurements
        self.H = torch.einsum("snmd,snme->snde", self.X, self.X) / cfg.m  # (S, n, D, D)
        self.b = torch.einsum("snmd,snm->snd", self.X, self.y) / cfg.m
        self.H_test = torch.einsum("snmd,snme->snde", self.X_test, self.X_test) / cfg.m_test
        self.b_test = torch.einsum("snmd,snm->snd", self.X_test, self.y_test) / cfg.m_test
        self.c_test = (self.y_test**2).mean(-1)
        self.lipschitz = torch.linalg.eigvalsh(self.H)[..., -1]  # (S, n)
        self.lipschitz_global = torch.linalg.eigvalsh(self.H.mean(1))[..., -1]  # (S,): L of F = mean f_i

    def init(self) -> dict[str, torch.Tensor]:
        """w⁰ = 0 (the convex problem needs no random start)."""
        S, cfg = len(self.seeds), self.cfg
        return {"W": torch.zeros(S, cfg.d1, cfg.d2, device=self.X.device, dtype=self.X.dtype)}

    def grads(self, w: dict[str, torch.Tensor], idx: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """∇f_i(W_i) for W (S, n, d₁, d₂), on all measurements or on ``idx`` (S, n, B)."""
        W = w["W"].flatten(-2)  # (S, n, D)
        if idx is None:  # (1/m)Xᵀ(Xw − y) = Hw − b; S·n matrix-vector products of D ≤ 48 as one broadcast
            # multiply and sum: 2.3× a batched matmul, whose per-matrix dispatch dominates at this size
            return {"W": ((self.H * W[..., None, :]).sum(-1) - self.b).view_as(w["W"])}
        X = torch.gather(self.X, 2, idx[..., None].expand(*idx.shape, self.X.shape[-1]))
        y = torch.gather(self.y, 2, idx)
        r = torch.einsum("snmd,snd->snm", X, W) - y
        return {"W": (torch.einsum("snmd,snm->snd", X, r) / X.shape[2]).view_as(w["W"])}

    def global_grad(self, W: torch.Tensor) -> torch.Tensor:
        """∇F(W) = mean_i ∇f_i(W) for one global W (S, d₁, d₂)."""
        return self.grads({"W": W[:, None].expand(-1, self.n, -1, -1)})["W"].mean(1)

    def test_loss(self, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """(S, n) test mean squared error of each client's W (S, n, d₁, d₂)."""
        W = w["W"].flatten(-2)  # mean (xᵀw − y)² = wᵀH_t w − 2b_tᵀw + mean y²
        return (W * ((self.H_test * W[..., None, :]).sum(-1) - 2 * self.b_test)).sum(-1) + self.c_test

    def objective_parts(self) -> dict[str, np.ndarray]:
        """The data of F as numpy (for the centralised reference solver): X (S, n·m, D), y (S, n·m)."""
        S = len(self.seeds)
        return {"X": self.X.reshape(S, -1, self.X.shape[-1]).cpu().numpy(),
                "y": self.y.reshape(S, -1).cpu().numpy()}
