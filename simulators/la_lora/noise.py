r"""Monte Carlo of DP noise on LoRA factors: the squared norms of the terms of (B + N_B)(A + N_A) − BA.

For fixed factors A (r × n) and B (m × r) and i.i.d. N(0, σ²) noise N_A, N_B on them, each trial draws
fresh noise and records ‖N_B A‖², ‖B N_A‖², ‖N_B N_A‖² — and, for comparison, ‖N_W‖² of full-model noise
on an m × n matrix — using ‖XY‖² = tr(XᵀX · YYᵀ), so the r × r products replace the m × n ones. The
closed forms are :func:`fedtheory.theory.dp_lora.noise_term_norms2` and
:func:`~fedtheory.theory.dp_lora.full_model_noise_norm2`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["factor_noise_norms2"]


def factor_noise_norms2(A: torch.Tensor, B: torch.Tensor, sigmas: Sequence[float], trials: int,
                        generator: torch.Generator, full_model: bool = False) -> np.ndarray:
    """Squared norms (trials, len(sigmas), 3 or 4) of N_B·A, B·N_A, N_B·N_A (and N_W with ``full_model``).

    Draw order from ``generator``, for each σ in turn: N_B (trials, m, r), N_A (trials, r, n), then with
    ``full_model`` the full-model noise in chunks of about 64 MB. Fresh draws per σ, so slopes against σ
    are estimated, not built in. Float64 throughout.
    """
    (m, r), n = B.shape, A.shape[1]
    AAt, BtB = A @ A.T, B.T @ B
    out = np.zeros((trials, len(sigmas), 4 if full_model else 3))
    chunk = max(1, 2**23 // (m * n))  # trials per draw of full-model noise (~64 MB)
    for j, s in enumerate(sigmas):
        NB = s * torch.randn(trials, m, r, generator=generator, dtype=torch.float64)
        NA = s * torch.randn(trials, r, n, generator=generator, dtype=torch.float64)
        NBtNB, NANAt = NB.mT @ NB, NA @ NA.mT
        terms = [(NBtNB * AAt).sum((1, 2)), (BtB * NANAt).sum((1, 2)), (NBtNB * NANAt).sum((1, 2))]
        if full_model:
            terms.append(torch.cat([(s * torch.randn(min(chunk, trials - i), m * n, generator=generator,
                                                     dtype=torch.float64)).pow(2).sum(-1)
                                    for i in range(0, trials, chunk)]))
        out[:, j] = torch.stack(terms, -1).numpy()
    return out
