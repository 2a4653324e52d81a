r"""Over-parameterized matrix sensing with n factor blocks and alternating preconditioned GD.

The setting of LA-LoRA's convergence appendix (arXiv 2602.19926, Eq. 42–43, after APGD, arXiv
2502.00463): recover a rank-r⋆ matrix X⋆ ∈ ℝ^{n₁×n₂} from M linear measurements
y = 𝒜(X⋆) with a Gaussian operator (entries N(0, 1/M), so E‖𝒜(X)‖² = ‖X‖²), by the model
X = Σ_{i=1}^n B_iA_i (B_i ∈ ℝ^{n₁×r}, A_i ∈ ℝ^{r×n₂}; block i is client i's LoRA pair: n clients/blocks,
the paper's P) and the loss L_c = ½‖𝒜(X) − y‖². One iteration: every block takes a preconditioned
B-step with its A fixed, B_i ← B_i − η∇_{B_i}L_c(A_iA_iᵀ)⁻¹, then a preconditioned A-step with the
new B, A_i ← A_i − η(B_iᵀB_i)⁻¹∇_{A_i}L_c. Batched over seeds.

δ_r is bracketed: from below by max |‖𝒜(X)‖²/‖X‖² − 1| over random rank-nr test matrices, from
above by max_i |s_i(𝒜)² − 1| over the singular values of the whole operator (M ≥ n₁n₂ here, so
the upper bound is finite and, with enough oversampling, below 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import require_ints, require_positive

__all__ = ["SensingConfig", "simulate_sensing", "estimate_rip"]


@dataclass(frozen=True)
class SensingConfig:
    n1: int = 10
    n2: int = 10
    r_star: int = 1
    r: int = 2
    n: int = 2  # clients/blocks (the paper's P)
    oversampling: float = 20.0  # M = oversampling · n1 · n2: δ of the whole operator < 1 (an upper bound on δ_r)
    eta: float = 0.5
    iterations: int = 40
    init_scale: float = 0.1

    def __post_init__(self) -> None:
        require_ints(self, dict.fromkeys(("n1", "n2", "r_star", "r", "n", "iterations"), 1))
        if self.r_star > self.n * self.r:
            raise ValueError(f"r_star must be <= n*r (the model must be able to represent X⋆), "
                             f"got r_star={self.r_star}, n={self.n}, r={self.r}")
        require_positive(self, "oversampling", "eta", "init_scale")

    @property
    def measurements(self) -> int:
        return int(round(self.oversampling * self.n1 * self.n2))


def _operator(cfg: SensingConfig, g: torch.Generator, dtype) -> torch.Tensor:
    return torch.randn(cfg.measurements, cfg.n1 * cfg.n2, generator=g, dtype=dtype) / cfg.measurements**0.5


def estimate_rip(op: torch.Tensor, n1: int, n2: int, rank: int, trials: int, g: torch.Generator) -> float:
    """max |‖𝒜X‖²/‖X‖² − 1| over ``trials`` random rank-``rank`` matrices (a lower bound on δ_rank)."""
    U = torch.randn(trials, n1, rank, generator=g, dtype=op.dtype)
    V = torch.randn(trials, rank, n2, generator=g, dtype=op.dtype)
    X = (U @ V).reshape(trials, -1)
    ratio = (X @ op.T).pow(2).sum(-1) / X.pow(2).sum(-1)
    return float((ratio - 1).abs().max())


def simulate_sensing(cfg: SensingConfig, *, seeds: Sequence[int], rip_trials: int = 2000,
                     dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Loss after every iteration (S, T+1), ratios L_{k+1}/L_k (S, T), δ lower and upper bounds (S,)."""
    losses, deltas, uppers = [], [], []
    for s in seeds:  # small problems: a loop over seeds keeps one operator per seed
        g = seeding.generator(int(s), "sensing")
        op = _operator(cfg, g, dtype)
        Xs = torch.randn(cfg.n1, cfg.r_star, generator=g, dtype=dtype) @ torch.randn(cfg.r_star, cfg.n2, generator=g,
                                                                                       dtype=dtype)
        Xs = Xs / Xs.norm()
        y = op @ Xs.reshape(-1)
        B = cfg.init_scale * torch.randn(cfg.n, cfg.n1, cfg.r, generator=g, dtype=dtype)
        A = cfg.init_scale * torch.randn(cfg.n, cfg.r, cfg.n2, generator=g, dtype=dtype)
        deltas.append(estimate_rip(op, cfg.n1, cfg.n2, cfg.n * cfg.r, rip_trials, g))
        sv = torch.linalg.svdvals(op)
        uppers.append(float((sv**2 - 1).abs().max()))

        def grad_X(B, A):
            res = op @ (B @ A).sum(0).reshape(-1) - y
            return (op.T @ res).reshape(cfg.n1, cfg.n2), 0.5 * float(res @ res)

        G, L = grad_X(B, A)
        traj = [L]
        for _ in range(cfg.iterations):
            gB = G @ A.transpose(1, 2)  # ∇_{B_i} = G A_iᵀ
            B = B - cfg.eta * torch.linalg.solve(A @ A.transpose(1, 2), gB.transpose(1, 2)).transpose(1, 2)
            G, _ = grad_X(B, A)
            gA = B.transpose(1, 2) @ G  # ∇_{A_i} = B_iᵀ G
            A = A - cfg.eta * torch.linalg.solve(B.transpose(1, 2) @ B, gA)
            G, L = grad_X(B, A)
            traj.append(L)
        losses.append(torch.tensor(traj, dtype=dtype))
    loss = torch.stack(losses)
    return {"loss": loss, "ratio": loss[:, 1:] / loss[:, :-1], "delta_lower": torch.tensor(deltas, dtype=dtype),
            "delta_upper": torch.tensor(uppers, dtype=dtype)}
