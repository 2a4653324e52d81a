r"""Partition a labelled dataset across federated clients (numpy only, deterministic for a seed).

Every partitioner takes integer labels ``y`` (shape ``(N,)``, values ``0..C-1``) and returns a list
of ``n`` sorted int64 index arrays into ``y``, one per client; the arrays are pairwise disjoint (sampling is
without replacement across clients). ``seed`` is an int or an explicit ``np.random.Generator``;
the same int gives the same partition on every call.

- :func:`iid`: uniform shuffle. ``m=None`` splits all N samples into near-equal parts
  (sizes differ by at most 1); ``m`` gives every client exactly m samples.
- :func:`dirichlet`: label skew, as in the personalization experiments of arXiv 2409.20329 (n = 20
  clients, m samples each, Dirichlet α over the classes).

  * With ``m``: client i draws class proportions :math:`q_i \sim \mathrm{Dir}(\alpha\,p)`, then m
    class labels from :math:`q_i` (multinomial) and takes that many samples of each class from what
    is left. ``prior="global"`` (default) sets p to the class frequencies of ``y``, so α → ∞ gives
    IID proportions for any class balance; ``prior="uniform"`` sets p = 1/C
    (:math:`\mathrm{Dir}(\alpha\,\mathbf 1_C)` has concentration αC, the convention of ByzFL-style code),
    whose α → ∞ limit is uniform classes (IID only for balanced data). When a class runs out, its
    surplus is redrawn from the classes still available, in proportion to :math:`q_i`.
  * Without ``m``: all samples are used; for each class k the shares of the clients are
    :math:`\mathrm{Dir}(\alpha\,\mathbf 1_{n})` (Yurochkin et al. 2019; Hsu et al. 2019), so client sizes
    vary. Draws are repeated (up to 100 times) until every client has ``min_size`` samples.

  ``alpha = np.inf`` is allowed: exact proportions (p with ``m``; 1/n of every class without).
- :func:`fixed_m`: every client gets exactly m samples; IID when ``alpha`` is None, else Dirichlet.
- :func:`partition_summary`: the clients × classes count matrix (what figures show).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedtheory.simulators.shared import seeding
from fedtheory.theory._checks import check_choice, check_scalar

__all__ = ["iid", "dirichlet", "fixed_m", "partition_summary", "label_distributions"]

SeedLike = int | np.random.Generator


# --------------------------------------------------------------------------- validation


def _rng(seed: SeedLike) -> np.random.Generator:
    """An explicit generator: ``seed`` itself, or the run's "partition" stream (:mod:`.seeding`)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return seeding.rng(check_scalar("seed", seed, int, low=0), "partition")


