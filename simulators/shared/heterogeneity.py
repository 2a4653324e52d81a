r"""How different the clients are: label-distribution distance Φ and gradient dissimilarity G².

Both are the inputs of the Byzantine paper's classification λ* (arXiv 2409.20329) as fedtheory measures
them:

- Φ(D_i, D_C) by the total-variation distance of label distributions (:func:`tv_distance`). When the
  partition only skews labels (class-conditionals are shared), for every classifier h,
  :math:`|R_i(h) - R_C(h)| = |\sum_y (p_i(y) - p_C(y))\,P(h(x)\ne y\mid y)| \le \mathrm{TV}(p_i, p_C)`.
- G² by the mean squared deviation of the clients' gradients from their mean at one model
  (:func:`gradient_dissimilarity`), :math:`\frac1{|C|}\sum_{j\in C}\lVert\nabla L_j(\theta) - \nabla L_C(\theta)\rVert^2`;
  the assumption bounds it for every θ, so callers take the largest value over the models they visit.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["tv_distance", "gradient_dissimilarity"]


def tv_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""Total-variation distance :math:`\tfrac12\sum_c |p_c - q_c|` of distributions along the last axis (broadcasts)."""
    return 0.5 * np.abs(np.asarray(p, dtype=float) - np.asarray(q, dtype=float)).sum(-1)


def gradient_dissimilarity(grads: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac1{n}\sum_j \lVert g_j - \bar g\rVert^2` of the clients' gradients ``grads`` (..., n, P) → (...)."""
    return (grads - grads.mean(-2, keepdim=True)).pow(2).sum(-1).mean(-1)
