r"""A one-hidden-layer MLP on client datasets, as a :class:`~fedtheory.simulators.fedslr.algorithm.FedSLRTask`.

Parameters ``W1`` (D × H), ``b1`` (H), ``W2`` (H × C), ``b2`` (C); logits
:math:`\mathrm{relu}(xW_1 + b_1)W_2 + b_2`; the loss of client i is the mean cross-entropy on its data.
The two weight matrices are what FedSLR thresholds (low rank) and sparsifies (personal part); the biases
are 1-D. Batched over seeds × clients: every client's parameters are a slice of one (S, n, …) tensor and
one backward pass of the summed losses gives every client's gradient. The test "loss" is the error
rate on each client's own test set (drawn with its label mix, :mod:`~fedtheory.simulators.shared.federated_data`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_scalar, check_seeds
from fedtheory.simulators.shared.federated_data import FederatedTask

__all__ = ["MLPTask"]


class MLPTask:
    """FedSLR on an MLP over the clients of ``data`` (its f must be 0: every client is honest)."""

    def __init__(self, data: FederatedTask, hidden: int, seeds: Sequence[int]) -> None:
        if data.f != 0:
            raise ValueError(f"data.f must be 0 for FedSLR (no Byzantine clients), got {data.f}")
        self.data, self.hidden, self.seeds = data, check_scalar("hidden", hidden, int, low=1), check_seeds(seeds)
        if data.X.shape[0] != len(self.seeds):
            raise ValueError(f"seeds must match the data's seed dimension {data.X.shape[0]}, got {len(self.seeds)}")
        self.n, self.m = data.X.shape[1], data.X.shape[2]

    def init(self) -> dict[str, torch.Tensor]:
        """He-uniform weights and zero biases, one draw per seed."""
        D, H, C = self.data.X.shape[-1], self.hidden, self.data.n_classes
        dev, dt = self.data.X.device, self.data.X.dtype
        W1, W2 = [], []
        for s in self.seeds:
            g = seeding.generator(s, "init")
            W1.append((torch.rand(D, H, generator=g, dtype=torch.float64) * 2 - 1) * np.sqrt(6 / D))
            W2.append((torch.rand(H, C, generator=g, dtype=torch.float64) * 2 - 1) * np.sqrt(6 / H))
        S = len(self.seeds)
        return {"W1": torch.stack(W1).to(dev, dt), "b1": torch.zeros(S, H, device=dev, dtype=dt),
                "W2": torch.stack(W2).to(dev, dt), "b2": torch.zeros(S, C, device=dev, dtype=dt)}

    @staticmethod
    def logits(w: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        """(S, n, k, C) logits of client parameters w (name → (S, n, …)) on X (S, n, k, D)."""
        a = torch.relu(torch.einsum("snkd,sndh->snkh", X, w["W1"]) + w["b1"][:, :, None])
        return torch.einsum("snkh,snhc->snkc", a, w["W2"]) + w["b2"][:, :, None]

    def grads(self, w: dict[str, torch.Tensor], idx: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """∇f_i of the mean cross-entropy at each client's parameters, on all its examples or on ``idx`` (S, n, B)."""
        X, Y = self.data.X, self.data.Y
        if idx is not None:
            X = torch.gather(X, 2, idx[..., None].expand(*idx.shape, X.shape[-1]))
            Y = torch.gather(Y, 2, idx)
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in w.items()}
        with torch.enable_grad():
            z = self.logits(leaves, X)
            ce = torch.nn.functional.cross_entropy(z.flatten(0, 2), Y.flatten(), reduction="sum") / X.shape[2]
            g = torch.autograd.grad(ce, list(leaves.values()))  # sum over clients of mean losses: per-client grads
        return dict(zip(leaves, g))

    def test_loss(self, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """(S, n) test error rate of each client's parameters on its own test set."""
        with torch.no_grad():
            pred = self.logits(w, self.data.X_test).argmax(-1)
        return (pred != self.data.Y_test).to(self.data.X.dtype).mean(-1)
