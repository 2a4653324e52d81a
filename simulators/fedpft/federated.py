r"""Federated LoRA through a proxy, plugged into the full model: FedPFT, its ablations, FedOT and FedPETuning.

Clients tune the trainable state — LoRA factors and the classification head — on a *proxy* of MiniLM
(:mod:`fedtheory.simulators.fedpft.proxy_model`): the saliency-compressed model (FedPFT), the layer-drop
emulator (FedOT), or the full model itself (FedPETuning). The server averages the states (FedAvg of the
factors, weighted by client size, every client every round) and, at the end, plugs them into the full model,
which is what is evaluated: the proxy's and the full model's parameters have the same names, so the state moves
as it is (:func:`~fedtheory.simulators.shared.minilm.load_state`).

Neuron-level alignment during training (FedPFT §3.5.2), every ``align_every`` rounds after aggregation: the
current state is loaded into both models; the APoZ of each compressed FFN neuron (Eq. 14 as printed, the
fraction of exactly-zero activations, :func:`~fedtheory.theory.proxy_tuning.apoz`) is measured on each client's
first ``apoz_examples`` training reviews and averaged over clients weighted by size
(the paper computes it on the clients and does not say how the server combines them: **reconstructed**); the
``align_fraction`` q of neurons with the highest APoZ (the least active: "low saliency") are distilled by Eq. 13
against the full model with the current adapters (:func:`~fedtheory.simulators.fedpft.distill.distill_ffn` with
``update``), one pass over ``align_steps`` × ``align_batch`` corpus texts — the paper's 0.02 epoch of its
corpus; the others stay as they are. ``selection="random"`` draws the q neurons at random instead (the control).

GELU is exactly 0 only at 0 in exact arithmetic; in float32, 0.5·x·(1 + erf(x/√2)) rounds to 0 for x below about
−5.5, so the printed count marks neurons with strongly negative pre-activations. Each alignment records how
many activations were exactly 0, how many neurons had any, and how much of the choice the ReLU-reading of
Eq. 14 for GELU (:func:`~fedtheory.theory.proxy_tuning.apoz_nonpositive`, O ≤ 0) would share.

Local steps: AdamW (reset every round) at a learning rate that decays linearly over rounds (the paper's
set-up), minibatches drawn without replacement from the client's reviews. The seed draws the Dirichlet
partition, the batches and the random selections; the initialisation is the models' (their ``seed``), so runs
of different proxies with one seed share partition, initial state and batches (common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_choice, check_scalar, require_ints, require_positive
from fedtheory.simulators.shared.minilm import (
    TopModel,
    correct,
    fedavg,
    load_state,
    mask4d,
    prefix_features,
    trainable_state,
)
from fedtheory.simulators.shared.partition import dirichlet

__all__ = ["ProxyLoRAConfig", "SELECTIONS", "run_proxy_lora", "select_neurons"]

SELECTIONS = ("apoz", "random")


@dataclass(frozen=True)
class ProxyLoRAConfig:
    """One federated LoRA run through a proxy (all clients every round)."""

    n: int = 4  # clients
    alpha: float = 1.0  # Dirichlet label skew (the paper's Dir-1.0)
    rounds: int = 4
    local_steps: int = 4
    batch_size: int = 8
    max_length: int = 32
    lr: float = 1e-3  # AdamW, decayed linearly to 0 over the rounds (the paper's grid: 4e-4–1e-3)
    train_examples: int = 800
    test_examples: int = 200
    align_every: int = 0  # rounds between neuron-level alignments; 0: none
    align_fraction: float = 0.5  # q, the paper's 0.5
    align_steps: int = 8
    align_batch: int = 32
    apoz_examples: int = 32  # per client
    selection: str = "apoz"
    corpus_examples: int = 800  # fortunes the alignment draws from (those of the distillation before training)

    def __post_init__(self) -> None:
        require_ints(self, {"n": 1, "rounds": 1, "local_steps": 1, "batch_size": 1, "max_length": 8,
                            "train_examples": 2, "test_examples": 1, "align_every": 0, "align_steps": 1,
                            "align_batch": 1, "apoz_examples": 1, "corpus_examples": 1})
        require_positive(self, "lr", "alpha")
        check_scalar("align_fraction", self.align_fraction, low=0, high=1, low_open=True)
        check_choice("selection", self.selection, SELECTIONS)
        check_scalar("train_examples", self.train_examples, int, low=2, high=4000)  # the fine-food splits
        check_scalar("test_examples", self.test_examples, int, low=1, high=1000)


def select_neurons(scores: dict[int, np.ndarray], fraction: float, selection: str = "apoz",
                   gen: torch.Generator | None = None) -> dict[int, torch.Tensor]:
    """Per layer, the positions of the ⌈q·d′⌉ neurons to align: the highest APoZ ``scores`` (ties: lowest position
    first) or, for ``selection="random"``, a uniform draw from ``gen``."""
    check_choice("selection", selection, SELECTIONS)
    check_scalar("fraction", fraction, low=0, high=1, low_open=True)
    out = {}
    for i, s in scores.items():
        k = int(np.ceil(fraction * s.size))
        if selection == "apoz":
            idx = np.argsort(-np.asarray(s), kind="stable")[:k]
        else:
            idx = torch.randperm(s.size, generator=gen)[:k].numpy()
        out[i] = torch.as_tensor(np.sort(idx))
    return out


def run_proxy_lora(cfg: ProxyLoRAConfig, full, proxy, *, seed: int = 0, compressed: Sequence[int] = (),
                   progress: bool = False) -> dict:
    """Federated LoRA on ``proxy`` (a peft model with ``full``'s trainable names; ``proxy is full`` for
    FedPETuning), evaluated on ``full`` with the final state plugged in.

    ``compressed``: the layers whose FFNs the alignment may update (FedPFT's 1–4); needed when
    ``cfg.align_every`` > 0.

    Returns ``test_acc`` (the full model with the plugged state), ``proxy_test_acc`` (the proxy itself),
    ``majority_acc`` (the majority class's share of the test reviews),
    ``test_correct`` (the full model's per-review correctness, (test_examples,)), ``train_loss`` (mean local loss
    per round), and for every alignment its round (``align_rounds``), the exact zeros among the FFN activations it
    measured (``exact_zeros``, ``activations``), the compressed neurons with at least one (``zero_neurons``, of
    ``neurons``), and the fraction of the chosen neurons that the non-positive reading of Eq. 14 would also choose
    (``nonpositive_overlap``).
    """
    from fedtheory.simulators.fedpft.distill import corpus_tokens, distill_ffn, ffn_activations
    from fedtheory.theory.proxy_tuning import apoz, apoz_nonpositive

    if cfg.align_every and not compressed:
        raise ValueError("compressed: name the compressed layers to align (align_every > 0)")
    top, top_full = TopModel(proxy, 0), TopModel(full, 0)
    data = prefix_features(proxy, 0, cfg.train_examples, cfg.test_examples, cfg.max_length)  # embeddings: shared
    y_train = data["labels"][: cfg.train_examples].cpu().numpy()
    parts = dirichlet(y_train, cfg.n, cfg.alpha, seed=seed, min_size=max(2, cfg.batch_size))
    sizes = [len(p) for p in parts]
    gen = seeding.generator(int(seed), "proxy lora batches")
    align_gen = seeding.generator(int(seed), "alignment")
    state = trainable_state(proxy)
    corpus = corpus_tokens(cfg.corpus_examples, cfg.max_length) if cfg.align_every else None
    out: dict[str, list] = {"train_loss": [], "align_rounds": [], "exact_zeros": [], "activations": [],
                            "zero_neurons": [], "neurons": [], "nonpositive_overlap": []}
    rounds = range(cfg.rounds)
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc="proxy LoRA rounds", unit="round", leave=False)
    for rnd in rounds:
        lr = cfg.lr * (1 - rnd / cfg.rounds)
        client_states, losses = [], []
        for part in parts:
            load_state(proxy, state)
            params = [p for p in proxy.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
            for _ in range(cfg.local_steps):
                pick = torch.as_tensor(part)[torch.randperm(len(part), generator=gen)[: cfg.batch_size]]
                h, m, y = data["hidden"][pick], data["mask"][pick], data["labels"][pick]
                loss = torch.nn.functional.cross_entropy(top(h, mask4d(m, h.dtype)), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            client_states.append(trainable_state(proxy))
        state = fedavg(client_states, sizes)
        out["train_loss"].append(float(np.mean(losses)))
        if cfg.align_every and (rnd + 1) % cfg.align_every == 0 and rnd + 1 < cfg.rounds:
            load_state(proxy, state)
            load_state(full, state)  # the teacher: the full model with the current adapters
            scores, zeros, total, signed = {}, 0, 0, {}
            for part, size in zip(parts, sizes):
                pick = torch.as_tensor(part[: cfg.apoz_examples])
                acts = ffn_activations(proxy, compressed, data["hidden"][pick], data["mask"][pick])
                for i, a in acts.items():
                    zeros, total = zeros + int((a == 0).sum()), total + a.numel()
                    a = a.double().numpy()
                    scores[i] = scores.get(i, 0.0) + size / sum(sizes) * apoz(a)
                    signed[i] = signed.get(i, 0.0) + size / sum(sizes) * apoz_nonpositive(a)
            chosen = select_neurons(scores, cfg.align_fraction, cfg.selection, align_gen)
            other = select_neurons(signed, cfg.align_fraction, "apoz")
            texts = torch.randperm(cfg.corpus_examples, generator=align_gen)[: cfg.align_steps * cfg.align_batch]
            distill_ffn(full, proxy, list(compressed), corpus[0][texts], corpus[1][texts], epochs=1,
                        batch=cfg.align_batch, seed=int(seed) + rnd, update=chosen)
            state = trainable_state(proxy)  # unchanged: the alignment moves the frozen FFNs only
            out["align_rounds"].append(rnd)
            out["exact_zeros"].append(zeros)
            out["activations"].append(total)
            out["zero_neurons"].append(int(sum((v > 0).sum() for v in scores.values())))
            out["neurons"].append(int(sum(v.size for v in scores.values())))
            out["nonpositive_overlap"].append(float(np.mean([np.isin(chosen[i], other[i]).mean() for i in chosen])))
    load_state(full, state)
    load_state(proxy, state)
    test_pos = torch.arange(cfg.train_examples, cfg.train_examples + cfg.test_examples)
    correct_full = _correct(top_full, data, test_pos)
    share = float(data["labels"][test_pos].double().mean())
    return {**{k: np.asarray(v) for k, v in out.items()}, "test_acc": np.array(correct_full.mean()),
            "majority_acc": np.array(max(share, 1 - share)),
            "proxy_test_acc": np.array((correct_full if proxy is full else _correct(top, data, test_pos)).mean()),
            "test_correct": correct_full,
            "partition_sizes": np.asarray(sizes)}


def _correct(top: TopModel, data, pos) -> np.ndarray:
    return correct(top, data, pos).cpu().numpy().astype(np.float64)
