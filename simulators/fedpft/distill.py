r"""FedPFT's layer-level alignment before federated training (Eq. 13): distil each compressed FFN from the full model.

For every compressed layer i, the proxy's layer gets the full model's input to layer i and is trained to
reproduce the full model's output of layer i on a general-domain corpus (the Debian ``fortunes``
quotations, disjoint from the task):

.. math:: \mathcal L_{KD} = \frac1{L\,M}\sum_{i}\Bigl[\sum_{j=1}^{M}\lVert O_j^{(i)} - O_j'^{(i)}\rVert_2^2
          + \mu\lVert W_1^{(i)}W_2^{(i)} - W_1'^{(i)}W_2'^{(i)}\rVert^2\Bigr]

with O the layer's output per token (the mean over a review's tokens stands for its sum), W₁W₂ the FFN's
linear part (``output.dense.weight @ intermediate.dense.weight``, Frobenius norm). Only the compressed FFNs
train (AdamW, lr 6e-4, weight decay 0.01, linear decay after a 6% warm-up, gradients clipped at 1: the
paper's settings), everything else is frozen. Teacher forcing — each layer fed the full model's input — is
our reading of "layer-level": the layers align independently. **reconstructed** (the paper gives the loss,
not the order of its terms' computation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_scalar
from fedtheory.simulators.shared.minilm import backbone, check_layers, mask4d

__all__ = ["corpus_tokens", "distill_emulator", "distill_ffn", "ffn_activations", "ffn_state", "hidden_error", "load_ffn_state",
           "teacher_states"]


def corpus_tokens(examples: int, max_length: int = 32, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and masks (N, max_length) of ``examples`` fortunes from ``offset`` on, in a fixed shuffled order."""
    from transformers import AutoTokenizer

    from fedtheory.simulators.data.datasets import load
    from fedtheory.simulators.data.text_features import model_path, offline

    texts = load("fortunes", "all").X
    order = seeding.rng(0, "fortunes order").permutation(texts.size)[offset: offset + examples]
    offline()
    tok = AutoTokenizer.from_pretrained(str(model_path()), local_files_only=True)
    enc = tok([str(t) for t in texts[order]], padding="max_length", truncation=True, max_length=max_length,
              return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


@torch.no_grad()
def teacher_states(full, ids, mask, batch: int = 200) -> list[torch.Tensor]:
    """The full model's hidden states (embeddings, then each layer's output), each (N, L, d)."""
    out = []
    for i in range(0, ids.shape[0], batch):
        hs = backbone(full)(input_ids=ids[i: i + batch], attention_mask=mask[i: i + batch],
                         output_hidden_states=True).hidden_states
        out.append(hs)
    return [torch.cat([o[k] for o in out]) for k in range(len(out[0]))]


def _ffn_linear(layer) -> torch.Tensor:
    return layer.output.dense.weight @ layer.intermediate.dense.weight


def _train(params: list[torch.Tensor], batch_loss, n: int, *, epochs: int, lr: float, batch: int, seed: int,
           after_step=None) -> list[float]:
    """The paper's distillation optimiser (AdamW, weight decay 0.01, linear decay after a 6% warm-up, gradients
    clipped at 1) over ``epochs`` passes of shuffled batches of the n texts; ``batch_loss(b)`` is the loss of batch
    ``b`` (indices), ``after_step()`` runs after each step. Returns the mean loss of each epoch."""
    epochs = check_scalar("epochs", epochs, int, low=1)
    check_scalar("lr", lr, low=0, low_open=True)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    total = epochs * -(-n // batch)
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    g = seeding.generator(seed, "distillation batches")
    losses = []
    try:
        for _ in range(epochs):
            order, run = torch.randperm(n, generator=g), []
            for j in range(0, n, batch):
                loss = batch_loss(order[j: j + batch])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                if after_step is not None:
                    after_step()
                run.append(float(loss.detach()))
            losses.append(float(np.mean(run)))
    finally:
        for p in params:
            p.requires_grad_(False)
    return losses


def _token_error(out: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over reviews of the token-mean of ‖O − O′‖² (keep: (B, L) 0/1 mask)."""
    err = ((out - target) ** 2).sum(-1)
    return ((err * keep).sum(1) / keep.sum(1).clamp_min(1.0)).mean()


def distill_ffn(full, proxy, layers: Sequence[int], ids: torch.Tensor, mask: torch.Tensor, *, epochs: int = 5,
                lr: float = 6e-4, batch: int = 64, mu: float = 1e-3, seed: int = 0,
                update: dict[int, torch.Tensor] | None = None) -> list[float]:
    """Train the compressed FFNs of ``proxy`` in ``layers`` by Eq. 13 on the corpus (ids, mask); in place.

    ``update``: per layer, the positions of the neurons that may change (FedPFT's neuron-level alignment during
    training, §3.5.2); the others — their input rows, biases and output columns — and the output bias are restored
    after every step, so that AdamW's decay does not move them either. None: every weight of the FFNs trains
    (the layer-level alignment before training). Returns the loss after each epoch (the mean of Eq. 13 over the
    epoch's batches).
    """
    check_scalar("mu", mu, low=0)
    hs = teacher_states(full, ids, mask)
    m4 = mask4d(mask, hs[0].dtype)
    keep = mask.to(hs[0].dtype)
    blocks = {i: backbone(proxy).encoder.layer[i] for i in layers}
    targets = {i: _ffn_linear(backbone(full).encoder.layer[i]).detach() for i in layers}
    with torch.no_grad():  # the attention is frozen and teacher-forced: its output, the FFN's input, is fixed
        attn = {}
        for i in layers:
            att = blocks[i].attention(hs[i], m4)
            attn[i] = att[0] if isinstance(att, tuple) else att
    params = [p for i in layers for mod in (blocks[i].intermediate.dense, blocks[i].output.dense) for p in mod.parameters()]
    restore = None
    if update is not None:
        if set(update) != set(layers):
            raise ValueError(f"update must give neuron positions for each of layers {list(layers)}, got {sorted(update)}")
        frozen = {}
        for i in layers:
            width = blocks[i].intermediate.dense.out_features
            fixed = torch.ones(width, dtype=torch.bool)
            fixed[torch.as_tensor(update[i], dtype=torch.long)] = False
            up, down = blocks[i].intermediate.dense, blocks[i].output.dense
            frozen[i] = (fixed, up.weight[fixed].clone(), up.bias[fixed].clone(), down.weight[:, fixed].clone(),
                         down.bias.clone())

        @torch.no_grad()
        def restore():
            for i, (fixed, w_in, b_in, w_out, b_out) in frozen.items():
                up, down = blocks[i].intermediate.dense, blocks[i].output.dense
                up.weight[fixed], up.bias[fixed], down.weight[:, fixed] = w_in, b_in, w_out
                down.bias.copy_(b_out)

    def batch_loss(b):
        loss = 0.0
        for i in layers:
            a = attn[i][b]
            out = blocks[i].output(blocks[i].intermediate(a), a)  # BertLayer's feed-forward chunk
            loss = loss + _token_error(out, hs[i + 1][b], keep[b]) + mu * ((_ffn_linear(blocks[i]) - targets[i]) ** 2).sum()
        return loss / len(layers)

    return _train(params, batch_loss, ids.shape[0], epochs=epochs, lr=lr, batch=batch, seed=seed, after_step=restore)


def distill_emulator(full, emulator, block: Sequence[int], ids: torch.Tensor, mask: torch.Tensor, *, epochs: int = 5,
                     lr: float = 6e-4, batch: int = 64, seed: int = 0) -> list[float]:
    """FedOT's emulator alignment (Offsite-Tuning's distillation): train the layers kept in ``block`` (first, last
    layer index of the middle block) of ``emulator`` — every weight of them — so that, fed the full model's input
    to the block, they reproduce the full model's output of the block (token-mean ‖O − O′‖²) on the corpus; in
    place, with :func:`distill_ffn`'s optimiser. Returns the loss after each epoch."""
    first, last = check_layers(block)[0], check_layers(block)[-1]
    hs = teacher_states(full, ids, mask)
    m4 = mask4d(mask, hs[0].dtype)
    keep = mask.to(hs[0].dtype)
    layers = [backbone(emulator).encoder.layer[i] for i in range(first, last + 1)]
    params = [p for layer in layers for p in layer.parameters()]
    if not params:
        raise ValueError(f"block: layers {first}–{last} of the emulator have no weights to distil")

    def batch_loss(b):
        h = hs[first][b]
        for layer in layers:
            h = layer(h, m4[b])
        return _token_error(h, hs[last + 1][b], keep[b])

    return _train(params, batch_loss, ids.shape[0], epochs=epochs, lr=lr, batch=batch, seed=seed)


@torch.no_grad()
def ffn_activations(model, layers: Sequence[int], hidden: torch.Tensor, mask: torch.Tensor,
                    batch: int = 100) -> dict[int, torch.Tensor]:
    """The FFN activations GELU(W_in h + b) of ``layers`` (N_tokens, d_ff) on the unmasked tokens of the embedded
    reviews ``hidden`` (N, L, d), run through the whole encoder from the embeddings; the input of Eq. 14."""
    bert = backbone(model)
    out: dict[int, list[torch.Tensor]] = {i: [] for i in layers}
    hooks, current = [], {}
    for i in layers:
        hooks.append(bert.encoder.layer[i].intermediate.register_forward_hook(
            lambda mod, args, res, i=i: current.__setitem__(i, res)))
    try:
        for j in range(0, hidden.shape[0], batch):
            m = mask[j: j + batch]
            h = hidden[j: j + batch]
            m4 = mask4d(m, h.dtype)
            for layer in bert.encoder.layer:
                h = layer(h, m4)
            for i in layers:
                out[i].append(current[i][m.bool()])
    finally:
        for hk in hooks:
            hk.remove()
    return {i: torch.cat(v) for i, v in out.items()}


@torch.no_grad()
def hidden_error(full, proxy, ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Per layer (6,): the mean over texts of ‖h_ℓ − h′_ℓ‖² per token, each model run end to end (no teacher forcing)."""
    a, b = teacher_states(full, ids, mask), teacher_states(proxy, ids, mask)
    keep = mask[..., None].to(a[0].dtype)
    return np.array([float((((x - y) ** 2) * keep).sum() / keep.sum()) for x, y in zip(a[1:], b[1:])])


def ffn_state(proxy, layers: Sequence[int]) -> dict[str, np.ndarray]:
    """The compressed FFNs' weights and biases by ``"{layer}/{name}"`` (float32)."""
    out = {}
    for i in layers:
        layer = backbone(proxy).encoder.layer[i]
        for name, mod in (("in", layer.intermediate.dense), ("out", layer.output.dense)):
            out[f"{i}/{name}_weight"] = mod.weight.detach().cpu().numpy()
            out[f"{i}/{name}_bias"] = mod.bias.detach().cpu().numpy()
    return out


@torch.no_grad()
def load_ffn_state(proxy, state: dict[str, np.ndarray]) -> None:
    """Copy :func:`ffn_state`'s arrays into a proxy compressed to the same widths."""
    for key, v in state.items():
        if "/" not in key:
            continue
        i, name = key.split("/")
        layer = backbone(proxy).encoder.layer[int(i)]
        mod = layer.intermediate.dense if name.startswith("in_") else layer.output.dense
        getattr(mod, name.split("_", 1)[1]).copy_(torch.as_tensor(v))
