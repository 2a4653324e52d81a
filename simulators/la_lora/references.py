r"""References for federated LoRA on MiniLM: a frozen-feature linear probe, and centralised LoRA.

A federated run is judged against what the same model reaches without federation:

- **Centralised LoRA**: the same adapters trained on the pooled data, i.e.
  :func:`~fedtheory.simulators.la_lora.federated_lora.run_federated_lora` with one client holding
  every example (:func:`centralised_config`: ``n = 1``, the federated run's local steps of all its
  clients in each round, the same batch and optimizer), so that only federation differs.
- **Linear probe**: ℓ₂-regularised logistic regression on the frozen model's sentence embeddings
  (mean-pooled last hidden states, how all-MiniLM-L6-v2 is used), fit exactly by Newton's method
  (:mod:`fedtheory.simulators.shared.logistic`); the ℓ₂ weight is chosen by k-fold cross-validation
  on the training pool (the test reviews are never looked at). Deterministic: no seed enters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig
from fedtheory.simulators.shared.config import check_scalar
from fedtheory.simulators.shared.logistic import logistic_newton, with_bias
from fedtheory.simulators.shared.minilm import (
    backbone,
    encoder_layers,
    load_lora_model,
    mask4d,
    mean_pool,
    prefix_features,
)

__all__ = ["centralised_config", "frozen_sentence_features", "linear_probe", "L2_GRID"]

#: ℓ₂ weights the probe's cross-validation chooses from (features have norm ≈ 1 per review)
L2_GRID = tuple(float(v) for v in np.logspace(-6, -1, 11))


def centralised_config(cfg: FedLoRAConfig) -> FedLoRAConfig:
    """``cfg`` with one client holding the pooled data and, per round, the local steps of all ``cfg.n`` clients."""
    return replace(cfg, n=1, m=None if cfg.m is None else cfg.m * cfg.n, local_steps=cfg.local_steps * cfg.n,
                   aggregator="mean", f=0)


@torch.no_grad()
def frozen_sentence_features(train_examples: int, test_examples: int, max_length: int = 64,
                             device: torch.device | str = "cpu", batch: int = 250,
                             encoder: str | None = None) -> dict[str, np.ndarray]:
    """Mean-pooled last hidden states (N, d) of the frozen encoder on the example pool, float64; labels (N,).

    Train examples first (``train_examples`` of them), then the test examples, as in
    :func:`~fedtheory.simulators.shared.minilm.prefix_features`, whose cache of the layers below the
    top one it reuses. ``encoder``: None is MiniLM; else a local checkpoint directory.
    """
    top = encoder_layers(encoder) - 1
    model = load_lora_model(layers=(top,), seed=0, device=device, encoder=encoder)  # LoRA B = 0: the frozen model
    data = prefix_features(model, top, train_examples, test_examples, max_length)
    top_layer = backbone(model).encoder.layer[top]
    out = []
    for i in range(0, data["labels"].numel(), batch):
        h, m = data["hidden"][i : i + batch], data["mask"][i : i + batch]
        out.append(mean_pool(top_layer(h, mask4d(m, h.dtype)), m))
    return {"X": torch.cat(out).double().cpu().numpy(), "y": data["labels"].cpu().numpy()}


def _accuracy(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (((X @ w[..., None])[..., 0] > 0).long() == y).double().mean(-1)


def linear_probe(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                 l2_grid: Sequence[float] = L2_GRID, folds: int = 5) -> dict[str, np.ndarray]:
    """ℓ₂-regularised logistic regression (with bias), its ℓ₂ weight chosen by ``folds``-fold cross-validation.

    Parameters
    ----------
    X_train, X_test : (N, d) features; y_train, y_test : (N,) labels in {0, 1}.
    l2_grid : the candidate weights of (l2/2)‖w‖²; folds : contiguous folds of the training rows.

    Returns
    -------
    ``correct`` (N_test,) int8 per-example correctness of the refit on all training rows, ``l2`` the weight
    chosen (the largest of those with the best mean validation accuracy), ``cv_accuracy`` (G,) per weight,
    ``train_accuracy``.
    """
    check_scalar("folds", folds, int, low=2, high=len(y_train))
    grid = [check_scalar("l2_grid", v, low=0, low_open=True) for v in l2_grid]
    if not grid:
        raise ValueError("l2_grid must hold at least one weight > 0")
    Xtr, Xte = (with_bias(torch.as_tensor(a, dtype=torch.float64)) for a in (X_train, X_test))
    ytr, yte = torch.as_tensor(y_train).long(), torch.as_tensor(y_test).long()
    s = 2.0 * ytr.double() - 1
    fold = torch.arange(len(ytr)) % folds  # interleaved: every fold sees the pool's order alike
    cv = []
    for l2 in grid:
        acc = [_accuracy(logistic_newton(Xtr[fold != k], s[fold != k], l2), Xtr[fold == k], ytr[fold == k])
               for k in range(folds)]
        cv.append(float(torch.stack(acc).mean()))
    cv_arr = np.asarray(cv)
    best = max(i for i in range(len(grid)) if cv_arr[i] == cv_arr.max())  # ties: the stronger regularisation
    w = logistic_newton(Xtr, s, grid[best])
    return {"correct": (((Xte @ w) > 0).long() == yte).numpy().astype(np.int8), "l2": np.array(grid[best]),
            "cv_accuracy": cv_arr, "train_accuracy": np.array(float(_accuracy(w, Xtr, ytr)))}
