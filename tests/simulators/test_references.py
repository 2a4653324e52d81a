"""The references of the full-model checks: the linear probe (exact, cross-validated) and centralised LoRA's config."""

import numpy as np
import pytest

pytest.importorskip("peft")

from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig  # noqa: E402
from fedtheory.simulators.la_lora.references import L2_GRID, centralised_config, linear_probe  # noqa: E402


def _blobs(n, d=5, gap=3.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + gap * (2 * y[:, None] - 1) * np.eye(d)[0]
    return X, y


def test_the_probe_separates_separable_data_and_chooses_its_weight_on_the_training_rows_only():
    X, y = _blobs(400, gap=6.0)
    Xt, yt = _blobs(200, gap=6.0, seed=1)
    r = linear_probe(X, y, Xt, yt)
    assert r["correct"].mean() == 1.0 and r["train_accuracy"] == 1.0
    assert float(r["l2"]) in L2_GRID and r["cv_accuracy"].shape == (len(L2_GRID),)
    # the test labels never enter the choice: flipping them flips the correctness and nothing else
    r2 = linear_probe(X, y, Xt, 1 - yt)
    assert float(r2["l2"]) == float(r["l2"]) and np.array_equal(r2["correct"], 1 - r["correct"])


def test_the_probe_is_at_chance_on_noise_and_prefers_the_strongest_weight_on_ties():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(300, 3)), rng.integers(0, 2, 300)
    r = linear_probe(X, y, X, y, l2_grid=(1e-3, 1e-3 * 10))
    assert 0.4 < r["correct"].mean() < 0.7
    r = linear_probe(np.zeros((10, 2)), np.r_[np.zeros(5), np.ones(5)].astype(int), np.zeros((4, 2)), np.ones(4, int),
                     l2_grid=(1e-3, 1e-1), folds=2)
    assert float(r["l2"]) == 1e-1  # equal validation accuracies: the stronger regularisation


def test_bad_probe_input():
    X, y = _blobs(20)
    with pytest.raises(ValueError, match="folds"):
        linear_probe(X, y, X, y, folds=1)
    with pytest.raises(ValueError, match="l2_grid"):
        linear_probe(X, y, X, y, l2_grid=(0.0,))
    with pytest.raises(ValueError, match="l2_grid"):
        linear_probe(X, y, X, y, l2_grid=())


def test_centralised_config_pools_the_clients_and_keeps_the_steps():
    fed = FedLoRAConfig(method="dp_lora", n=4, m=500, rounds=5, local_steps=6, batch_size=16, train_examples=2000,
                        aggregator="trimmed_mean", f=1)
    c = centralised_config(fed)
    assert (c.n, c.m, c.local_steps, c.rounds, c.batch_size) == (1, 2000, 24, 5, 16)
    assert c.aggregator == "mean" and c.f == 0 and c.lr == fed.lr and c.optimizer == fed.optimizer
    assert centralised_config(FedLoRAConfig(n=3)).m is None
