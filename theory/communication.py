r"""Floats sent per round when a model's matrices travel as low-rank factors.

FedSLR (arXiv 2302.11051) thresholds the singular values of every 2-D weight of the global model, so
the server can send a rank-k matrix of shape m × n as two factors, :math:`U\sqrt\Sigma` (m × k) and
:math:`\sqrt\Sigma V^\top` (k × n): k(m + n) floats instead of mn, worth it only below the
break-even rank. The downlink of one round, for matrices ℓ of shape :math:`m_\ell \times n_\ell`
and rank :math:`k_\ell`, plus the 1-D parameters (biases, norms) sent dense, is

.. math:: D = \sum_\ell \min\bigl(k_\ell(m_\ell + n_\ell),\, m_\ell n_\ell\bigr) + P_{1\mathrm{D}} ,

and the uplink (clients return dense models) is :math:`\sum_\ell m_\ell n_\ell + P_{1\mathrm{D}}` per
participating client. **reconstructed**: the rule "factors when smaller than the dense matrix" is read
from the authors' code (``huangtiansheng/fedslr``); the paper's own accounting could not be read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_range, check_representable, provenance, scalar_or_array

__all__ = ["factored_floats", "break_even_rank", "downlink_floats", "uplink_floats"]


def _dims(m: ArrayLike, n: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return check_range("m", m, low=1, integer=True), check_range("n", n, low=1, integer=True)


@provenance("reconstructed", "FedSLR (arXiv 2302.11051), downlink of the authors' code")
def factored_floats(m: ArrayLike, n: ArrayLike, k: ArrayLike) -> ArrayLike:
    r"""Floats to send an m × n matrix of rank k: :math:`\min(k(m+n), mn)`. **reconstructed** (the authors' code).

    Parameters
    ----------
    m, n : array_like of integers >= 1
    k : array_like of integers in [0, min(m, n)], broadcastable with m and n

    Returns
    -------
    float or ndarray, the broadcast shape (whole numbers as floats).
    """
    m, n = _dims(m, n)
    k = _ranks("k", k, m, n)
    return scalar_or_array(check_representable("min(k(m + n), mn)", _factored, m=m, n=n, k=k))


def _ranks(name: str, k: ArrayLike, m: np.ndarray, n: np.ndarray) -> np.ndarray:
    k = check_range(name, k, low=0, integer=True)
    if np.any(k > np.minimum(m, n)):
        raise ValueError(f"{name} must lie in [0, min(m, n)], got {name}={k!r} for m={m!r}, n={n!r}")
    return k


def _factored(m, n, k):
    return np.minimum(k * (m + n), m * n)


@provenance("derived", "derived here: k(m + n) < mn")
def break_even_rank(m: ArrayLike, n: ArrayLike) -> ArrayLike:
    r"""The largest rank whose factors are strictly smaller than the dense matrix:
    :math:`k^* = \lceil mn/(m+n)\rceil - 1` (k(m + n) < mn ⇔ k < mn/(m + n)). **derived**.

    Parameters
    ----------
    m, n : array_like of integers >= 1

    Returns
    -------
    float or ndarray (whole numbers), the broadcast shape; 0 when no rank ≥ 1 pays (e.g. a row vector).
    """
    m, n = _dims(m, n)
    return scalar_or_array(check_representable("ceil(mn/(m + n)) - 1", _break_even, m=m, n=n))


def _break_even(m, n):
    # ceil(a/b) − 1 = (a − 1) // b for positive integers; exact while mn < 2^53
    return (m * n - 1) // (m + n)


def _shapes(shapes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, Sequence):
        raise TypeError(f"shapes must be a sequence of (m, n) pairs, got {shapes!r}")
    try:
        arr = np.asarray(shapes, dtype=float).reshape(-1, 2) if len(shapes) else np.zeros((0, 2))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"shapes must be a sequence of (m, n) pairs of integers, got {shapes!r}") from exc
    if arr.shape[0] != len(shapes):
        raise ValueError(f"shapes must be a sequence of (m, n) pairs, got {shapes!r}")
    return (check_range("shapes", arr[:, 0], low=1, integer=True),
            check_range("shapes", arr[:, 1], low=1, integer=True))


@provenance("reconstructed", "FedSLR (arXiv 2302.11051), downlink of the authors' code")
def downlink_floats(shapes: Sequence[tuple[int, int]], ranks: ArrayLike, n_vector: int = 0) -> float:
    r"""Floats the server sends one client in one round: :math:`\sum_\ell \min(k_\ell(m_\ell+n_\ell), m_\ell n_\ell) + P_{1D}`.

    **reconstructed**: the count of the authors' code (``SVD_st_update``), which counts the factors but
    sends the dense matrices in its simulation.

    Parameters
    ----------
    shapes : sequence of (m, n), one per 2-D weight
    ranks : array_like of integers, shape (len(shapes),), the rank of each weight
    n_vector : int >= 0, the number of 1-D parameters (sent dense)

    Returns
    -------
    float
    """
    m, n = _shapes(shapes)
    k = check_range("ranks", ranks, low=0, integer=True)
    if k.shape != m.shape:
        raise ValueError(f"ranks must have one entry per shape ({m.shape[0]}), got shape {k.shape}")
    k = _ranks("ranks", k, m, n)
    p1 = check_range("n_vector", n_vector, low=0, integer=True, scalar=True)
    return float(check_representable("the downlink", lambda m, n, k, p1: np.sum(_factored(m, n, k)) + p1,
                                     elementwise=False, m=m, n=n, k=k, p1=p1))


@provenance("reconstructed", "FedSLR (arXiv 2302.11051), uplink of the authors' code (dense client models)")
def uplink_floats(shapes: Sequence[tuple[int, int]], n_vector: int = 0) -> float:
    r"""Floats one participating client sends up in one round: the dense model, :math:`\sum_\ell m_\ell n_\ell + P_{1D}`.

    **reconstructed** (the authors' code uploads every dense w_i and counts no uplink)."""
    m, n = _shapes(shapes)
    p1 = check_range("n_vector", n_vector, low=0, integer=True, scalar=True)
    return float(check_representable("the uplink", lambda m, n, p1: np.sum(m * n) + p1, elementwise=False,
                                     m=m, n=n, p1=p1))
