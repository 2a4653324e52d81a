r"""PromptFolio's global/local portfolio on real features: linear prompt-like heads on frozen embeddings.

The Gaussian model of :mod:`fedtheory.simulators.promptfolio.prompt_learning` scores an example by ⟨p, x⟩ with a frozen
encoder; here x is a real frozen sentence embedding (:mod:`fedtheory.simulators.data.text_features`, L2-normalized
like CLIP's features and, like them, not centred: the mean embedding direction acts as an implicit
bias) and p a bias-free linear head — the CoOp/PromptFL prompt with the text encoder replaced by
the identity. Clients get a Dirichlet(α) label-skew share of the data,
split per client into train / validation / test. Each round every client copies the global head,
runs E full-batch logistic-loss gradient steps on it and on its own local head, and the server
averages the copies weighted by client size (FedAvg). Evaluation mixes
:math:`p_\theta = (1-\theta)p_G + \theta p_{L,k}` on client k's own test split.

For the theory (:func:`fedtheory.theory.portfolio.theta_star`) the simulator also returns, per client, the
mean, spread and covariance of the two heads' margins y⟨p, x⟩ on the validation split (used to
predict θ*) and on the test split. Seeds (partitions and splits) and clients are tensor dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import require_ints, require_positive
from fedtheory.simulators.shared.partition import dirichlet
from fedtheory.theory._checks import check_scalar

__all__ = ["FeaturePortfolioConfig", "simulate_feature_portfolio"]


@dataclass(frozen=True)
class FeaturePortfolioConfig:
    """Federated linear heads on fixed features; ``alpha`` = Dirichlet label skew."""

    n: int = 10  # clients
    alpha: float = 1.0
    rounds: int = 30
    local_steps: int = 5
    lr: float = 10.0  # the embeddings are unit vectors with high mutual cosine: small gradients
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    min_client_size: int = 30
    theta_points: int = 21

    def __post_init__(self) -> None:
        require_ints(self, {"n": 1, "rounds": 1, "local_steps": 1, "min_client_size": 3, "theta_points": 2})
        check_scalar("alpha", self.alpha, float, low=0.0, low_open=True, allow_inf=True)  # inf: IID
        require_positive(self, "lr")
        for name in ("val_fraction", "test_fraction"):
            check_scalar(name, getattr(self, name), float, low=0.0, high=0.5, low_open=True, high_open=True)

    @property
    def theta(self) -> torch.Tensor:
        return torch.linspace(0.0, 1.0, self.theta_points, dtype=torch.float64)


def _assign(y: np.ndarray, cfg: FeaturePortfolioConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Client (N,) and role (N,) of every example: 0 train, 1 validation, 2 test."""
    parts = dirichlet(y, cfg.n, cfg.alpha, seed=seed, min_size=cfg.min_client_size)
    rng = seeding.rng(int(seed), "assignment")
    client = np.empty(y.size, np.int64)
    role = np.empty(y.size, np.int64)
    for k, idx in enumerate(parts):
        idx = rng.permutation(idx)
        n_val = max(1, round(cfg.val_fraction * idx.size))
        n_test = max(1, round(cfg.test_fraction * idx.size))
        client[idx] = k
        role[idx] = 0
        role[idx[:n_val]] = 1
        role[idx[n_val : n_val + n_test]] = 2
    return client, role


