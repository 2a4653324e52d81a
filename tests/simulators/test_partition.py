"""Partitioning across clients: disjointness, sizes, summaries, determinism, the α limits, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedtheory.simulators.shared.partition import dirichlet, fixed_m, iid, partition_summary


def _labels(n_per_class: tuple[int, ...], seed: int = 0) -> np.ndarray:
    y = np.concatenate([np.full(c, k) for k, c in enumerate(n_per_class)])
    return np.random.default_rng(seed).permutation(y)


Y10 = _labels((600,) * 10)  # balanced, 6000 samples
Y2 = _labels((4000, 1000))  # imbalanced binary


def _assert_disjoint(parts: list[np.ndarray], n: int) -> None:
    allidx = np.concatenate(parts)
    assert allidx.dtype == np.int64
    assert np.unique(allidx).size == allidx.size, "clients share samples"
    assert allidx.min() >= 0 and allidx.max() < n


# --------------------------------------------------------------------------- IID


def test_iid_all_samples_near_equal_and_covering():
    parts = iid(Y10, 7, seed=0)
    assert len(parts) == 7
    sizes = [p.size for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == Y10.size
    _assert_disjoint(parts, Y10.size)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(Y10.size))


def test_iid_exact_m():
    parts = iid(Y10, 20, m=64, seed=1)
    assert [p.size for p in parts] == [64] * 20
    _assert_disjoint(parts, Y10.size)


def test_iid_deterministic_and_seed_sensitive():
    a, b = iid(Y10, 5, m=30, seed=3), iid(Y10, 5, m=30, seed=3)
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
    c = iid(Y10, 5, m=30, seed=4)
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert all(np.array_equal(x, z) for x, z in zip(iid(Y10, 5, seed=g1), iid(Y10, 5, seed=g2)))


# --------------------------------------------------------------------------- Dirichlet


@pytest.mark.parametrize("alpha", [0.05, 1.0, 100.0, np.inf])
@pytest.mark.parametrize("prior", ["global", "uniform"])
def test_dirichlet_m_exact_sizes_and_disjoint(alpha, prior):
    parts = dirichlet(Y10, 20, alpha, m=48, seed=0, prior=prior)
    assert [p.size for p in parts] == [48] * 20
    _assert_disjoint(parts, Y10.size)
    summary = partition_summary(Y10, parts, 10)
    assert summary.shape == (20, 10)
    assert (summary.sum(axis=1) == 48).all()


def test_dirichlet_m_uses_every_sample_when_m_fills_the_data():
    """n_clients * m == n: classes run out and the surplus is redrawn, still exact and disjoint."""
    y = _labels((90, 10))
    parts = dirichlet(y, 10, 0.1, m=10, seed=2)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(100))
    assert (partition_summary(y, parts, 2).sum(axis=0) == [90, 10]).all()


@pytest.mark.parametrize("alpha", [0.5, 10.0, np.inf])
def test_dirichlet_all_samples_covered(alpha):
    parts = dirichlet(Y10, 12, alpha, seed=5)
    assert len(parts) == 12 and min(p.size for p in parts) >= 1
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(Y10.size))
    summary = partition_summary(Y10, parts, 10)
    assert (summary.sum(axis=0) == 600).all() and summary.sum() == Y10.size


def test_dirichlet_deterministic_for_a_seed():
    for m in (None, 32):
        a = dirichlet(Y10, 20, 0.3, m=m, seed=11)
        b = dirichlet(Y10, 20, 0.3, m=m, seed=11)
        c = dirichlet(Y10, 20, 0.3, m=m, seed=12)
        assert all(np.array_equal(x, z) for x, z in zip(a, b))
        assert not all(np.array_equal(x, z) for x, z in zip(a, c))


def _mean_tv_to_global(y: np.ndarray, parts: list[np.ndarray], n_classes: int) -> float:
    """Mean total-variation distance between client class proportions and the global ones."""
    summary = partition_summary(y, parts, n_classes)
    props = summary / summary.sum(axis=1, keepdims=True)
    p = np.bincount(y, minlength=n_classes) / y.size
    return float(0.5 * np.abs(props - p).sum(axis=1).mean())


@pytest.mark.parametrize("y,n_classes", [(Y10, 10), (Y2, 2)])
def test_large_alpha_approaches_iid_proportions(y, n_classes):
    """TV distance to the global class mix shrinks with α and matches an IID split at α = 1e4."""
    tv = {a: _mean_tv_to_global(y, dirichlet(y, 10, a, m=200, seed=0), n_classes) for a in (1, 10, 100, 1e4)}
    assert tv[1] > tv[10] > tv[100] > tv[1e4]
    tv_iid = _mean_tv_to_global(y, iid(y, 10, m=200, seed=0), n_classes)
    assert tv[1e4] < 2 * tv_iid + 0.02
    all_data = _mean_tv_to_global(y, dirichlet(y, 10, 1e4, seed=0), n_classes)
    assert all_data < 0.02


def test_small_alpha_concentrates_labels():
    parts = dirichlet(Y10, 20, 0.01, m=50, seed=0)
    summary = partition_summary(Y10, parts, 10)
    dominant = summary.max(axis=1) / summary.sum(axis=1)
    assert dominant.mean() > 0.9
    iid_dominant = partition_summary(Y10, iid(Y10, 20, m=50, seed=0), 10).max(axis=1) / 50
    assert iid_dominant.mean() < 0.35


def test_uniform_prior_limit_is_balanced_classes():
    """prior='uniform': α → ∞ gives equal class shares even on imbalanced labels."""
    summary = partition_summary(Y2, dirichlet(Y2, 5, np.inf, m=400, seed=0, prior="uniform"), 2)
    assert np.allclose(summary[:, 0] / 400, 0.5, atol=0.1)


def test_fixed_m_dispatches():
    assert all(np.array_equal(a, b) for a, b in zip(fixed_m(Y10, 4, 10, seed=2), iid(Y10, 4, 10, seed=2)))
    a, b = fixed_m(Y10, 4, 10, alpha=0.5, seed=2), dirichlet(Y10, 4, 0.5, 10, seed=2)
    assert all(np.array_equal(x, z) for x, z in zip(a, b))


@settings(max_examples=60)
@given(
    counts=st.lists(st.integers(0, 40), min_size=1, max_size=5).filter(lambda c: sum(c) >= 4),
    n_clients=st.integers(1, 4),
    alpha=st.sampled_from([0.01, 0.3, 3.0, np.inf]),
    seed=st.integers(0, 2**16),
)
def test_property_exact_m_disjoint(counts, n_clients, alpha, seed):
    y = _labels(tuple(counts), seed)
    m = max(1, y.size // (2 * n_clients))
    for parts in (dirichlet(y, n_clients, alpha, m, seed=seed), iid(y, n_clients, m, seed=seed)):
        assert [p.size for p in parts] == [m] * n_clients
        _assert_disjoint(parts, y.size)
        summary = partition_summary(y, parts, len(counts))
        assert (summary.sum(axis=1) == m).all()
        assert (summary <= np.array(counts)).all()


# --------------------------------------------------------------------------- summary and errors


def test_partition_summary_counts():
    y = np.array([0, 1, 1, 2, 2, 2])
    summary = partition_summary(y, [np.array([0, 1]), np.array([2, 3, 4, 5])], n_classes=4)
    assert summary.tolist() == [[1, 1, 0, 0], [0, 1, 3, 0]]
    assert partition_summary(y, [np.array([5])]).shape == (1, 3)
    with pytest.raises(ValueError, match="n_classes"):
        partition_summary(y, [np.array([0])], n_classes=2)


@pytest.mark.parametrize("call,param", [
    (lambda: dirichlet(Y10, 4, 0.0, seed=0), "alpha"),
    (lambda: dirichlet(Y10, 4, -1.0, 10, seed=0), "alpha"),
    (lambda: dirichlet(Y10, 4, float("nan"), 10, seed=0), "alpha"),
    (lambda: dirichlet(Y10, 4, 1.0, 10, seed=0, prior="flat"), "prior"),
    (lambda: iid(Y10, 0, seed=0), "n must lie"),
    (lambda: dirichlet(Y10, 0, 1.0, seed=0), "n must lie"),
    (lambda: iid(Y10, 20, m=301, seed=0), "m"),
    (lambda: dirichlet(Y10, 20, 1.0, m=301, seed=0), "m"),
    (lambda: iid(Y10, 2, m=0, seed=0), "m"),
    (lambda: iid(np.array([0.5, 1.0]), 1, seed=0), "y"),
    (lambda: iid(Y10, 2, seed=-1), "seed"),
    (lambda: dirichlet(_labels((5, 5)), 5, 0.001, seed=0, min_size=3), "min_size"),
])
def test_bad_input_names_the_parameter(call, param):
    with pytest.raises(ValueError, match=param):
        call()


@pytest.mark.parametrize("call,param", [
    (lambda: fixed_m(Y10, 2, None, seed=0), "m must be an integer"),
    (lambda: iid(Y10, 2.0, seed=0), "n must be an integer"),
    (lambda: dirichlet(Y10, 2, "1", seed=0), "alpha must be a real number"),
    (lambda: iid(Y10, 2, seed=True), "seed must be an integer"),
])
def test_wrong_type_is_a_type_error(call, param):
    with pytest.raises(TypeError, match=param):
        call()
