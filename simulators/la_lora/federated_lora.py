r"""Federated (DP) LoRA fine-tuning of a real pretrained transformer (LA-LoRA, arXiv 2602.19926, on MiniLM).

Model, data and per-example gradients: :mod:`fedtheory.simulators.shared.minilm` (all-MiniLM-L6-v2 +
peft LoRA on query/value, the frozen prefix cached, the 5,000 fine-food reviews). Clients by Dirichlet(α)
label skew (the seed draws the partition, the initialization and the sampling).

Local steps: SGD (the DP-SGD of the DP-LoRA literature; AdamW selectable) on the parameters
*released* at that step: ``lora`` and ``dp_lora`` both factors, ``ffa_lora`` B only, ``rolora`` B
in even and A in odd rounds, ``la_lora`` B at even and A at odd local steps, ``la_lora_filter`` as
``la_lora`` with the noisy gradient smoothed by [1,4,6,4,1]/16 (post-processing); the head always.
The schedule is :func:`fedtheory.simulators.shared.lora.trained_factors`, shared with the synthetic simulator.

DP (per client, record level), when ``epsilon`` or ``noise_multiplier`` is set: Poisson sampling with
q = batch/|client|, per-example gradients of the released parameters by opacus' hooks
(:func:`fedtheory.simulators.shared.minilm.hooked_per_example_grads`: one forward and backward, the cost of
a plain step; torch.func's :func:`~fedtheory.simulators.shared.minilm.per_example_grads` is the tested
reference), joint clipping to C, sum,
N(0, σ²C²) per entry, division by the expected batch. With ``epsilon`` the noise multiplier is
calibrated by the opacus RDP accountant (:func:`fedtheory.theory.privacy.noise_multiplier`) for the client
with the largest q over ``rounds × local_steps`` steps, so every client is (ε, δ)-DP.

Server: FedAvg of the factors (A and B averaged separately) weighted by client size, or a robust
rule of :mod:`fedtheory.simulators.shared.aggregators` on the flattened client states (``aggregator``, ``f``).

The federated state is checkpointed after every round; a rerun with the same checkpoint path resumes
and gives identical numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fedtheory.simulators.shared import lora, seeding
from fedtheory.simulators.shared.aggregators import make_aggregator
from fedtheory.simulators.shared.config import check_choice, check_n_f, check_scalar, require_ints, require_positive
from fedtheory.simulators.shared.dp import clip_factor, noise_for_epsilon, noisy_mean
from fedtheory.simulators.shared.minilm import (
    TopModel,
    aggregate,
    autocast,
    check_layers,
    correct,
    coupling,
    encoder_layers,
    evaluate,
    first_adapted_layer,
    hooked_per_example_grads,
    load_lora_model,
    load_state,
    mask4d,
    prefix_features,
    trainable_state,
)
from fedtheory.simulators.shared.partition import dirichlet

__all__ = ["FedLoRAConfig", "TRANSFORMER_METHODS", "calibrated_noise", "client_round", "run_federated_lora",
           "setup_run"]

#: the DP methods of :mod:`fedtheory.simulators.shared.lora`, and ``lora``: both factors, no privacy
#: plain (non-private) federated LoRA, then the DP methods of :data:`~fedtheory.simulators.shared.lora.METHODS`
TRANSFORMER_METHODS = ("lora", *lora.METHODS)
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class FedLoRAConfig:
    """One federated LoRA run.

    Privacy: ``epsilon`` (calibrates σ, with ``delta``) or ``noise_multiplier`` (σ directly); neither
    set means non-private (no clipping, no noise), for every method's schedule.
    """

    method: str = "lora"
    n: int = 4  # clients
    alpha: float = 1.0  # Dirichlet label skew
    m: int | None = None  # examples per client (label skew at equal sizes); None: the pool split by Dirichlet(α)
    rounds: int = 3
    local_steps: int = 5
    batch_size: int = 16  # expected batch (Poisson rate = batch_size / client size under DP)
    max_length: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05  # optimizer state (momentum, AdamW moments) reset every round
    momentum: float = 0.0  # SGD heavy-ball momentum (post-processing of the noisy gradients: no privacy cost)
    r: int = 8
    lora_alpha: int = 16
    layers: tuple[int, ...] | None = None  # adapted layers; None = all six
    epsilon: float | None = None
    delta: float = 1e-5
    noise_multiplier: float = 0.0
    clip: float = 1.0
    train_examples: int = 2000  # pool: of the 4,000 training reviews
    test_examples: int = 500
    aggregator: str = "mean"  # FedAvg, or a robust rule of fedtheory.simulators.shared.aggregators
    f: int = 0  # inputs the robust aggregator is configured to tolerate (f < n/2)
    bf16: bool = False  # autocast to bfloat16 (GPU; slow on most CPUs)
    probe_examples: int = 64  # training examples of the coupling statistic; 0: not measured (cos NaN)
    probe_from: int = 0  # the coupling is measured from this round on (NaN before): a run that needs only the late ones
    eval_every: int = 1  # test accuracy every this many rounds and after the last (NaN in between)
    encoder: str | None = None  # a local BERT/RoBERTa-style checkpoint directory; None: MiniLM from its package

    def __post_init__(self) -> None:
        check_choice("method", self.method, TRANSFORMER_METHODS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_ints(self, {"n": 1, "rounds": 1, "local_steps": 1, "batch_size": 1, "max_length": 8, "r": 1,
                            "lora_alpha": 1, "train_examples": 2, "test_examples": 1, "f": 0,
                            "probe_examples": 0, "probe_from": 0, "eval_every": 1})
        require_positive(self, "lr", "clip")
        object.__setattr__(self, "layers", check_layers(self.layers, encoder_layers(self.encoder)))
        check_scalar("noise_multiplier", self.noise_multiplier, low=0)
        if self.epsilon is not None:
            if check_scalar("epsilon", self.epsilon, low=0, low_open=True, allow_inf=True) == math.inf:
                object.__setattr__(self, "epsilon", None)
            elif self.noise_multiplier > 0:
                raise ValueError("set epsilon or noise_multiplier, not both")
        check_scalar("delta", self.delta, low=0, high=1, low_open=True, high_open=True)
        if self.private and self.method == "lora":
            raise ValueError("method 'lora' is non-private: use dp_lora, ffa_lora, rolora or la_lora for DP")
        check_scalar("train_examples", self.train_examples, int, low=2, high=4000)  # the fine-food splits
        check_scalar("test_examples", self.test_examples, int, low=1, high=1000)
        if self.m is not None:
            check_scalar("m", self.m, int, low=1, high=self.train_examples // self.n)
        if self.aggregator != "mean":
            check_n_f(self.n, self.f)
            make_aggregator(self.aggregator, self.f)  # raises ValueError naming the rule

    @property
    def private(self) -> bool:
        return self.epsilon is not None or self.noise_multiplier > 0

    @property
    def steps(self) -> int:
        """Local steps per client over the run (the accountant's composition count)."""
        return self.rounds * self.local_steps

    def key(self) -> str:
        """Identity of a run for its checkpoint; ``rounds`` is left out so that a run can be extended.

        With ``epsilon`` set, σ depends on ``rounds``, so it stays in the key.
        """
        d = {k: v for k, v in asdict(self).items() if k != "rounds" or self.epsilon is not None}
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- federated loop
def _released(names: Sequence[str], method: str, rnd: int, step: int) -> list[str]:
    """Trainable parameters updated (and, under DP, released) at this step: the head always."""
    if method == "lora":
        return list(names)
    upd_B, upd_A = lora.trained_factors(method, rnd, step)
    return [n for n in names if ("lora_A" in n and upd_A) or ("lora_B" in n and upd_B) or "lora_" not in n]


def client_round(model, top: TopModel, state: dict[str, torch.Tensor], data, part, cfg: FedLoRAConfig, rnd: int,
                 sigma: float, gen: torch.Generator) -> tuple[dict[str, torch.Tensor], list[float]]:
    """One client's round from the global ``state``: ``cfg.local_steps`` local steps on its pool positions
    ``part`` (optimizer state fresh each round); returns its trainable state after and its step losses."""
    load_state(model, state)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    names = list(params)
    opt = (torch.optim.SGD(params.values(), lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
           else torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=0.0))
    losses = []
    for step in range(cfg.local_steps):
        losses.append(_local_step(top, params, _released(names, cfg.method, rnd, step), data, part, cfg, sigma, gen))
        opt.step()
        opt.zero_grad(set_to_none=True)
    return trainable_state(model), losses


def calibrated_noise(cfg: FedLoRAConfig, client_sizes: Sequence[int]) -> float:
    """σ for (ε, δ) at the largest per-client sample rate over ``cfg.steps`` steps (opacus RDP)."""
    if cfg.epsilon is None:
        return cfg.noise_multiplier
    return noise_for_epsilon(cfg.epsilon, min(1.0, cfg.batch_size / min(client_sizes)), cfg.steps, cfg.delta)


def setup_run(cfg: FedLoRAConfig, seed: int, device: torch.device | str = "cpu"):
    """What a run of ``cfg`` and ``seed`` trains with: the peft model, its :class:`TopModel`, the cached prefix
    ``data`` of the example pool, the clients' pool positions ``parts`` (Dirichlet(α) label skew, equal sizes
    ``m`` when set) and the coupling ``probe`` (training-pool positions)."""
    device = torch.device(device)
    model = load_lora_model(cfg.r, cfg.lora_alpha, layers=cfg.layers, seed=seed, device=device, encoder=cfg.encoder)
    top = TopModel(model, first_adapted_layer(model))
    data = prefix_features(model, top.start, cfg.train_examples, cfg.test_examples, cfg.max_length)
    y_train = data["labels"][: cfg.train_examples].cpu().numpy()
    parts = (dirichlet(y_train, cfg.n, cfg.alpha, cfg.m, seed=seed) if cfg.m is not None else
             dirichlet(y_train, cfg.n, cfg.alpha, seed=seed, min_size=max(2, cfg.batch_size // 2)))
    probe = torch.as_tensor(seeding.rng(int(seed), "probe").permutation(cfg.train_examples)[: cfg.probe_examples],
                            device=device)
    return model, top, data, parts, probe


def run_federated_lora(cfg: FedLoRAConfig, *, seed: int = 0, device: torch.device | str = "cpu",
                       checkpoint: str | Path | None = None, progress: bool = False) -> dict:
    """Run (or resume) one federated LoRA experiment.

    Returns ``history`` (per round: test accuracy every ``eval_every`` rounds and after the last,
    NaN between; mean local loss; coupling cos of the global model's clean gradient on a fixed probe
    batch, NaN when ``probe_examples`` is 0 and before round ``probe_from``), the final ``state``,
    ``test_correct`` (the final model's per-example correctness on the test pool, whose mean is the last
    ``test_acc``), ``partition_sizes``,
    ``noise_multiplier`` (σ used) and ``sample_rates`` (per client).

    ``checkpoint``: a file written after every round (config key, round, global state, history and
    the random generator's state); when it exists for the same config and seed, the run resumes.
    """
    device = torch.device(device)
    model, top, data, parts, probe = setup_run(cfg, seed, device)
    sigma = calibrated_noise(cfg, [len(p) for p in parts])
    state = trainable_state(model)
    history: dict[str, list] = {"round": [], "test_acc": [], "train_loss": [], "cos": []}
    gen = seeding.generator(int(seed), "batches and noise")
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and ckpt.exists():
        saved = torch.load(ckpt, map_location=device, weights_only=True)  # tensors, numbers, lists only
        if saved["key"] != cfg.key() or saved["seed"] != seed:
            raise ValueError(f"checkpoint {ckpt} belongs to another config or seed; remove it or pick another path")
        state, history, start = saved["state"], saved["history"], saved["round"] + 1
        gen.set_state(saved["gen"])
    test_pos = torch.arange(cfg.train_examples, cfg.train_examples + cfg.test_examples, device=device)
    rounds = range(start, cfg.rounds)
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc=f"{cfg.method} rounds", unit="round", leave=False)
    for rnd in rounds:
        client_states, losses = [], []
        for part in parts:
            client_state, client_losses = client_round(model, top, state, data, part, cfg, rnd, sigma, gen)
            client_states.append(client_state)
            losses.extend(client_losses)
        state = aggregate(client_states, [len(p) for p in parts], cfg.aggregator, cfg.f)
        load_state(model, state)
        history["round"].append(rnd)
        last = rnd == cfg.rounds - 1
        if last:  # once: the final accuracy is the mean of the per-example correctness returned
            final_correct = correct(top, data, test_pos, bf16=cfg.bf16)
        history["test_acc"].append(float(final_correct.double().mean()) if last else
                                   evaluate(top, data, test_pos, bf16=cfg.bf16) if (rnd + 1) % cfg.eval_every == 0
                                   else float("nan"))
        history["train_loss"].append(float(np.nanmean(losses)) if np.isfinite(losses).any() else float("nan"))
        history["cos"].append(coupling(_clean_grads(top, state, data, probe, cfg.bf16))
                              if cfg.probe_examples and rnd >= cfg.probe_from else float("nan"))
        if ckpt:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{ckpt.name}-", dir=ckpt.parent)
            with os.fdopen(fd, "wb") as fh:
                torch.save({"key": cfg.key(), "seed": seed, "round": rnd, "state": state, "history": history,
                            "gen": gen.get_state()}, fh)
            os.replace(tmp, ckpt)  # atomic: an interrupted write leaves the previous round's checkpoint
    sizes = [len(p) for p in parts]
    if start >= cfg.rounds:  # resumed from a checkpoint of the last round: nothing left to train
        load_state(model, state)
        final_correct = correct(top, data, test_pos, bf16=cfg.bf16)
    return {"history": history, "state": state, "partition_sizes": sizes, "noise_multiplier": sigma,
            "test_correct": final_correct.cpu().numpy(),
            "sample_rates": [min(1.0, cfg.batch_size / s) for s in sizes]}


def _clean_grads(top: TopModel, state, data, pos, bf16: bool) -> dict[str, torch.Tensor]:
    """Mean (unclipped, noiseless) gradient of the loss on pool positions ``pos`` at ``state``."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in state.items()}
    with autocast(data["hidden"].device, bf16):
        logits = top.functional(params, data["hidden"][pos], mask4d(data["mask"][pos], data["hidden"].dtype))
    g = torch.autograd.grad(torch.nn.functional.cross_entropy(logits.float(), data["labels"][pos]), list(params.values()))
    return dict(zip(params, g))


def _local_step(top: TopModel, params, released, data, part, cfg: FedLoRAConfig, sigma: float,
                gen: torch.Generator) -> float:
    """One local step: sets ``.grad`` of the released parameters (others None); returns the batch loss."""
    n = len(part)
    if cfg.private:  # Poisson sampling, as the accountant assumes
        q = min(1.0, cfg.batch_size / n)
        pick = torch.as_tensor(part)[torch.rand(n, generator=gen) < q]
    else:
        pick = torch.as_tensor(part)[torch.randperm(n, generator=gen)[: cfg.batch_size]]
    device = data["labels"].device
    pick = pick.to(device)
    h, m, y = data["hidden"][pick], data["mask"][pick], data["labels"][pick]
    for p in params.values():
        p.grad = None
    if not cfg.private:
        with autocast(device, cfg.bf16):
            logits = top(h, mask4d(m, h.dtype))
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        for name, p in params.items():
            if name not in released:
                p.grad = None
        return float(loss.detach())
    sub = {k: params[k] for k in released}
    if pick.numel() > 0:
        with autocast(device, cfg.bf16):
            g, losses = hooked_per_example_grads(top, sub, h, m, y)  # one forward and backward, as a plain step
        sq = sum(v.float().flatten(1).pow(2).sum(1) for v in g.values())
        factor = clip_factor(sq, cfg.clip)
        summed = {k: torch.einsum("b,b...->...", factor, v.float()) for k, v in g.items()}
        loss = float(losses.detach().float().mean())
    else:
        summed, loss = {k: torch.zeros_like(v) for k, v in sub.items()}, float("nan")
    expected = cfg.batch_size if cfg.batch_size < n else n
    for k, v in summed.items():
        noisy = noisy_mean(v, torch.randn(v.shape, generator=gen).to(v), sigma * cfg.clip, expected)
        if cfg.method == "la_lora_filter" and "lora_" in k:
            noisy = lora.smooth_factor(noisy, "A" if "lora_A" in k else "B")
        params[k].grad = noisy.to(params[k].dtype)
    return loss
