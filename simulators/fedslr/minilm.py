r"""FedSLR on the fine-tuning update of a real transformer (MiniLM's top layer), as a :class:`FedSLRTask`.

Model: all-MiniLM-L6-v2 with a binary sequence-classification head (:mod:`fedtheory.simulators.shared.minilm`).
Adapted: the top layer's attention ``query`` and ``value`` and its FFN ``output`` projection, plus the head;
everything else is frozen. Two parametrisations of the same update, run by the same
:func:`~fedtheory.simulators.fedslr.algorithm.run_fedslr`:

- ``"dense"`` (FedSLR, issue 13 part c): :math:`W = W_0 + \Delta W` for each adapted matrix, W₀ frozen and
  ΔW (out × in, starting at 0) the 2-D parameter that the server thresholds to a low-rank global update
  ΔL (nuclear norm) and the clients' stage 2 sparsifies into S_i (ℓ₁); the personalised matrix is
  :math:`W_0 + \Delta L + S_i`. The head's weight (2 × 384) is a 2-D parameter too, its bias 1-D.
- ``"lora"`` (federated LoRA): :math:`W = W_0 + \frac{\alpha_{\mathrm{LoRA}}}{r}BA` through peft, the factors
  A (r × in, Kaiming-uniform as peft draws it) and B (out × r, 0) the parameters; with α = λ = 0 and no
  stage 2, :func:`run_fedslr` is FedAvg of the factors.

Clients. The fine-food sample has one review per product (5,000 products in 5,000 reviews), so a split by
product is impossible; clients get Dirichlet(α) label skew over the pool's training reviews and test
sets drawn with their own label mix from the pool's test reviews
(:func:`~fedtheory.simulators.shared.federated_data.make_federated_task`).

Cost. The layers below the adapted one never change: their output is computed once per process
(:func:`~fedtheory.simulators.shared.minilm.prefix_features`). A step runs the top layer, mean pooling
and the head for every (seed, client) at once, ``torch.func.vmap`` over the stacked per-client
parameters, and one backward pass of the summed client losses gives every client's gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import vmap

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_choice, check_scalar, check_seeds, require_ints
from fedtheory.simulators.shared.federated_data import make_federated_task
from fedtheory.simulators.shared.minilm import (
    LORA_TARGETS,
    TopModel,
    load_lora_model,
    mask4d,
    prefix_features,
)

__all__ = ["MiniLMConfig", "MiniLMTask"]

_HEAD = "base_model.model.classifier.modules_to_save.default."


@dataclass(frozen=True)
class MiniLMConfig:
    """Clients, data pool and adapted modules of the MiniLM FedSLR task."""

    n: int = 6  # clients
    m: int = 32  # training reviews per client
    alpha: float = 0.3  # Dirichlet label skew
    test_per_client: int = 32
    train_examples: int = 1000  # the fixed pool the clients are drawn from
    test_examples: int = 500
    max_length: int = 32  # tokens per review
    layer: int = 5  # the adapted layer (the top one)
    targets: tuple[str, ...] = ("query", "value", "output")
    parametrisation: str = "dense"  # "dense": W₀ + ΔW (FedSLR); "lora": W₀ + (α/r)BA
    r: int = 8
    lora_alpha: int = 16

    def __post_init__(self) -> None:
        require_ints(self, {"n": 1, "m": 1, "test_per_client": 1, "train_examples": 1, "test_examples": 1,
                            "max_length": 2, "r": 1, "lora_alpha": 1})
        check_scalar("alpha", self.alpha, low=0, low_open=True)
        check_scalar("layer", self.layer, int, low=0, high=5)
        check_choice("parametrisation", self.parametrisation, ("dense", "lora"))
        if not self.targets or any(t not in LORA_TARGETS for t in self.targets):
            raise ValueError(f"targets must be a non-empty subset of {tuple(LORA_TARGETS)}, got {self.targets!r}")
        if self.n * self.m > self.train_examples:
            raise ValueError(f"m must lie in [1, {self.train_examples // self.n}] (n·m <= train_examples), got {self.m}")


class MiniLMTask:
    """FedSLR's clients on MiniLM: parameters name → (S, …); ``grads`` and ``test_loss`` per (seed, client)."""

    def __init__(self, cfg: MiniLMConfig, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.cfg, self.seeds = cfg, check_seeds(seeds)
        self.device = torch.device(device)
        self.model = load_lora_model(cfg.r, cfg.lora_alpha, layers=(cfg.layer,), targets=cfg.targets, seed=0,
                                     device=self.device)
        self.top = TopModel(self.model, cfg.layer)
        data = prefix_features(self.model, cfg.layer, cfg.train_examples, cfg.test_examples, cfg.max_length)
        self.hidden, self.mask = data["hidden"], data["mask"]
        y = data["labels"].cpu().numpy()
        pos = np.arange(y.size, dtype=np.float64)[:, None]  # pool positions ride through the partition as features
        fed = make_federated_task(pos[: cfg.train_examples], y[: cfg.train_examples], pos[cfg.train_examples:],
                                  y[cfg.train_examples:], n=cfg.n, f=0, m=cfg.m, alpha=cfg.alpha, seeds=self.seeds,
                                  test_per_client=cfg.test_per_client, device=self.device, dtype=torch.float64)
        self.pos, self.pos_test = fed.X[..., 0].long(), fed.X_test[..., 0].long()  # (S, n, m), (S, n, T)
        self.Y, self.Y_test, self.label_dist = fed.Y, fed.Y_test, fed.label_dist
        self.n, self.m = cfg.n, cfg.m
        layer = f"base_model.model.bert.encoder.layer.{cfg.layer}."
        self._module = {t: layer + LORA_TARGETS[t] for t in cfg.targets}
        params = dict(self.model.named_parameters())
        self.W0 = {t: params[p + ".base_layer.weight"].detach() for t, p in self._module.items()}
        self.dtype = self.hidden.dtype

    # ----------------------------------------------------------------- parameters
    def init(self) -> dict[str, torch.Tensor]:
        """Per seed: ΔW = 0 (dense) or LoRA A Kaiming-uniform, B = 0 (lora); head weight N(0, 0.02²), bias 0."""
        S, dev, dt = len(self.seeds), self.device, self.dtype
        std = float(self.model.config.initializer_range)  # BERT's head initialisation
        heads, A = [], {t: [] for t in self.cfg.targets}
        for s in self.seeds:
            g = seeding.generator(s, "init")
            heads.append(torch.randn(2, self.hidden.shape[-1], generator=g, dtype=torch.float64) * std)
            for t in self.cfg.targets:  # peft's kaiming_uniform_(a=√5): U(−1/√in, 1/√in)
                fan_in = self.W0[t].shape[1]
                A[t].append((torch.rand(self.cfg.r, fan_in, generator=g, dtype=torch.float64) * 2 - 1) / np.sqrt(fan_in))
        out = {"head": torch.stack(heads).to(dev, dt), "head_bias": torch.zeros(S, 2, device=dev, dtype=dt)}
        for t in self.cfg.targets:
            out_dim = self.W0[t].shape[0]
            if self.cfg.parametrisation == "dense":
                out[t] = torch.zeros(S, *self.W0[t].shape, device=dev, dtype=dt)
            else:
                out[f"{t}.A"] = torch.stack(A[t]).to(dev, dt)
                out[f"{t}.B"] = torch.zeros(S, out_dim, self.cfg.r, device=dev, dtype=dt)
        return out

    def _peft_params(self, w: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The (M, …) stacked client parameters as the peft model's tensors (names without the ``m.``)."""
        out = {_HEAD + "weight": w["head"], _HEAD + "bias": w["head_bias"]}
        for t, mod in self._module.items():
            if self.cfg.parametrisation == "dense":
                out[mod + ".base_layer.weight"] = self.W0[t] + w[t]
            else:
                out[mod + ".lora_A.default.weight"] = w[f"{t}.A"]
                out[mod + ".lora_B.default.weight"] = w[f"{t}.B"]
        return out

    def logits(self, w: dict[str, torch.Tensor], pos: torch.Tensor) -> torch.Tensor:
        """(S, n, B, 2) logits of the client parameters w (name → (S, n, …)) on pool positions ``pos`` (S, n, B)."""
        S, n, B = pos.shape
        params = self._peft_params({k: v.flatten(0, 1) for k, v in w.items()})
        flat = pos.flatten(0, 1)

        def one(prm, p):
            return self.top.functional(prm, self.hidden[p], mask4d(self.mask[p], self.dtype))

        return vmap(one)(params, flat).view(S, n, B, -1)

    def grads(self, w: dict[str, torch.Tensor], idx: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """∇f_i of the mean cross-entropy at each client's parameters, on all its reviews or on ``idx`` (S, n, B)."""
        pos, Y = self.pos, self.Y
        if idx is not None:
            pos, Y = torch.gather(pos, 2, idx), torch.gather(Y, 2, idx)
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in w.items()}
        with torch.enable_grad():
            z = self.logits(leaves, pos)
            ce = torch.nn.functional.cross_entropy(z.flatten(0, 2), Y.flatten(), reduction="sum") / pos.shape[2]
            g = torch.autograd.grad(ce, list(leaves.values()))
        return dict(zip(leaves, g))

    def test_loss(self, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """(S, n) test error rate of each client's parameters on its own test reviews."""
        with torch.no_grad():
            pred = self.logits(w, self.pos_test).argmax(-1)
        return (pred != self.Y_test).to(torch.float64).mean(-1)
