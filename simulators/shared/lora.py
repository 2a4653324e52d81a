r"""The LoRA update schedules of the DP federated LoRA methods, and LA-LoRA's smoothing filter — written once.

Which factor of W = W₀ + s·B·A a method trains (and, under DP, noises and releases) at local step k
of round t (:func:`trained_factors`):

- ``dp_lora``: both factors at every step (simultaneous);
- ``ffa_lora``: B only (A frozen at its random initialization);
- ``rolora``: B in even rounds, A in odd rounds;
- ``la_lora`` and ``la_lora_filter``: B at even k, A at odd k (local alternation); the latter smooths
  each noisy gradient with the 5-tap kernel [1,4,6,4,1]/16 (:func:`smooth`) before the step, which is
  post-processing and costs no privacy.

The closed-form count of noisy updates per factor, :func:`fedtheory.theory.dp_lora.noisy_updates`, is
tested against this schedule.
"""

from __future__ import annotations

import torch

from fedtheory.theory._checks import check_choice

__all__ = ["METHODS", "KERNEL", "trained_factors", "smooth", "smooth_factor"]

METHODS = ("dp_lora", "ffa_lora", "rolora", "la_lora", "la_lora_filter")
#: LA-LoRA's low-pass filter (the authors' README), applied with symmetric (half-sample) padding of 2
KERNEL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def trained_factors(method: str, rnd: int, step: int) -> tuple[bool, bool]:
    """(update B, update A) at local ``step`` of round ``rnd`` (both counted from 0) for ``method``."""
    check_choice("method", method, METHODS)
    if method == "dp_lora":
        return True, True
    if method == "ffa_lora":
        return True, False
    if method == "rolora":
        return rnd % 2 == 0, rnd % 2 == 1
    return step % 2 == 0, step % 2 == 1  # la_lora, la_lora_filter


def smooth(x: torch.Tensor, dim: int) -> torch.Tensor:
    """[1,4,6,4,1]/16 along ``dim`` with symmetric (half-sample) padding of 2."""
    x = x.movedim(dim, -1)
    pad = torch.cat([x[..., :2].flip(-1), x, x[..., -2:].flip(-1)], -1)
    k = KERNEL.to(x)
    out = sum(k[i] * pad[..., i : i + x.shape[-1]] for i in range(5))
    return out.movedim(-1, dim)


def smooth_factor(grad: torch.Tensor, factor: str) -> torch.Tensor:
    """LA-LoRA's filter on a factor's noisy gradient: A ``(..., r, d_in)`` along d_in, B ``(..., d_out, r)`` along d_out.

    The kernel runs along the factor's model dimension, never along the rank.
    """
    return smooth(grad, -1 if check_choice("factor", factor, ("A", "B")) == "A" else -2)