def _labels(y: np.ndarray) -> np.ndarray:
    """``y`` as a 1-D int64 array of non-negative labels."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" or arr.min() < 0:
        raise ValueError("y must hold non-negative integer labels")
    return arr.astype(np.int64, copy=False)


def _check_clients(n: int, m: int | None, n_samples: int) -> None:
    n = check_scalar("n", n, int, low=1)
    if m is None:
        if n > n_samples:
            raise ValueError(f"n (clients) must lie in [1, {n_samples}] (the number of samples), got {n!r}")
        return
    m = check_scalar("m", m, int, low=1)
    if n * m > n_samples:
        raise ValueError(f"m must lie in [1, {n_samples // n}] (n * m <= {n_samples} samples with n={n}), got {m!r}")


def _check_alpha(alpha: float) -> float:
    # np.inf: IID proportions
    return check_scalar("alpha", alpha, low=0, low_open=True, allow_inf=True)


def _finish(parts: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


# --------------------------------------------------------------------------- partitioners


def iid(y: np.ndarray, n: int, m: int | None = None, *, seed: SeedLike) -> list[np.ndarray]:
    """IID partition: a uniform shuffle cut into ``n`` parts (all samples, or exactly ``m`` each)."""
    labels = _labels(y)
    _check_clients(n, m, labels.size)
    order = _rng(seed).permutation(labels.size)
    if m is None:
        return _finish(np.array_split(order, n))
    return _finish(order[: n * m].reshape(n, m))


def _class_counts(rng: np.random.Generator, m: int, q: np.ndarray, left: np.ndarray) -> np.ndarray:
    """m labels drawn from q, capped by the samples ``left`` per class; surplus redrawn elsewhere."""
    counts = np.minimum(rng.multinomial(m, q), left)
    while (short := m - counts.sum()) > 0:
        room = left - counts
        weights = np.where(room > 0, q, 0.0)
        weights = weights if weights.sum() > 0 else room.astype(float)
        extra = rng.multinomial(short, weights / weights.sum())
        counts += np.minimum(extra, room)
    return counts


def _client_proportions(rng: np.random.Generator, alpha: float, p: np.ndarray, n: int) -> np.ndarray:
    """``(n, C)`` class proportions, rows Dir(α p) (zero-mass classes stay at 0)."""
    if np.isinf(alpha):
        return np.tile(p, (n, 1))
    q = np.zeros((n, p.size))
    support = p > 0
    q[:, support] = rng.dirichlet(alpha * p[support], size=n)
    total = q.sum(axis=1)
    for i in np.flatnonzero(~np.isfinite(total) | (total <= 0)):  # underflow at tiny alpha: one class
        q[i] = np.eye(p.size)[rng.choice(p.size, p=p)]
    return q / q.sum(axis=1, keepdims=True)


def _dirichlet_m(labels: np.ndarray, n: int, alpha: float, m: int, prior: str,
                 rng: np.random.Generator) -> list[np.ndarray]:
    n_classes = int(labels.max()) + 1
    freq = np.bincount(labels, minlength=n_classes)
    p = freq / freq.sum() if prior == "global" else (freq > 0) / np.count_nonzero(freq)
    pools = [rng.permutation(np.flatnonzero(labels == k)) for k in range(n_classes)]
    taken = np.zeros(n_classes, dtype=np.int64)
    parts = []
    for q in _client_proportions(rng, alpha, p, n):
        counts = _class_counts(rng, m, q, freq - taken)
        parts.append(np.concatenate([pools[k][taken[k]: taken[k] + counts[k]] for k in range(n_classes)]))
        taken += counts
    return parts


def _dirichlet_all(labels: np.ndarray, n: int, alpha: float, min_size: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    n_classes = int(labels.max()) + 1
    for _ in range(100):
        buckets: list[list[np.ndarray]] = [[] for _ in range(n)]
        for k in range(n_classes):
            members = rng.permutation(np.flatnonzero(labels == k))
            share = np.full(n, 1.0 / n) if np.isinf(alpha) else rng.dirichlet(
                np.full(n, alpha))
            cuts = np.round(np.cumsum(share)[:-1] * members.size).astype(np.int64)
            for client, chunk in enumerate(np.split(members, cuts)):
                buckets[client].append(chunk)
        parts = [np.concatenate(b) for b in buckets]
        if min(p.size for p in parts) >= min_size:
            return parts
    raise ValueError(f"could not give every client min_size={min_size} samples in 100 draws; "
                     f"raise alpha={alpha} or lower n={n} / min_size")


def dirichlet(y: np.ndarray, n: int, alpha: float, m: int | None = None, *, seed: SeedLike,
              prior: str = "global", min_size: int = 1) -> list[np.ndarray]:
    """Dirichlet(α) label-skew partition (see the module docstring for both schemes).

    Small α concentrates each client on few classes; α → ∞ approaches IID proportions.
    ``prior`` ("global" or "uniform") applies with ``m``; ``min_size`` without it.
    """
    labels = _labels(y)
    _check_clients(n, m, labels.size)
    value = _check_alpha(alpha)
    check_choice("prior", prior, ("global", "uniform"))
    check_scalar("min_size", min_size, int, low=0)
    rng = _rng(seed)
    if m is None:
        return _finish(_dirichlet_all(labels, n, value, min_size, rng))
    return _finish(_dirichlet_m(labels, n, value, m, prior, rng))


def fixed_m(y: np.ndarray, n: int, m: int, alpha: float | None = None, *, seed: SeedLike,
            prior: str = "global") -> list[np.ndarray]:
    """Exactly ``m`` samples per client: IID when ``alpha`` is None, else Dirichlet(α) label skew."""
    check_scalar("m", m, int, low=1)
    if alpha is None:
        return iid(y, n, m, seed=seed)
    return dirichlet(y, n, alpha, m, seed=seed, prior=prior)


def partition_summary(y: np.ndarray, parts: Sequence[np.ndarray], n_classes: int | None = None) -> np.ndarray:
    """Class counts per client: int64 array ``(len(parts), n_classes)``; row sums are client sizes."""
    labels = _labels(y)
    k = int(labels.max()) + 1 if n_classes is None else n_classes
    check_scalar("n_classes", k, int, low=int(labels.max()) + 1)  # low: max(y) + 1
    rows = [np.bincount(labels[np.asarray(p, dtype=np.int64)], minlength=k) for p in parts]
    return np.array(rows, dtype=np.int64).reshape(len(rows), k)


def label_distributions(y: np.ndarray, parts: Sequence[np.ndarray], n_classes: int | None = None) -> np.ndarray:
    """Label proportions per client, float64 ``(len(parts), n_classes)``: :func:`partition_summary` over client sizes."""
    counts = partition_summary(y, parts, n_classes)
    return counts / counts.sum(1, keepdims=True)

