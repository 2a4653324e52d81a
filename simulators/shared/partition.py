r"""Partition a labelled dataset across federated clients (numpy only, deterministic for a seed).

Every partitioner takes integer labels ``y`` (shape ``(n,)``, values ``0..K-1``) and returns a list
of ``n_clients`` sorted int64 index arrays into ``y``; the arrays are pairwise disjoint (sampling is
without replacement across clients). ``seed`` is an int or an explicit ``np.random.Generator``;
the same int gives the same partition on every call.

- :func:`iid`: uniform shuffle. ``m=None`` splits all n samples into near-equal parts
  (sizes differ by at most 1); ``m`` gives every client exactly m samples.
- :func:`dirichlet`: label skew, as in the personalization experiments of arXiv 2409.20329 (n = 20
  clients, m samples each, Dirichlet α over the classes).

  * With ``m``: client i draws class proportions :math:`q_i \sim \mathrm{Dir}(\alpha\,p)`, then m
    class labels from :math:`q_i` (multinomial) and takes that many samples of each class from what
    is left. ``prior="global"`` (default) sets p to the class frequencies of ``y``, so α → ∞ gives
    IID proportions for any class balance; ``prior="uniform"`` sets p = 1/K
    (:math:`\mathrm{Dir}(\alpha\,\mathbf 1_K)` has concentration αK, the convention of ByzFL-style code),
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

__all__ = ["iid", "dirichlet", "fixed_m", "partition_summary", "label_distributions"]

SeedLike = int | np.random.Generator


# --------------------------------------------------------------------------- validation


def _rng(seed: SeedLike) -> np.random.Generator:
    """An explicit generator: ``seed`` itself, or the run's "partition" stream (:mod:`.seeding`)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or np.random.Generator, got {seed!r}")
    return seeding.rng(int(seed), "partition")


