r"""FedPFT's proxy sub-model of MiniLM: the FFNs of the middle layers compressed by neuron saliency.

all-MiniLM-L6-v2 (6 layers, d = 384, d_ff = 1536) with peft LoRA on the attention matrices (query, key,
value, attention output: FedPFT's attention-only LoRA). :func:`compress_ffn` keeps ``keep`` of the 1,536
neurons of each FFN in ``layers`` (1–4 by default: the paper keeps its first and last layer whole) — the
most salient by Eq. 8 (:func:`fedtheory.theory.proxy_tuning.saliency`), or a seeded random choice (the
control) — by slicing the rows of ``intermediate.dense`` and the columns of ``output.dense``; the kept
neurons stay in their original order, so with every neuron kept the proxy computes exactly the full
model's numbers, and the layers left alone are untouched. The LoRA adapters live on attention matrices
that compression does not touch, so they move between proxy and full model as they are
(:func:`~fedtheory.simulators.shared.minilm.trainable_state`, :func:`~fedtheory.simulators.shared.minilm.load_state`).

The baseline FedOT (Offsite-Tuning, Xiao et al. 2023, in FL) is a layer-drop proxy instead: the bottom and top
layers are the *adapter* (they carry LoRA), the middle layers 1–4 become a frozen *emulator* of two of them
(:func:`layer_drop` replaces the others by :class:`PassThrough`, so parameter names stay those of the full
model), distilled to reproduce the middle block's output (:func:`fedtheory.simulators.fedpft.distill.distill_emulator`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_choice, check_scalar
from fedtheory.simulators.shared.minilm import backbone, check_layers, load_lora_model
from fedtheory.theory.proxy_tuning import saliency

__all__ = ["ADAPTER", "ATTENTION", "D_FF", "EMULATOR_DROP", "PassThrough", "compress_ffn", "layer_drop", "load_fedot",
           "load_proxy", "kept_neurons", "pooled_features"]

ATTENTION = ("query", "key", "value", "attention_output")
D_FF = 1536  # all-MiniLM-L6-v2's FFN width
ADAPTER = (0, 5)  # FedOT's adapter: the bottom and the top layer (the paper's 2 + 2 of BERT's 12, scaled to 6)
EMULATOR_DROP = (2, 4)  # FedOT's emulator: layers 1–4 → layers 1 and 3, every other one dropped (uniform layer drop)


def kept_neurons(w_in: torch.Tensor, w_out: torch.Tensor, keep: int, method: str = "saliency",
                 seed: int = 0) -> torch.Tensor:
    """Indices (ascending) of the ``keep`` FFN neurons to keep: largest saliency (Eq. 8) or a seeded random draw.

    ``w_in`` is ``intermediate.dense.weight`` (d_ff × d), ``w_out`` is ``output.dense.weight`` (d × d_ff).
    """
    check_choice("method", method, ("saliency", "random"))
    d_ff = w_in.shape[0]
    keep = check_scalar("keep", keep, int, low=1, high=d_ff)
    if method == "saliency":
        s = saliency(w_in.detach().double().cpu().numpy(), w_out.detach().double().cpu().numpy())
        idx = np.argsort(-s, kind="stable")[:keep]
    else:
        idx = seeding.rng(seed, "random neurons").permutation(d_ff)[:keep]
    return torch.as_tensor(np.sort(idx), device=w_in.device)


@torch.no_grad()
def compress_ffn(model, layers: Sequence[int] = (1, 2, 3, 4), keep: int = 384, method: str = "saliency",
                 seed: int = 0) -> dict[int, torch.Tensor]:
    """Shrink the FFN of each layer in ``layers`` to ``keep`` neurons, in place; returns the kept indices per layer."""
    layers = check_layers(layers)
    out = {}
    for i in layers:
        layer = backbone(model).encoder.layer[i]
        up, down = layer.intermediate.dense, layer.output.dense
        idx = kept_neurons(up.weight, down.weight, keep, method, seed + i)
        new_up = torch.nn.Linear(up.in_features, idx.numel(), device=up.weight.device, dtype=up.weight.dtype)
        new_down = torch.nn.Linear(idx.numel(), down.out_features, device=down.weight.device, dtype=down.weight.dtype)
        new_up.weight.copy_(up.weight[idx]), new_up.bias.copy_(up.bias[idx])
        new_down.weight.copy_(down.weight[:, idx]), new_down.bias.copy_(down.bias)
        for p in (*new_up.parameters(), *new_down.parameters()):
            p.requires_grad_(False)  # frozen, as the backbone is
        layer.intermediate.dense, layer.output.dense = new_up, new_down
        out[i] = idx
    return out


def load_proxy(kind: str = "saliency", *, keep: int = 384, layers: Sequence[int] = (1, 2, 3, 4), r: int = 8,
               lora_alpha: int = 16, seed: int = 0, device: torch.device | str = "cpu"):
    """MiniLM + head + LoRA on the attention matrices of every layer, its FFNs compressed by ``kind``:
    ``"full"`` (no compression: FedPETuning's model), ``"saliency"`` (FedPFT) or ``"random"`` (the control)."""
    check_choice("kind", kind, ("full", "saliency", "random"))
    model = load_lora_model(r, lora_alpha, layers=None, seed=seed, device=device, targets=ATTENTION)
    if kind != "full":
        compress_ffn(model, layers, keep, kind, seed)
    return model


class PassThrough(torch.nn.Module):
    """A dropped encoder layer: returns its input hidden states (a BertLayer's call signature)."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return hidden_states


def layer_drop(model, drop: Sequence[int] = EMULATOR_DROP) -> None:
    """Replace the encoder layers ``drop`` of ``model`` by :class:`PassThrough`, in place (FedOT's emulator)."""
    layers = backbone(model).encoder.layer
    for i in check_layers(drop):
        if any("lora_" in n for n, _ in layers[i].named_parameters()):
            raise ValueError(f"drop: layer {i} carries LoRA; only unadapted (emulator) layers can be dropped")
        layers[i] = PassThrough()


def load_fedot(r: int = 24, lora_alpha: int = 48, *, adapter: Sequence[int] = ADAPTER, seed: int = 0,
               device: torch.device | str = "cpu"):
    """MiniLM + head + LoRA on the attention of the ``adapter`` layers only: FedOT's full model (before
    :func:`layer_drop` makes its emulator). r = 24 on 2 layers has as many LoRA parameters as r = 8 on 6, the
    paper's "same number of trainable parameters for all three methods"; α/r = 2 as FedPFT's 16/8."""
    return load_lora_model(r, lora_alpha, layers=adapter, seed=seed, device=device, targets=ATTENTION)


@torch.no_grad()
def pooled_features(model, examples: int, max_length: int = 32, batch: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pooled last hidden states (N, 384), float64, of the first ``examples`` reviews of the fixed training
    pool (:func:`~fedtheory.simulators.shared.minilm.example_pool`), and their labels (N,)."""
    from fedtheory.simulators.shared.minilm import example_pool, mean_pool, tokenized

    examples = check_scalar("examples", examples, int, low=1)
    tok = tokenized(max_length)
    idx = example_pool(examples, 1, max_length)[0]
    ids, mask = torch.as_tensor(tok["input_ids"][idx]), torch.as_tensor(tok["attention_mask"][idx])
    out = []
    for i in range(0, idx.size, batch):
        h = backbone(model)(input_ids=ids[i : i + batch], attention_mask=mask[i : i + batch]).last_hidden_state
        out.append(mean_pool(h, mask[i : i + batch]).double())
    return torch.cat(out).numpy(), tok["labels"][idx].astype(np.int64)
