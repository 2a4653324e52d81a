"""Client datasets as tensors: a labelled dataset partitioned over n clients, with per-client test sets.

:func:`make_federated_task` splits (X, y) over n clients with m samples each (Dirichlet(α) label skew
or IID; :mod:`.partition`) for each seed, and draws each honest client a test set with its own label
mix, so that test accuracy measures the personalised risk. Shared by the Byzantine personalisation
simulators (:mod:`fedtheory.simulators.byzantine.personalized_gd`) and FedSLR
(:mod:`fedtheory.simulators.fedslr.mlp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_n_f
from fedtheory.simulators.shared.partition import dirichlet, fixed_m, partition_summary

__all__ = ["FederatedTask", "make_federated_task"]


@dataclass
class FederatedTask:
    """Client data as tensors. Honest clients come first, Byzantine clients last.

    ``X`` (S, n, m, D), ``Y`` (S, n, m): training data of all n clients (the Byzantine clients'
    data serves label flipping). ``X_test`` (S, h, T, D), ``Y_test`` (S, h, T): a test set per
    honest client drawn from its own label distribution. ``label_dist`` (S, n, C): each client's
    label proportions; ``global_dist`` (S, C): the honest clients' average.
    """

    X: torch.Tensor
    Y: torch.Tensor
    X_test: torch.Tensor
    Y_test: torch.Tensor
    label_dist: torch.Tensor
    n_classes: int
    f: int

    @property
    def n(self) -> int:
        return self.X.shape[1]

    @property
    def h(self) -> int:
        return self.n - self.f

    @property
    def global_dist(self) -> torch.Tensor:
        return self.label_dist[:, : self.h].mean(1)


def make_federated_task(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n: int,
    f: int,
    m: int,
    alpha: float | None,
    seeds: Sequence[int],
    test_per_client: int = 512,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> FederatedTask:
    """Partition (X, y) over n clients with m samples each (Dirichlet(α) label skew, IID if α is None).

    Each honest client's test set has ``test_per_client`` samples drawn with replacement from
    ``(X_test, y_test)`` with the client's own label proportions, so test accuracy measures the
    personalized risk :math:`R_i`. One partition per seed (seed s partitions with seed s).
    """
    check_n_f(n, f)
    C = int(max(y.max(), y_test.max()) + 1)
    by_class = [np.flatnonzero(y_test == k) for k in range(C)]
    Xs, Ys, Xt, Yt, dists = [], [], [], [], []
    for s in seeds:
        parts = fixed_m(y, n, m, seed=int(s)) if alpha is None else dirichlet(y, n, alpha, m, seed=int(s))
        rng = seeding.rng(int(s), "test sets")
        counts = partition_summary(y, parts, C)  # (n, C)
        test_idx = []
        for i in range(n - f):
            k = rng.choice(C, size=test_per_client, p=counts[i] / counts[i].sum())
            test_idx.append(np.concatenate([rng.choice(by_class[c], size=(k == c).sum()) for c in range(C)]))
        Xs.append(np.stack([X[p] for p in parts]))
        Ys.append(np.stack([y[p] for p in parts]))
        Xt.append(np.stack([X_test[t] for t in test_idx]))
        Yt.append(np.stack([y_test[t] for t in test_idx]))
        dists.append(counts / m)
    t = lambda a, dt=dtype: torch.as_tensor(np.stack(a), dtype=dt, device=device)  # noqa: E731
    return FederatedTask(t(Xs), t(Ys, torch.long), t(Xt), t(Yt, torch.long), t(dists, torch.float64), C, f)