def _labels(y: np.ndarray) -> np.ndarray:
    """``y`` as a 1-D int64 array of non-negative labels."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" or arr.min() < 0:
        raise ValueError("y must hold non-negative integer labels")
    return arr.astype(np.int64, copy=False)


def _check_clients(n_clients: int, m: int | None, n: int) -> None:
    if isinstance(n_clients, bool) or not isinstance(n_clients, (int, np.integer)) or n_clients < 1:
        raise ValueError(f"n_clients must be an integer >= 1, got {n_clients!r}")
    if m is None:
        if n_clients > n:
            raise ValueError(f"n_clients={n_clients} exceeds the {n} samples")
        return
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m must be an integer >= 1 or None, got {m!r}")
    if n_clients * m > n:
        raise ValueError(f"m={m} is too large for the data: n_clients * m = {n_clients * m} > {n} samples")


def _check_alpha(alpha: float) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}") from None
    if not value > 0:  # also rejects NaN
        raise ValueError(f"alpha must be > 0 (np.inf for IID proportions), got {alpha!r}")
    return value


def _finish(parts: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


# --------------------------------------------------------------------------- partitioners


def iid(y: np.ndarray, n_clients: int, m: int | None = None, *, seed: SeedLike) -> list[np.ndarray]:
    """IID partition: a uniform shuffle cut into ``n_clients`` parts (all samples, or exactly ``m`` each)."""
    labels = _labels(y)
    _check_clients(n_clients, m, labels.size)
    order = _rng(seed).permutation(labels.size)
    if m is None:
        return _finish(np.array_split(order, n_clients))
    return _finish(order[: n_clients * m].reshape(n_clients, m))


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


def _client_proportions(rng: np.random.Generator, alpha: float, p: np.ndarray, n_clients: int) -> np.ndarray:
    """``(n_clients, K)`` class proportions, rows Dir(α p) (zero-mass classes stay at 0)."""
    if np.isinf(alpha):
        return np.tile(p, (n_clients, 1))
    q = np.zeros((n_clients, p.size))
    support = p > 0
    q[:, support] = rng.dirichlet(alpha * p[support], size=n_clients)
    total = q.sum(axis=1)
    for i in np.flatnonzero(~np.isfinite(total) | (total <= 0)):  # underflow at tiny alpha: one class
        q[i] = np.eye(p.size)[rng.choice(p.size, p=p)]
    return q / q.sum(axis=1, keepdims=True)


def _dirichlet_m(labels: np.ndarray, n_clients: int, alpha: float, m: int, prior: str,
                 rng: np.random.Generator) -> list[np.ndarray]:
    n_classes = int(labels.max()) + 1
    freq = np.bincount(labels, minlength=n_classes)
    p = freq / freq.sum() if prior == "global" else (freq > 0) / np.count_nonzero(freq)
    pools = [rng.permutation(np.flatnonzero(labels == k)) for k in range(n_classes)]
    taken = np.zeros(n_classes, dtype=np.int64)
    parts = []
    for q in _client_proportions(rng, alpha, p, n_clients):
        counts = _class_counts(rng, m, q, freq - taken)
        parts.append(np.concatenate([pools[k][taken[k]: taken[k] + counts[k]] for k in range(n_classes)]))
        taken += counts
    return parts


def _dirichlet_all(labels: np.ndarray, n_clients: int, alpha: float, min_size: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    n_classes = int(labels.max()) + 1
    for _ in range(100):
        buckets: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for k in range(n_classes):
            members = rng.permutation(np.flatnonzero(labels == k))
            share = np.full(n_clients, 1.0 / n_clients) if np.isinf(alpha) else rng.dirichlet(
                np.full(n_clients, alpha))
            cuts = np.round(np.cumsum(share)[:-1] * members.size).astype(np.int64)
            for client, chunk in enumerate(np.split(members, cuts)):
                buckets[client].append(chunk)
        parts = [np.concatenate(b) for b in buckets]
        if min(p.size for p in parts) >= min_size:
            return parts
    raise ValueError(f"could not give every client min_size={min_size} samples in 100 draws; "
                     f"raise alpha={alpha} or lower n_clients={n_clients} / min_size")


def dirichlet(y: np.ndarray, n_clients: int, alpha: float, m: int | None = None, *, seed: SeedLike,
              prior: str = "global", min_size: int = 1) -> list[np.ndarray]:
    """Dirichlet(α) label-skew partition (see the module docstring for both schemes).

    Small α concentrates each client on few classes; α → ∞ approaches IID proportions.
    ``prior`` ("global" or "uniform") applies with ``m``; ``min_size`` without it.
    """
    labels = _labels(y)
    _check_clients(n_clients, m, labels.size)
    value = _check_alpha(alpha)
    if prior not in ("global", "uniform"):
        raise ValueError(f"prior must be 'global' or 'uniform', got {prior!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise ValueError(f"min_size must be an integer >= 0, got {min_size!r}")
    rng = _rng(seed)
    if m is None:
        return _finish(_dirichlet_all(labels, n_clients, value, min_size, rng))
    return _finish(_dirichlet_m(labels, n_clients, value, m, prior, rng))


def fixed_m(y: np.ndarray, n_clients: int, m: int, alpha: float | None = None, *, seed: SeedLike,
            prior: str = "global") -> list[np.ndarray]:
    """Exactly ``m`` samples per client: IID when ``alpha`` is None, else Dirichlet(α) label skew."""
    if m is None:
        raise ValueError("m must be an integer >= 1 for fixed_m, got None")
    if alpha is None:
        return iid(y, n_clients, m, seed=seed)
    return dirichlet(y, n_clients, alpha, m, seed=seed, prior=prior)


def partition_summary(y: np.ndarray, parts: Sequence[np.ndarray], n_classes: int | None = None) -> np.ndarray:
    """Class counts per client: int64 array ``(len(parts), n_classes)``; row sums are client sizes."""
    labels = _labels(y)
    k = int(labels.max()) + 1 if n_classes is None else n_classes
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < int(labels.max()) + 1:
        raise ValueError(f"n_classes must be an integer >= max(y) + 1 = {int(labels.max()) + 1}, got {n_classes!r}")
    rows = [np.bincount(labels[np.asarray(p, dtype=np.int64)], minlength=k) for p in parts]
    return np.array(rows, dtype=np.int64).reshape(len(rows), k)


def label_distributions(y: np.ndarray, parts: Sequence[np.ndarray], n_classes: int | None = None) -> np.ndarray:
    """Label proportions per client, float64 ``(len(parts), n_classes)``: :func:`partition_summary` over client sizes."""
    counts = partition_summary(y, parts, n_classes)
    return counts / counts.sum(1, keepdims=True)

