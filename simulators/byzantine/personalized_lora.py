r"""Algorithm 1 of the Byzantine-robust personalization paper (arXiv 2409.20329) on LoRA parameters of a real transformer.

Every honest client i keeps its own LoRA factors and head θᵢ (all-MiniLM-L6-v2 + peft, as in
:mod:`fedtheory.simulators.la_lora.federated_lora`) and takes interpolated steps

.. math::
    \theta_i \leftarrow \theta_i - \eta\big[(1-\lambda)\,\nabla L_i(\theta_i) + \lambda\,F(g_1, \dots, g_n)\big],

where every honest client sends its minibatch gradient at its own θᵢ, the f Byzantine clients send
attack vectors built from the honest ones (:mod:`fedtheory.simulators.shared.attacks`) and F is a robust aggregator
(:mod:`fedtheory.simulators.shared.aggregators`, default server clipping → NNM → trimmed mean). λ = 0 is local
training, λ = 1 robust federated training of one model.

Batched: the λ grid and the honest clients are one leading tensor dimension of the trainable
parameters; gradients come from ``vmap(grad(functional_call))`` over it, so a step is one batched
forward/backward through the adapted layers (the frozen prefix is cached).

Accuracy is personalized: each client's model is scored on the common test pool with class weights
equal to its own label distribution, Σ_c p_i(c)·acc_c(θᵢ), i.e. on test data drawn like its training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import grad, vmap

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.aggregators import make_aggregator
from fedtheory.simulators.shared.attacks import attack_against
from fedtheory.simulators.shared.config import check_lams, check_n_f, require_ints, require_positive
from fedtheory.simulators.shared.heterogeneity import gradient_dissimilarity, tv_distance
from fedtheory.simulators.shared.minilm import (
    TopModel,
    check_layers,
    encoder_layers,
    first_adapted_layer,
    load_lora_model,
    mask4d,
    prefix_features,
)
from fedtheory.simulators.shared.partition import dirichlet, label_distributions

__all__ = ["PersonalizedLoRAConfig", "run_personalized_lora"]


@dataclass(frozen=True)
class PersonalizedLoRAConfig:
    """Sizes of one run of Algorithm 1 on LoRA parameters: n clients of which f are Byzantine."""

    n: int = 8
    f: int = 2
    alpha: float = 0.3  # Dirichlet label skew of the honest clients
    m: int = 64  # training examples per honest client
    steps: int = 30
    batch_size: int = 8
    lr: float = 0.5  # plain gradient steps, as in Algorithm 1
    r: int = 8
    lora_alpha: int = 16
    layers: tuple[int, ...] | None = (5,)
    max_length: int = 64
    train_examples: int = 2000
    test_examples: int = 400
    aggregator: str = "server_clip+nnm+trimmed_mean"
    attack: str = "sign_flipping"
    attack_params: dict = field(default_factory=dict, hash=False, compare=True)
    encoder: str | None = None  # a local BERT/RoBERTa-style checkpoint directory; None: MiniLM from its package

    def __post_init__(self) -> None:
        require_ints(self, {"n": 2, "f": 0, "m": 1, "steps": 1, "batch_size": 1, "r": 1,
                            "lora_alpha": 1, "max_length": 8, "train_examples": 2, "test_examples": 1})
        require_positive(self, "lr", "alpha")
        check_n_f(self.n, self.f)
        if self.m * self.honest > self.train_examples:
            raise ValueError(f"m must lie in [1, {self.train_examples // self.honest}] (m·(n − f) <= train_examples"
                             f" = {self.train_examples}), got {self.m}")
        object.__setattr__(self, "layers", check_layers(self.layers, encoder_layers(self.encoder)))
        attack_against(self.attack, make_aggregator(self.aggregator, self.f), self.attack_params)

    @property
    def honest(self) -> int:
        return self.n - self.f


def _unflatten(theta: torch.Tensor, shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    out, i = {}, 0
    for n, s in shapes.items():
        k = int(np.prod(s))
        out[n] = theta[..., i : i + k].reshape(*theta.shape[:-1], *s)
        i += k
    return out


def run_personalized_lora(cfg: PersonalizedLoRAConfig, lams: Sequence[float], *, seed: int = 0,
                          device: torch.device | str = "cpu", progress: bool = False) -> dict[str, np.ndarray]:
    """Algorithm 1 for every λ in ``lams`` at once.

    Returns ``accuracy`` (Λ, h) personalized test accuracy, ``per_class`` (Λ, h, 2) the class-wise
    test accuracies it weights, ``label_dist`` (h, 2), ``phi`` (h,)
    total-variation distance between each client's label distribution and the honest clients'
    pooled one, ``G2`` the gradient dissimilarity (1/h)Σᵢ ‖∇Lᵢ − mean_j ∇Lⱼ‖² over full local data
    (:func:`~fedtheory.simulators.shared.heterogeneity.gradient_dissimilarity`; the larger of its values at
    the initial point and at the λ = 1 model, since the assumption bounds it for every θ), ``pdim`` the number of
    trainable parameters.
    """
    lam = torch.as_tensor(check_lams(lams))
    device = torch.device(device)
    model = load_lora_model(cfg.r, cfg.lora_alpha, layers=cfg.layers, seed=seed, device=device, encoder=cfg.encoder)
    top = TopModel(model, first_adapted_layer(model))
    data = prefix_features(model, top.start, cfg.train_examples, cfg.test_examples, cfg.max_length)
    h, f, L = cfg.honest, cfg.f, lam.numel()
    y_np = data["labels"][: cfg.train_examples].cpu().numpy()
    parts = np.stack(dirichlet(y_np, h, cfg.alpha, m=cfg.m, seed=seed))  # (h, m) pool positions
    p = label_distributions(y_np, parts, 2)  # (h, 2)
    phi = tv_distance(p, p.mean(0))

    init = {n: q.detach() for n, q in model.named_parameters() if q.requires_grad}
    shapes = {n: v.shape for n, v in init.items()}
    theta0 = torch.cat([v.flatten() for v in init.values()])
    theta = theta0.expand(L, h, -1).clone()  # (Λ, h, P)
    lam_d = lam.to(theta)[:, None, None]
    agg = make_aggregator(cfg.aggregator, f)
    attack = attack_against(cfg.attack, agg, cfg.attack_params)
    gen = seeding.generator(int(seed), "batches and attack")
    dtype = data["hidden"].dtype

    def loss(flat, hid, mask, y):
        logits = top.functional(_unflatten(flat, shapes), hid, mask4d(mask, dtype))
        return torch.nn.functional.cross_entropy(logits, y)

    batched_grad = vmap(grad(loss))

    def grads(th: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Gradients (M, P) of models th (M, P) on pool positions pos (M, B)."""
        return batched_grad(th, data["hidden"][pos], data["mask"][pos], data["labels"][pos])

    parts_t = torch.as_tensor(parts, device=device)
    steps = range(cfg.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"Algorithm 1 (f={f})", unit="step", leave=False)
    for _ in steps:
        pick = torch.stack([torch.randperm(cfg.m, generator=gen)[: cfg.batch_size] for _ in range(h)]).to(device)
        pos = torch.gather(parts_t, 1, pick).expand(L, h, -1).reshape(L * h, -1)  # same batch for every λ
        g = grads(theta.reshape(L * h, -1), pos).reshape(L, h, -1)
        byz = attack(g, f, generator=gen) if f > 0 else g[:, :0]
        F = agg(torch.cat([g, byz], 1))  # (Λ, P)
        theta = theta - cfg.lr * ((1 - lam_d) * g + lam_d * F[:, None])

    def dissimilarity(th: torch.Tensor) -> float:  # th (P,): every client's full-data gradient there
        return float(gradient_dissimilarity(grads(th.expand(h, -1), parts_t)))

    G2 = max(dissimilarity(theta0), dissimilarity(theta[-1].mean(0)) if bool(lam[-1] == 1) else 0.0)
    per_class = _per_class_accuracy(top, shapes, theta, data, cfg)  # (Λ, h, 2)
    acc = (per_class * torch.as_tensor(p, device=device, dtype=per_class.dtype)[None]).sum(-1)
    return {"accuracy": acc.cpu().numpy(), "per_class": per_class.cpu().numpy(), "label_dist": p, "phi": phi, "G2": np.array(G2),
            "pdim": np.array(theta0.numel()), "lams": lam.numpy()}


@torch.no_grad()
def _per_class_accuracy(top: TopModel, shapes, theta: torch.Tensor, data, cfg: PersonalizedLoRAConfig,
                        chunk: int = 50) -> torch.Tensor:
    """acc_c(θ_{λ,i}) on the test pool: (Λ, h, 2), float64."""
    L, h, P = theta.shape
    # each distinct model once: at λ = 1 all h clients take the same steps from the same start (bit for bit)
    flat, inverse = torch.unique(theta.reshape(L * h, P), dim=0, return_inverse=True)
    test = torch.arange(cfg.train_examples, cfg.train_examples + cfg.test_examples, device=theta.device)
    y = data["labels"][test]
    correct = []
    fwd = vmap(lambda th, hid, mask: top.functional(_unflatten(th, shapes), hid, mask4d(mask, hid.dtype)),
               in_dims=(0, None, None))
    for i in range(0, test.numel(), chunk):
        j = test[i : i + chunk]
        correct.append(fwd(flat, data["hidden"][j], data["mask"][j]).argmax(-1) == y[i : i + chunk])
    c = torch.cat(correct, 1).double()[inverse]  # (Λh, N)
    return torch.stack([c[:, y == k].mean(1) for k in range(2)], -1).reshape(L, h, 2)
