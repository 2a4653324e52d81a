r"""The (f, κ)-robustness ratio of an aggregation rule, and a worst-case search for it.

Definition (Allouah et al. 2023, "Fixing by Mixing", Def. 2): for inputs whose first :math:`|S| = n - f`
rows are the honest set S,

.. math::
    \rho(x) = \frac{\lVert F(x) - \bar x_S \rVert^2}{\frac{1}{|S|}\sum_{i \in S} \lVert x_i - \bar x_S \rVert^2},

and F is (f, κ)-robust iff :math:`\rho \le \kappa` for all inputs. Any ratio found is therefore an
empirical *lower* bound on the rule's true κ, to set against the constants of
:mod:`fedtheory.theory.robust_aggregation`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fedtheory.simulators.shared.aggregators import Aggregator, make_aggregator
from fedtheory.simulators.shared.attacks import optimal_alie, with_byzantine

__all__ = ["ratio_terms", "robustness_ratio", "structured_start", "worst_ratio", "max_f"]

DTYPE = torch.float64
_TINY = 1e-12  # a spread below this (relative to 1) is a degenerate honest set: its ratio is undefined


def ratio_terms(agg: Aggregator, honest: Tensor, byz: Tensor) -> tuple[Tensor, Tensor]:
    r"""Numerator :math:`\lVert F(x) - \bar x_S\rVert^2` and denominator (the honest spread), shape ``(...)``.

    ``honest`` (..., n − f, d), ``byz`` (..., f, d).
    """
    center = honest.mean(dim=-2)
    num = (agg(with_byzantine(honest, byz)) - center).square().sum(dim=-1)
    den = (honest - center.unsqueeze(-2)).square().sum(dim=-1).mean(dim=-1)
    return num, den


def robustness_ratio(agg: Aggregator, honest: Tensor, byz: Tensor) -> Tensor:
    """ρ of the definition, shape ``(...)``; 0 where the honest spread is below 1e-12 (ρ undefined)."""
    num, den = ratio_terms(agg, honest, byz)
    return torch.where(den > _TINY, num / den.clamp_min(_TINY), torch.zeros_like(num))


def max_f(rule: str, n: int) -> int:
    """Largest f the rule accepts: n > 2f + 2 for Krum, n > 2f otherwise."""
    return (n - 3) // 2 if rule.endswith("krum") else (n - 1) // 2


def structured_start(batch: int, h: int, f: int, d: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Honest vectors in 1 to 3 tight clusters (worst cases are cluster-like), Byzantine vectors at one random point."""
    clusters = torch.randint(1, 4, (batch, 1, 1), generator=gen)
    labels = torch.randint(0, 3, (batch, h, 1), generator=gen) % clusters
    centers = 10.0 * torch.randn(batch, 3, d, generator=gen, dtype=DTYPE)
    honest = centers.gather(1, labels.expand(batch, h, d)) + 0.01 * torch.randn(batch, h, d, generator=gen, dtype=DTYPE)
    byz = (10.0 * torch.randn(batch, 1, d, generator=gen, dtype=DTYPE)).expand(batch, f, d).clone()
    return honest, byz


def worst_ratio(rule: str, n: int, f: int, d: int, *, seed: int = 0, batch: int = 2048, steps: int = 200) -> float:
    """Largest ρ found by structured random starts, optimal ALIE, and Adam ascent on honest and Byzantine vectors.

    ``batch`` random starts (float64); the 64 worst are ascended for ``steps`` Adam steps (lr 0.05) on ρ
    over both the honest and the Byzantine vectors. Geometric median runs an eighth of the starts and a
    quarter of the steps (its Weiszfeld loop is the cost).
    """
    gen = torch.Generator().manual_seed(seed)
    slow = rule.endswith("geometric_median")
    agg = make_aggregator(rule, f, **({"max_iter": 100} if slow else {}))
    batch, steps = (max(batch // 8, 1), steps // 4) if slow else (batch, steps)
    honest, byz = structured_start(batch, n - f, f, d, gen)
    start = robustness_ratio(agg, honest, byz)
    few = honest[:256]
    best = max(start.max().item(), robustness_ratio(agg, few, optimal_alie(few, f, aggregator=agg)).max().item())
    top = start.topk(min(64, batch)).indices  # ascend from the worst starts
    honest, byz = honest[top].clone().requires_grad_(True), byz[top].clone().requires_grad_(True)
    opt = torch.optim.Adam([honest, byz], lr=0.05)
    for _ in range(steps):
        r = robustness_ratio(agg, honest, byz)
        best = max(best, r.max().item())
        opt.zero_grad()
        (-r.clamp(max=1e6)).sum().backward()
        opt.step()
    return best
