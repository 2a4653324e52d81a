r"""Algorithm 1 of arXiv 2409.20329: interpolated personalized robust gradient descent, batched.

For every honest client i and step t (authors' class ``IPGD``):

.. math::
    \theta_i^{t+1} = \theta_i^t - \eta\left[(1-\lambda)\nabla L_i(\theta_i^t)
      + \lambda\, F\big(g_1^t, \dots, g_n^t\big)\right],\qquad g_j^t = \nabla L_j(\theta_i^t),

where honest clients return full-batch gradients at client i's model and the f Byzantine clients
return attack vectors (or, for label flipping, honest gradients on label-flipped data).

DP (``noise_multiplier`` > 0, logistic regression): what an honest client *sends* is a DP-SGD gradient —
examples drawn by Poisson sampling at rate ``sample_rate``, per-example gradients clipped to ``clip`` in L2,
summed, N(0, z²C²) added per coordinate, divided by the expected batch q·m (opacus' convention), plus the
data-independent L2 term; its own ∇L_i, which it never sends, stays exact. For logistic regression the
per-example gradient is the outer product x̃ ⊗ (p − y) (x̃ = [x, 1]), whose norm is ‖x̃‖·‖p − y‖, so
clipping needs no per-example tensors. :func:`fedtheory.theory.privacy.noise_multiplier` gives z for a
target (ε, δ); each client's data is released h times per step (a gradient at every honest model θ_i, each on
its own Poisson sample), so the accountant composes T·h mechanisms.

Every personalized model of every seed and every λ is one row of a single tensor
``theta`` of shape (S, Λ, h, P); the gradients of all n clients at all h models come from one
backward pass (each (model, client) pair owns a copy of the parameters, so the gradient of the
summed loss with respect to the copies is the per-pair gradient). Models are written as
functions of a flat parameter vector, so the same code runs logistic regression (convex: the
theory's assumptions hold with the L2 term) and a one-hidden-layer MLP (non-convex: the theory
is stretched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F_

from fedtheory.simulators.shared import heterogeneity, seeding
from fedtheory.simulators.shared.aggregators import make_aggregator
from fedtheory.simulators.shared.attacks import attack_against
from fedtheory.simulators.shared.config import (
    check_choice,
    check_lams,
    check_scalar,
    require_ints,
    require_positive,
)
from fedtheory.simulators.shared.federated_data import FederatedTask, make_federated_task

__all__ = [
    "FederatedTask",
    "make_federated_task",
    "IPGDConfig",
    "IPGDResult",
    "run_ipgd",
    "n_params",
    "private_pair_gradients",
    "logreg_pair_gradients",
    "pair_gradients",
]


# --------------------------------------------------------------------------- models
def n_params(model: str, D: int, C: int, hidden: int = 32) -> int:
    """Size of the flat parameter vector: (D+1)·C for ``logreg``; D·H + H + H·C + C for ``mlp``."""
    if check_choice("model", model, ("logreg", "mlp")) == "logreg":
        return (D + 1) * C
    return D * hidden + hidden + hidden * C + C


def forward(model: str, theta: torch.Tensor, X: torch.Tensor, C: int, hidden: int = 32) -> torch.Tensor:
    """Logits (S, Λ, H, k, m, C) of parameters ``theta`` (S, Λ, H, k, P) on client data ``X`` (S, k, m, D).

    Model (s, l, i) is evaluated on the data of each of the k clients. The einsums keep (s, k) as
    batch dimensions, so X is never copied per model.
    """
    D = X.shape[-1]
    if model == "logreg":
        W = theta[..., : D * C].unflatten(-1, (D, C))
        b = theta[..., D * C :]
        return torch.einsum("skmd,slhkdc->slhkmc", X, W) + b.unsqueeze(-2)
    o = D * hidden
    W1 = theta[..., :o].unflatten(-1, (D, hidden))
    b1 = theta[..., o : o + hidden]
    o += hidden
    W2 = theta[..., o : o + hidden * C].unflatten(-1, (hidden, C))
    b2 = theta[..., o + hidden * C :]
    a = torch.relu(torch.einsum("skmd,slhkdj->slhkmj", X, W1) + b1.unsqueeze(-2))
    return torch.einsum("slhkmj,slhkjc->slhkmc", a, W2) + b2.unsqueeze(-2)


def init_params(model: str, D: int, C: int, hidden: int, seeds: Sequence[int], device, dtype) -> torch.Tensor:
    """(S, P) initial parameters: zeros for logistic regression, He-uniform per seed for the MLP."""
    P = n_params(model, D, C, hidden)
    if model == "logreg":
        return torch.zeros(len(seeds), P, device=device, dtype=dtype)
    out = []
    for s in seeds:
        g = seeding.generator(int(s), "init")
        w1 = (torch.rand(D * hidden, generator=g) * 2 - 1) * np.sqrt(6 / D)
        w2 = (torch.rand(hidden * C, generator=g) * 2 - 1) * np.sqrt(6 / hidden)
        out.append(torch.cat([w1, torch.zeros(hidden), w2, torch.zeros(C)]))
    return torch.stack(out).to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- algorithm
@dataclass(frozen=True)
class IPGDConfig:
    """Algorithm 1 settings. ``attack='label_flipping'`` makes Byzantine clients train on flipped labels;
    ``aggregator='honest_mean'`` replaces F by the exact mean of the honest gradients (the
    reference that defines the personalized optimum)."""

    lams: tuple[float, ...] = tuple(np.round(np.linspace(0, 1, 11), 10))
    T: int = 500
    lr: float = 0.1
    l2: float = 1e-3
    model: str = "logreg"
    hidden: int = 32
    aggregator: str = "server_clip+nnm+trimmed_mean"
    attack: str = "sign_flipping"
    attack_params: dict = field(default_factory=dict)
    noise_multiplier: float = 0.0  # z of DP-SGD on the sent gradients; 0: no privacy
    clip: float = 1.0  # per-example clipping norm C (with noise_multiplier > 0)
    sample_rate: float = 1.0  # Poisson sampling rate q (with noise_multiplier > 0)

    def __post_init__(self) -> None:
        check_lams(self.lams)
        require_ints(self, {"T": 1})
        require_positive(self, "lr", "clip")
        check_scalar("l2", self.l2, low=0)
        n_params(self.model, 1, 2, self.hidden)  # validates the model name
        check_scalar("noise_multiplier", self.noise_multiplier, low=0)
        check_scalar("sample_rate", self.sample_rate, low=0, high=1, low_open=True)
        if self.private and self.model != "logreg":
            raise ValueError(f"noise_multiplier: DP-SGD is implemented for model 'logreg' only, got {self.model!r}")
        if self.private and self.attack == "label_flipping":
            raise ValueError("noise_multiplier: DP with attack 'label_flipping' is not modelled (Byzantine gradients "
                             "there are computed like honest ones)")

    @property
    def private(self) -> bool:
        return self.noise_multiplier > 0


@dataclass
class IPGDResult:
    """Final state: ``theta`` (S, Λ, h, P); ``accuracy`` and ``test_loss`` (S, Λ, h) on each client's
    test set; ``objective`` (S, Λ, h) = L_i^λ(θ_i^T) = (1−λ)L_i + λ L_C on the training data
    (including the L2 term); ``local_loss`` (S, Λ, h) = L_i(θ_i^T)."""

    lams: torch.Tensor
    theta: torch.Tensor
    accuracy: torch.Tensor
    test_loss: torch.Tensor
    objective: torch.Tensor
    local_loss: torch.Tensor


def _pair_losses(cfg: IPGDConfig, theta_pairs: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, C: int) -> torch.Tensor:
    """Loss of each (model, client) pair: theta_pairs (S, Λ, h, k, P), X (S, k, m, D) → (S, Λ, h, k)."""
    logits = forward(cfg.model, theta_pairs, X, C, cfg.hidden)  # (S, Λ, h, k, m, C)
    y = Y[:, None, None].expand(logits.shape[:-1])
    ce = F_.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").view(y.shape).mean(-1)
    return ce + 0.5 * cfg.l2 * (theta_pairs**2).sum(-1)


def _logreg_log_probs(pairs: torch.Tensor, X: torch.Tensor, C: int) -> torch.Tensor:
    """Log-probabilities (S, Λ, h, k, C, m) of logistic regression ``pairs`` (S, Λ, h, k, P) on ``X`` (S, k, m, D).

    Classes before examples: a softmax over a short leading axis vectorises over the m examples (for
    C = 2 about 10× faster on a CPU than over a trailing axis of length 2).
    """
    D = X.shape[-1]
    W, b = pairs[..., : D * C].unflatten(-1, (D, C)), pairs[..., D * C :]
    return torch.log_softmax(torch.einsum("skmd,slhkdc->slhkcm", X, W) + b.unsqueeze(-1), -2)


def private_pair_gradients(cfg: IPGDConfig, theta: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, C: int,
                           gens: Sequence[torch.Generator]) -> torch.Tensor:
    """DP-SGD gradients (S, Λ, h, k, P) of k clients' logistic losses at each of the h models: Poisson sampling,
    per-example clipping to ``cfg.clip`` (norm ‖x̃‖·‖p − y‖), Gaussian noise z·C, over the expected batch q·m.
    ``gens``: one generator per seed (the draws of a seed do not depend on the others)."""
    S, L, h, P = theta.shape
    k, m = X.shape[1], X.shape[2]
    pairs = theta.unsqueeze(3).expand(S, L, h, k, P)
    with torch.no_grad():
        onehot = F_.one_hot(Y, C).to(X.dtype).transpose(-1, -2)[:, None, None]  # (S, 1, 1, k, C, m)
        r = _logreg_log_probs(pairs, X, C).exp() - onehot  # (S, Λ, h, k, C, m)
        norm = torch.linalg.vector_norm(r, dim=-2) * torch.sqrt((X * X).sum(-1) + 1.0)[:, None, None]  # (S,Λ,h,k,m)
        keep = seeding.draw(gens, torch.rand, (L, h, k, m), device=X.device, dtype=X.dtype) < cfg.sample_rate
        w = keep * torch.clamp(cfg.clip / norm.clamp_min(torch.finfo(X.dtype).tiny), max=1.0)
        wr = w.unsqueeze(-2) * r  # (S, Λ, h, k, C, m)
        gW = torch.einsum("skmd,slhkcm->slhkdc", X, wr).flatten(-2)
        gb = wr.sum(-1)
        g = torch.cat([gW, gb], -1)
        g = g + cfg.noise_multiplier * cfg.clip * seeding.draw(gens, torch.randn, (L, h, k, P), device=X.device,
                                                                 dtype=X.dtype)
        return g / (cfg.sample_rate * m) + cfg.l2 * pairs


def logreg_pair_gradients(
    cfg: IPGDConfig, theta: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, C: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Gradients (S, Λ, h, k, P) and losses (S, Λ, h, k) of k clients' logistic losses, in closed form.

    For softmax regression with logits :math:`z = W^\top x + b` and :math:`p = \mathrm{softmax}(z)`, the
    mean cross-entropy over a client's m examples plus :math:`\tfrac{\ell_2}{2}\lVert\theta\rVert^2` has
    gradient :math:`\nabla_W = \tfrac1m \sum_j x_j (p_j - e_{y_j})^\top + \ell_2 W`,
    :math:`\nabla_b = \tfrac1m \sum_j (p_j - e_{y_j}) + \ell_2 b`: one einsum instead of a backward pass
    (the same residual p − y that the DP path clips, :func:`private_pair_gradients`).
    :func:`pair_gradients` with autograd is the reference it is tested against.
    """
    S, L, h, P = theta.shape
    k, m = X.shape[1], X.shape[2]
    pairs = theta.unsqueeze(3).expand(S, L, h, k, P)
    logp = _logreg_log_probs(pairs, X, C)  # (S, Λ, h, k, C, m)
    onehot = F_.one_hot(Y, C).to(X.dtype).transpose(-1, -2)[:, None, None]  # (S, 1, 1, k, C, m)
    r = (logp.exp() - onehot) / m
    g = torch.cat([torch.einsum("skmd,slhkcm->slhkdc", X, r).flatten(-2), r.sum(-1)], -1) + cfg.l2 * pairs
    ce = -(logp * onehot).sum((-2, -1)) / m
    return g, ce + 0.5 * cfg.l2 * (pairs**2).sum(-1)