def simulate_feature_portfolio(
    X: np.ndarray,
    y: np.ndarray,
    config: FeaturePortfolioConfig,
    *,
    seeds: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Train and evaluate; returns (S, n, ·) tensors (n = ``config.n`` clients).

    ``acc`` (S, n, Θ) test accuracy of p_θ; ``n_test`` (S, n); ``{split}_{stat}`` for split in
    (val, test) and stat in (m_global, m_local, s_global, s_local, s_cross): margin moments;
    ``train_acc_global`` / ``train_acc_local`` (S, n).
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    X = np.asarray(X, np.float32)
    labels = np.asarray(y)
    if X.ndim != 2 or labels.shape != (X.shape[0],):
        raise ValueError(f"X must be (N, d) and y (N,), got {X.shape} and {labels.shape}")
    if set(np.unique(labels)) - {0, 1}:
        raise ValueError("y must hold binary labels 0/1")
    cfg, device = config, torch.device(device)
    n, S = cfg.n, len(seeds)
    assign = [_assign(labels, cfg, s) for s in seeds]
    client = torch.as_tensor(np.stack([a[0] for a in assign]), device=device)  # (S, N)
    role = torch.as_tensor(np.stack([a[1] for a in assign]), device=device)
    Xt = torch.as_tensor(X, device=device, dtype=dtype)
    ys = torch.as_tensor(labels * 2.0 - 1.0, device=device, dtype=dtype)  # ±1
    onehot = torch.nn.functional.one_hot(client, n).to(dtype)  # (S, N, n)
    train = (role == 0).to(dtype)
    n_train = (onehot * train[..., None]).sum(1)  # (S, n)
    weight = n_train / n_train.sum(1, keepdim=True)  # FedAvg weights

    def margins(W: torch.Tensor) -> torch.Tensor:
        """y⟨w_{client(i)}, x_i⟩ for heads W (S, 2, n, D) (copy of global, local): (S, 2, N)."""
        scores = torch.einsum("nd,spkd->spnk", Xt, W)
        own = torch.gather(scores, 3, client[:, None, :, None].expand(-1, W.shape[1], -1, 1))[..., 0]
        return ys * own

    D = X.shape[1]
    W = torch.zeros(S, 2, n, D, device=device, dtype=dtype)  # (copy of global, local)
    w_G = torch.zeros(S, D, device=device, dtype=dtype)
    for _ in range(cfg.rounds):
        W[:, 0] = w_G[:, None]
        for _ in range(cfg.local_steps):
            z = margins(W)
            coef = torch.sigmoid(-z) * ys * train[:, None]  # −ℓ'(z)·y on training examples only
            per = coef[..., None] * onehot[:, None] / n_train[:, None, None]  # (S, 2, N, n)
            grad = torch.einsum("spnk,nd->spkd", per, Xt)
            W += cfg.lr * grad  # gradient *descent* on the logistic loss: −∇ = Σ −ℓ' y x / n_train
        w_G = (weight[..., None] * W[:, 0]).sum(1)
    W[:, 0] = w_G[:, None]

    z = margins(W)  # (S, 2, N)
    out: dict[str, torch.Tensor] = {}
    for name, r in (("train", 0), ("val", 1), ("test", 2)):
        mask = onehot * (role == r).to(dtype)[..., None]  # (S, N, n)
        cnt = mask.sum(1)
        mean = torch.einsum("spn,snk->spk", z, mask) / cnt[:, None]
        cen = z[..., None] - mean[:, :, None]  # (S, 2, N, n)
        var = (cen**2 * mask[:, None]).sum(2) / (cnt[:, None] - 1).clamp_min(1)
        cov = (cen[:, 0] * cen[:, 1] * mask).sum(1) / (cnt - 1).clamp_min(1)
        if name == "train":
            corr = torch.einsum("spn,snk->spk", (z > 0).to(dtype), mask) / cnt[:, None]
            out["train_acc_global"], out["train_acc_local"] = corr[:, 0], corr[:, 1]
            continue
        out |= {f"{name}_m_global": mean[:, 0], f"{name}_m_local": mean[:, 1], f"{name}_s_global": var[:, 0].sqrt(),
                f"{name}_s_local": var[:, 1].sqrt(), f"{name}_s_cross": cov, f"n_{name}": cnt}
    theta = cfg.theta.to(device=device, dtype=dtype)
    test = onehot * (role == 2).to(dtype)[..., None]
    mixed = (1 - theta)[:, None, None] * z[:, 0][None] + theta[:, None, None] * z[:, 1][None]  # (Θ, S, N)
    correct = torch.einsum("tsn,snk->skt", (mixed > 0).to(dtype), test)
    out["acc"] = correct / out["n_test"][..., None]
    out["theta"] = theta
    return out
