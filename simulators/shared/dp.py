r"""DP-SGD mechanisms shared by the simulators: per-example clipping and the noise calibrated to (ε, δ).

Per-example clipping (the Gaussian mechanism's sensitivity bound): each example's gradient g_i,
taken jointly over the parameters released at the step, is scaled to norm ≤ C,

.. math:: \bar g_i = g_i \cdot \min\Bigl(1, \frac{C}{\lVert g_i\rVert}\Bigr),

then the clipped gradients are summed and N(0, σ²C²) noise is added per entry. σ for a target
(ε, δ) over T steps at Poisson rate q comes from opacus' RDP accountant
(:func:`fedtheory.theory.privacy.noise_multiplier`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import torch

__all__ = ["clip_factor", "clip_per_example", "noisy_mean", "noise_for_epsilon"]


def clip_factor(sq_norms: torch.Tensor, clip: float) -> torch.Tensor:
    """min(1, C/‖g_i‖) from the squared per-example norms (any shape); 0-norm gradients keep factor 1."""
    return (clip / sq_norms.sqrt().clamp_min(1e-12)).clamp(max=1.0)


def clip_per_example(grads: Sequence[torch.Tensor], clip: float) -> list[torch.Tensor]:
    """Scale each example's gradient (jointly over ``grads``, leading dim = example) to norm ≤ ``clip``."""
    sq = sum(g.flatten(g.dim() - 2).pow(2).sum(-1) if g.dim() >= 2 else g.pow(2) for g in grads)
    factor = clip_factor(sq, clip)
    return [g * factor.reshape(factor.shape + (1,) * (g.dim() - factor.dim())) for g in grads]


def noisy_mean(clipped_sum: torch.Tensor, noise: torch.Tensor | None, noise_std: float,
               expected_batch: float) -> torch.Tensor:
    r"""The DP-SGD gradient :math:`\tilde g = (\sum_{i\in B}\bar g_i + \sigma C\,z)/(qN)`.

    ``clipped_sum`` is the sum of the clipped per-example gradients of the Poisson batch (any shape),
    ``noise`` a standard normal draw ``z`` of the same shape (None: no noise, e.g. a diagnostic that
    switches one factor's noise off), ``noise_std`` = σC and ``expected_batch`` = qm, the expected
    batch size: dividing by it rather than by the realised size keeps the sensitivity at C/(qm).
    """
    if noise is not None:
        clipped_sum = clipped_sum + noise_std * noise
    return clipped_sum / expected_batch


@functools.lru_cache(maxsize=256)
def noise_for_epsilon(epsilon: float | None, sample_rate: float, steps: int, delta: float) -> float:
    """The noise multiplier σ that makes ``steps`` Poisson-sampled Gaussian steps (ε, δ)-DP (RDP); 0 if ``epsilon`` is None.

    Cached per process: a deterministic root search of about 2 s, which every seed and method of a
    setting would otherwise repeat.
    """
    if epsilon is None:
        return 0.0
    from fedtheory.theory.privacy import noise_multiplier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus warns when the optimal RDP order is at the edge of its grid
        return float(noise_multiplier(epsilon, sample_rate, steps, delta))