def pair_gradients(
    cfg: IPGDConfig, theta: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, C: int, *, autograd: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients (S, Λ, h, k, P) and losses (S, Λ, h, k) of k clients' losses at each of the h models.

    Logistic regression takes the closed form (:func:`logreg_pair_gradients`) unless ``autograd``; the MLP
    always takes autograd.
    """
    if cfg.model == "logreg" and not autograd:
        with torch.no_grad():
            return logreg_pair_gradients(cfg, theta, X, Y, C)
    k = X.shape[1]
    pairs = theta.unsqueeze(3).expand(*theta.shape[:3], k, theta.shape[-1]).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        losses = _pair_losses(cfg, pairs, X, Y, C)
        (grads,) = torch.autograd.grad(losses.sum(), pairs)
    return grads, losses.detach()


def run_ipgd(
    task: FederatedTask, cfg: IPGDConfig, *, seeds: Sequence[int], device: torch.device | str | None = None
) -> IPGDResult:
    """Run Algorithm 1 for all seeds, λ values and honest clients at once."""
    X, Y, C, f, h = task.X, task.Y, task.n_classes, task.f, task.h
    S, n, m, D = X.shape
    if len(seeds) != S:
        raise ValueError(f"seeds must match the task's seed dimension {S}, got {len(seeds)}")
    device = X.device if device is None else torch.device(device)
    lam = torch.as_tensor(cfg.lams, dtype=X.dtype, device=device)
    L = lam.numel()
    theta = init_params(cfg.model, D, C, cfg.hidden, seeds, device, X.dtype)[:, None, None].expand(S, L, h, -1)
    theta = theta.contiguous()
    flip = cfg.attack == "label_flipping"
    honest_mean = cfg.aggregator == "honest_mean"
    if not honest_mean:
        aggregate = make_aggregator(cfg.aggregator, f)
        if not flip:
            attack = attack_against(cfg.attack, aggregate, cfg.attack_params)
    Xc = X if flip else X[:, :h]
    Yc = torch.cat([Y[:, :h], C - 1 - Y[:, h:]], dim=1) if flip else Y[:, :h]
    gen = seeding.generator(int(seeds[0]), "attack", device)
    eye = torch.arange(h, device=device)
    lam_b = lam[None, :, None, None]
    dp_gens = seeding.generators(seeds, "dp-sgd", device) if cfg.private else None
    for _ in range(cfg.T):
        grads, _ = pair_gradients(cfg, theta, Xc, Yc, C)  # (S, L, h, k, P)
        own = grads[:, :, eye, eye]  # ∇L_i(θ_i): (S, L, h, P), never sent, never noised
        honest = grads[:, :, :, :h] if not cfg.private else private_pair_gradients(cfg, theta, Xc, Yc, C, dp_gens)
        if honest_mean or f == 0 and cfg.aggregator == "mean":
            robust = honest.mean(3)
        else:
            inputs = grads if flip else torch.cat([honest, attack(honest, f, generator=gen)], dim=3)
            robust = aggregate(inputs)
        theta = theta - cfg.lr * ((1 - lam_b) * own + lam_b * robust)
    return _evaluate(task, cfg, lam, theta)


def _evaluate(task: FederatedTask, cfg: IPGDConfig, lam: torch.Tensor, theta: torch.Tensor) -> IPGDResult:
    h, C = task.h, task.n_classes
    with torch.no_grad():
        logits = forward(cfg.model, theta.unsqueeze(2), task.X_test, C, cfg.hidden)[:, :, 0]  # model i on test set i
        yt = task.Y_test[:, None].expand(logits.shape[:-1])
        acc = (logits.argmax(-1) == yt).float().mean(-1)
        tl = F_.cross_entropy(logits.flatten(0, -2), yt.flatten(), reduction="none").view(yt.shape).mean(-1)
        _, losses = pair_gradients(cfg, theta, task.X[:, :h], task.Y[:, :h], C)  # (S, L, h, h)
        eye = torch.arange(h, device=theta.device)
        local = losses[:, :, eye, eye]
        lam_b = lam[None, :, None]
        objective = (1 - lam_b) * local + lam_b * losses.mean(-1)
    return IPGDResult(lam, theta, acc, tl, objective, local)


def gradient_dissimilarity_at(
    cfg: IPGDConfig, theta: torch.Tensor, task: FederatedTask
) -> torch.Tensor:
    r""":math:`\frac1{|C|}\sum_{j\in C}\lVert\nabla L_j(\theta) - \nabla L_C(\theta)\rVert^2` at each model in
    ``theta`` (S, Λ, h, P) → (S, Λ, h): the G² of the heterogeneity assumption, measured."""
    h = task.h
    grads, _ = pair_gradients(cfg, theta, task.X[:, :h], task.Y[:, :h], task.n_classes)  # (S, Λ, h, k, P)
    return heterogeneity.gradient_dissimilarity(grads)
