r"""Empirical check of (f, κ)-robustness (Allouah et al. 2023, "Fixing by Mixing", Def. 2).

For inputs :math:`x_1..x_n` whose first :math:`|S| = n - f` rows are the honest set S,

.. math::
    \frac{\lVert F(x) - \bar x_S \rVert^2}{\frac{1}{|S|}\sum_{i \in S} \lVert x_i - \bar x_S \rVert^2} \le \kappa,

with κ from :func:`fedtheory.theory.robust_aggregation.kappa_of`: hypothesis-drawn inputs under every attack.
The worst-case search (structured random inputs, optimal ALIE and gradient ascent on the ratio over both
honest and Byzantine vectors) is the claim ``byzantine.aggregators.kappa`` (tests/validation).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedtheory.simulators.shared.aggregators import Aggregator, make_aggregator
from fedtheory.simulators.shared.attacks import (
    alie,
    gaussian,
    inner_product_manipulation,
    mimic,
    optimal_alie,
    sign_flipping,
)
from fedtheory.simulators.shared.robustness import DTYPE, max_f, ratio_terms
from fedtheory.theory.robust_aggregation import kappa_of

RULES = ["trimmed_mean", "median", "geometric_median", "krum", "nnm+trimmed_mean", "nnm+median"]
HUGE = 1e6
RTOL = 1e-6  # slack on κ for rounding and the Weiszfeld tolerance


def all_attacks(honest: torch.Tensor, f: int, agg: Aggregator, gen: torch.Generator, scale: float) -> torch.Tensor:
    """Byzantine vectors of every attack (and of arbitrary huge vectors), stacked: ``(A, f, d)``."""
    d = honest.shape[-1]
    center = honest.mean(dim=-2)
    outer = int((honest - center).norm(dim=-1).argmax())
    direction = torch.randn(d, generator=gen, dtype=DTYPE)
    direction = direction / direction.norm()
    signs = torch.tensor([(-1.0) ** j for j in range(f)], dtype=DTYPE).unsqueeze(-1)
    return torch.stack(
        [
            sign_flipping(honest, f),
            alie(honest, f),
            alie(honest, f, tau=-4.0),
            inner_product_manipulation(honest, f),
            inner_product_manipulation(honest, f, tau=10.0),
            mimic(honest, f),
            mimic(honest, f, index=outer),
            gaussian(honest, f, generator=gen, sigma=scale),
            optimal_alie(honest, f, aggregator=agg),
            (center + HUGE * scale * direction).expand(f, d),  # one huge vector, f copies
            center + HUGE * scale * torch.randn(f, d, generator=gen, dtype=DTYPE),  # huge, spread out
            center + HUGE * scale * signs * direction,  # huge, on both sides
        ]
    )


@st.composite
def robustness_cases(draw: st.DrawFn, rule: str) -> tuple[int, int, int, int, float, bool]:
    n = draw(st.integers(5, 30))
    f = draw(st.integers(1, max_f(rule, n)))
    d = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    log10_scale = draw(st.floats(-2.0, 3.0))
    heavy_tailed = draw(st.booleans())
    return n, f, d, seed, 10.0**log10_scale, heavy_tailed


def honest_inputs(h: int, d: int, gen: torch.Generator, scale: float, heavy_tailed: bool) -> torch.Tensor:
    """``h`` honest vectors: a random offset plus normal noise of random (optionally heavy-tailed) scale per vector."""
    offset = 10.0 * scale * torch.randn(d, generator=gen, dtype=DTYPE)
    spread = torch.rand(h, 1, generator=gen, dtype=DTYPE)
    spread = spread.pow(4) * 10.0 if heavy_tailed else 0.5 + spread
    return offset + scale * spread * torch.randn(h, d, generator=gen, dtype=DTYPE)


@pytest.mark.parametrize("rule", RULES)
@settings(derandomize=True, max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_ratio_below_kappa_under_attacks(rule: str, data: st.DataObject) -> None:
    n, f, d, seed, scale, heavy_tailed = data.draw(robustness_cases(rule))
    gen = torch.Generator().manual_seed(seed)
    honest = honest_inputs(n - f, d, gen, scale, heavy_tailed)
    agg = make_aggregator(rule, f)
    byz = all_attacks(honest, f, agg, gen, scale)
    num, den = ratio_terms(agg, honest.expand(byz.shape[0], -1, -1), byz)
    kappa = float(kappa_of(rule, n, f))
    keep = den > 1e-12 * scale**2
    ratios = num[keep] / den[keep]
    worst = ratios.max().item() if ratios.numel() else 0.0
    assert worst <= kappa * (1 + RTOL), f"{rule} n={n} f={f} d={d}: ratio {worst:.6g} > kappa {kappa:.6g}"


# --------------------------------------------------------------------------- worst-case search
