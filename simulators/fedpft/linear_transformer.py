r"""Theorem 2's one-head linear transformer with a saliency-pruned FFN, batched over seeds × instances.

Instance: tokens x (S × d), attention A = W^Q W^{K⊤} and B = W^V W^O, FFN C = W₁W₂ with W₁ (d × d_ff) and
W₂ (d_ff × d), entries N(0, 1/d) (x: N(0, 1/d) too, the target N(0, 1)); output :math:`y = xAx^\top xBC`
(FedPFT Eq. 27), loss ½‖y − t‖²_F. The proxy keeps the ⌈keep·d_ff⌉ neurons of largest saliency (Eq. 8,
:func:`fedtheory.theory.proxy_tuning.saliency`): :math:`C' = W_1[:, K]W_2[K, :]`. The gradients of the
loss in A and B, for the full model and the proxy, come from autograd (the measurement); the bounds of
Theorem 2 from :func:`fedtheory.theory.proxy_tuning.gradient_gap_bounds` (which also computes the gaps
in closed form: the two must agree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_scalar, check_seeds, require_ints
from fedtheory.theory.proxy_tuning import gradient_gap_bounds, saliency

__all__ = ["LinearTransformerConfig", "run_linear_transformer"]


@dataclass(frozen=True)
class LinearTransformerConfig:
    tokens: int = 8
    dim: int = 16
    ffn: int = 64
    instances: int = 500
    keep: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

    def __post_init__(self) -> None:
        require_ints(self, {"tokens": 1, "dim": 1, "ffn": 1, "instances": 1})
        if not self.keep:
            raise ValueError("keep must hold at least one keep ratio in (0, 1]")
        for r in self.keep:
            check_scalar("keep", r, low=0, low_open=True, high=1)


def _autograd(x, A, B, C, t):
    A, B = A.clone().requires_grad_(True), B.clone().requires_grad_(True)
    y = x @ A @ x.transpose(-1, -2) @ x @ B @ C
    gA, gB = torch.autograd.grad(0.5 * ((y - t) ** 2).sum(), (A, B))
    return gA, gB


def run_linear_transformer(cfg: LinearTransformerConfig, seeds: Sequence[int],
                           device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """Per keep ratio (axis 1) and instance (axis 2), float64 (S, R, I): the autograd gaps ``gap_A``, ``gap_B``
    (squared spectral norms), ``eps1``, ``eps2``, the bounds ``{printed,proof,derived}_{A,B}`` and ``closed_form_gap_A``."""
    seeds = check_seeds(seeds)
    I, S_tok, d, F = cfg.instances, cfg.tokens, cfg.dim, cfg.ffn
    gens = seeding.generators(seeds, "linear transformer")
    draw = lambda *shape, scale=1 / math.sqrt(d): seeding.draw(gens, torch.randn, (I, *shape), dtype=torch.float64) * scale  # noqa: E731
    x, A, B = draw(S_tok, d), draw(d, d), draw(d, d)
    W1, W2, t = draw(d, F), draw(F, d), draw(S_tok, d, scale=1.0)
    x, A, B, W1, W2, t = (v.to(device) for v in (x, A, B, W1, W2, t))
    C = W1 @ W2
    sal = torch.as_tensor(saliency(W1.transpose(-1, -2).cpu().numpy(), W2.transpose(-1, -2).cpu().numpy()), device=device)
    order = sal.argsort(-1, descending=True)  # (S, I, F)
    gA, gB = _autograd(x, A, B, C, t)
    out: dict[str, list] = {}
    for r in cfg.keep:
        keep = order[..., : math.ceil(r * F)]
        W1k = torch.gather(W1, -1, keep[..., None, :].expand(*keep.shape[:-1], d, keep.shape[-1]))
        W2k = torch.gather(W2, -2, keep[..., :, None].expand(*keep.shape, d))
        Cp = W1k @ W2k
        gA_p, gB_p = _autograd(x, A, B, Cp, t)
        b = gradient_gap_bounds(*(v.detach().cpu().numpy() for v in (x, A, B, C, Cp, t)))
        row = {"gap_A": torch.linalg.matrix_norm(gA_p - gA, 2) ** 2, "gap_B": torch.linalg.matrix_norm(gB_p - gB, 2) ** 2}
        row = {k: v.detach().cpu().numpy() for k, v in row.items()}
        row |= {k: np.asarray(b[k]) for k in ("eps1", "eps2", "printed_A", "proof_A", "derived_A", "printed_B",
                                                "proof_B", "derived_B")}
        row["closed_form_gap_A"] = np.asarray(b["gap_A"])
        for k, v in row.items():
            out.setdefault(k, []).append(v)
    return {k: np.stack(v, 1) for k, v in out.items()}
