r"""Robust aggregation rules and pre-aggregators, batched over leading dimensions.

Every function takes ``x`` of shape ``(..., n, d)``: ``n`` input vectors of dimension ``d``,
with any number of leading batch dimensions (seeds, settings, ...). Aggregators return
``(..., d)``; pre-aggregators return ``(..., n, d)``. Results keep the device and the
(floating) dtype of ``x``. Nothing loops over batch elements or clients; the only Python
loop is over Weiszfeld iterations.

Rules follow the ByzFL library (LPD-EPFL/byzfl) and Allouah et al., "Fixing by Mixing: A
Recipe for Optimal Byzantine ML under Heterogeneity", AISTATS 2023; the code is our own.

Compose rules with :func:`make_aggregator`, e.g. ``make_aggregator("server_clip+nnm+trimmed_mean", f)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from fedtheory.theory._checks import check_scalar

__all__ = [
    "AGGREGATOR_NAMES",
    "PREAGGREGATOR_NAMES",
    "Aggregator",
    "make_aggregator",
    "pairwise_sq_dists",
    "mean",
    "coordinate_median",
    "trimmed_mean",
    "geometric_median",
    "krum_scores",
    "krum",
    "multi_krum",
    "nnm",
    "NNM_METHODS",
    "static_clip",
    "server_clip",
    "server_clip_count",
]


# --------------------------------------------------------------------------- validation


def _check_points(x: Tensor, name: str = "x", count: str = "n") -> tuple[int, int]:
    """Check ``x`` is a floating tensor of shape ``(..., count, d)`` with ``count >= 1``; return (count, d).

    ``name``/``count`` only word the error (the attacks call it for ``honest`` with ``h``)."""
    shape = f"(..., {count}, d)"
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape {shape} with ndim >= 2, got shape {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    n, d = x.shape[-2], x.shape[-1]
    if n < 1:
        raise ValueError(f"{name} must hold {count} >= 1 vectors (dimension -2), got {count}={n}")
    return n, d


def _check_f(f: Any, n: int, max_f: int, rule: str, condition: str) -> int:
    """Check the number of Byzantine inputs ``0 <= f <= max_f`` for ``rule`` on ``n`` inputs."""
    f = check_scalar("f", f, int, low=0)
    if f > max_f:
        raise ValueError(f"f must lie in [0, {max_f}] ({condition} for {rule}, n={n}), got {f!r}")
    return f


# --------------------------------------------------------------------------- helpers


def pairwise_sq_dists(x: Tensor) -> Tensor:
    r"""Pairwise squared Euclidean distances :math:`D_{ij} = \lVert x_i - x_j \rVert^2`, shape ``(..., n, n)``.

    Computed without the ``|a|^2 + |b|^2 - 2ab`` expansion so the diagonal is exactly 0 and
    small distances are not lost to cancellation.
    """
    _check_points(x)
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist").square()


def _gather_rows(x: Tensor, idx: Tensor) -> Tensor:
    """Rows ``x[..., idx[...], :]`` for an index tensor ``idx`` of shape ``(..., k)``; returns ``(..., k, d)``."""
    return x.gather(-2, idx.unsqueeze(-1).expand(*idx.shape, x.shape[-1]))


def _scale_to_norm(x: Tensor, bound: Tensor) -> Tensor:
    r"""Scale each row to norm at most ``bound`` (shape ``(..., n)`` or broadcastable):
    :math:`x_i \cdot \min(1, c / \lVert x_i \rVert)`, leaving rows with norm ``<= bound`` exactly unchanged."""
    norms = torch.linalg.vector_norm(x, dim=-1)
    scale = torch.where(norms > bound, bound / norms, torch.ones_like(norms))
    return x * scale.unsqueeze(-1)


# --------------------------------------------------------------------------- aggregators


def mean(x: Tensor) -> Tensor:
    r"""Average :math:`\frac1n \sum_i x_i` (not robust: κ is finite only for f = 0)."""
    _check_points(x)
    return x.mean(dim=-2)


def coordinate_median(x: Tensor) -> Tensor:
    r"""Coordinate-wise median :math:`[\mathrm{med}(x_{1k},\dots,x_{nk})]_k`.

    For even ``n`` the average of the two middle order statistics (the true median, not
    ``torch.median``'s lower one). Source: Yin et al. 2018; ByzFL ``Median``.
    """
    n, _ = _check_points(x)
    s = x.sort(dim=-2).values
    if n % 2 == 1:
        return s[..., n // 2, :]
    return 0.5 * (s[..., n // 2 - 1, :] + s[..., n // 2, :])


def trimmed_mean(x: Tensor, f: int) -> Tensor:
    r"""Coordinate-wise trimmed mean :math:`\frac{1}{n-2f}\sum_{j=f+1}^{n-f} x_{(j)k}` per coordinate k,
    where :math:`x_{(1)k} \le \dots \le x_{(n)k}`: drop the f largest and f smallest values.

    Requires ``0 <= f`` and ``n > 2f``. Source: Yin et al. 2018; ByzFL ``TrMean``.
    """
    n, _ = _check_points(x)
    _check_f(f, n, (n - 1) // 2, "trimmed_mean", "n > 2f")
    s = x.sort(dim=-2).values
    return s[..., f : n - f, :].mean(dim=-2)


def geometric_median(x: Tensor, *, tol: float = 1e-7, max_iter: int = 500, eps: float = 1e-10) -> Tensor:
    r"""Geometric median :math:`\arg\min_z \sum_i \lVert z - x_i \rVert` by smoothed Weiszfeld iterations

    .. math::
        z_{t+1} = \frac{\sum_i w_i x_i}{\sum_i w_i}, \qquad w_i = \frac{1}{\max(\varepsilon, \lVert z_t - x_i \rVert)},

    started at the coordinate-wise mean. A batch element is frozen once its relative change is small,
    :math:`\lVert z_{t+1} - z_t \rVert \le \mathrm{tol} \cdot \mathrm{med}_i \lVert x_i - z_t \rVert
    + 4\epsilon_{\mathrm{mach}} \lVert z_t \rVert`: relative to the spread of the inputs around z (the
    median distance, so translation-invariant and not inflated by outliers), floored at the dtype's
    precision, *and*, if m >= 1 inputs lie within :math:`\sqrt{\mathrm{tol}}` times that spread of
    :math:`z_t`, the optimality condition at such a data point holds:
    :math:`\lVert \sum_{i\ \mathrm{far}} (x_i - z_t)/\lVert x_i - z_t \rVert \rVert \le m` (up to
    rounding). Next to a non-optimal data point the Weiszfeld steps are tiny (they grow geometrically
    as the iterate escapes), so the step test alone would stop there. The loop ends when all batch
    elements are frozen or after ``max_iter`` iterations.
    Source: Weiszfeld 1937; smoothing as in Pillutla et al. 2022 (RFA).
    """
    _check_points(x)
    tol = check_scalar("tol", tol, low=0, low_open=True)
    eps = check_scalar("eps", eps, low=0, low_open=True)
    max_iter = check_scalar("max_iter", max_iter, int, low=1)
    precision = 4.0 * torch.finfo(x.dtype).eps
    slack = x.shape[-2] * max(tol, 4.0 * precision)  # rounding allowance on a sum of n unit vectors
    z = x.mean(dim=-2)
    active = torch.ones(z.shape[:-1], dtype=torch.bool, device=x.device)
    for _ in range(max_iter):
        diff = x - z.unsqueeze(-2)
        dist = torch.linalg.vector_norm(diff, dim=-1)
        w = 1.0 / dist.clamp_min(eps)
        z_new = (w.unsqueeze(-1) * x).sum(dim=-2) / w.sum(dim=-1, keepdim=True)
        step = torch.linalg.vector_norm(z_new - z, dim=-1)
        spread = dist.median(dim=-1).values
        floor = precision * torch.linalg.vector_norm(z, dim=-1)
        near = dist <= (math.sqrt(tol) * spread + floor).unsqueeze(-1)
        pull = torch.linalg.vector_norm((diff * (w * ~near).unsqueeze(-1)).sum(dim=-2), dim=-1)
        vertex_ok = pull <= near.sum(dim=-1) + slack
        converged = (step <= tol * spread + floor) & (~near.any(dim=-1) | vertex_ok)
        z = torch.where(active.unsqueeze(-1), z_new, z)
        active = active & ~converged
        if not bool(active.any()):
            break
    return z


def krum_scores(x: Tensor, f: int) -> Tensor:
    r"""Krum scores :math:`s_i = \sum_{j \in N_i} \lVert x_i - x_j \rVert^2`, shape ``(..., n)``,
    with :math:`N_i` the n − f − 2 nearest other vectors of :math:`x_i`.

    Requires ``n > 2f + 2``. Source: Blanchard et al. 2017.
    """
    n, _ = _check_points(x)
    _check_f(f, n, (n - 3) // 2, "krum", "n > 2f + 2")
    dists = pairwise_sq_dists(x)
    self_mask = torch.eye(n, dtype=torch.bool, device=x.device)
    others = dists.masked_fill(self_mask, float("inf"))
    return others.topk(n - f - 2, dim=-1, largest=False).values.sum(dim=-1)


def krum(x: Tensor, f: int) -> Tensor:
    r"""Krum :math:`x_{i^*}` with :math:`i^* = \arg\min_i s_i` (see :func:`krum_scores`; ties: lowest index).

    Requires ``n > 2f + 2``. Source: Blanchard et al. 2017.
    """
    best = krum_scores(x, f).argmin(dim=-1, keepdim=True)
    return _gather_rows(x, best).squeeze(-2)


def multi_krum(x: Tensor, f: int, q: int | None = None) -> Tensor:
    r"""Multi-Krum :math:`\frac1q \sum_{i \in Q} x_i`, Q = the q vectors with the lowest Krum scores
    (default ``q = n - f``; ``1 <= q <= n``). Requires ``n > 2f + 2``. Source: Blanchard et al. 2017.
    """
    n, _ = _check_points(x)
    scores = krum_scores(x, f)
    q = n - f if q is None else check_scalar("q", q, int, low=1, high=n)
    chosen = scores.topk(q, dim=-1, largest=False).indices
    return _gather_rows(x, chosen).mean(dim=-2)


# --------------------------------------------------------------------------- pre-aggregators


NNM_METHODS = ("auto", "pairwise", "exact")
#: elements of the (batch, n, n) distance block NNM holds at once (float64: 256 MB); larger batches go in chunks
NNM_BLOCK = 1 << 25
#: the largest d at which ``method="auto"`` ranks from exact distances: their cost grows with d, while the
#: Gram-matrix path's does not, but f identical inputs (what most attacks send) tie at the boundary of most
#: rows and send them to its exact recheck. Measured at n = 600, f = 100 (bench.peers, 1 thread, µs per set):
#: with f identical copies, exact 5.5–9k and Gram 11–14k up to d = 16, 8.7k/7.7k at d = 24, 12k/5.8k at d = 35;
#: with no ties, Gram 5.6–6.4k at every d ≥ 5 against exact 7.6–12k (both sets bit-identical)
NNM_EXACT_MAX_D = 16


def nnm(x: Tensor, f: int, *, method: str = "auto") -> Tensor:
    r"""Nearest-neighbour mixing :math:`y_i = \frac{1}{n-f}\sum_{j \in N_i} x_j`, with :math:`N_i` the
    n − f vectors closest to :math:`x_i` in Euclidean distance (itself included). Returns ``(..., n, d)``.

    Computed as :math:`y = W x` with :math:`W_{ij} = \frac{1}{n-f}\,[j \in N_i]`: the f farthest of each
    :math:`x_i` get weight 0, so ties (equal distances) give one valid neighbour set. ``method``:
    ``"auto"`` sorted windows when d = 1 (:func:`_nnm_1d`), ``"exact"`` up to d = :data:`NNM_EXACT_MAX_D`, else
    ``"pairwise"`` (the two give the same bits; only their cost differs); ``"pairwise"`` the farthest
    from Gram-matrix distances with an exact recheck of uncertain rows (:func:`_farthest`, the same sets as
    ``"exact"``); ``"exact"`` the farthest from :func:`pairwise_sq_dists` (the reference).
    Requires ``0 <= f < n``. Source: Allouah et al. 2023 ("Fixing by Mixing"); ByzFL ``NNM``.
    """
    n, d = _check_points(x)
    _check_f(f, n, n - 1, "nnm", "n - f >= 1")
    if method not in NNM_METHODS:
        raise ValueError(f"method must be one of {list(NNM_METHODS)} ('auto': sorted windows when d = 1), "
                         f"got {method!r}")
    if f == 0:
        return x.mean(dim=-2, keepdim=True).expand_as(x).clone()
    if method == "auto":
        if d == 1:
            return _nnm_1d(x, f)
        method = "exact" if d <= NNM_EXACT_MAX_D else "pairwise"
    flat = x.reshape(-1, n, d)
    chunk = max(1, NNM_BLOCK // (n * n))
    out = torch.empty_like(flat)
    for b in range(0, flat.shape[0], chunk):  # bounds the distance block's memory; one chunk for most inputs
        xb = flat[b : b + chunk]
        # Mixing over all but the f farthest: topk over f entries is cheaper than over n − f.
        farthest = (pairwise_sq_dists(xb).topk(f, dim=-1).indices if method == "exact" else _farthest(xb, f))
        weights = torch.full(xb.shape[:-1] + (n,), 1.0 / (n - f), dtype=x.dtype, device=x.device)
        out[b : b + chunk] = torch.matmul(weights.scatter_(-1, farthest, 0.0), xb)
    return out.view_as(x)


def _farthest(x: Tensor, f: int) -> Tensor:
    r"""Indices (B, n, f) of the f farthest vectors from each row of ``x`` (B, n, d), as
    :func:`pairwise_sq_dists` would rank them, at the cost of one matrix product and one partial selection.

    Row i is ranked by :math:`\lVert x_j\rVert^2 - 2\langle x_i, x_j\rangle` (the squared distance less the
    row's constant :math:`\lVert x_i\rVert^2`), from the Gram matrix. Its rounding error is at most
    :math:`e_{ij} = \gamma\,(\lVert x_i\rVert^2 + \lVert x_j\rVert^2)` with :math:`\gamma = 2(d + 4)u` (u the
    unit roundoff; the dot product's :math:`\gamma_d` bound, which holds for any summation order, plus the
    norms and the addition). A row's set is certain when its f-th and (f+1)-th largest values lie more
    than twice its largest :math:`e_{ij}` apart; the other rows (near-ties, duplicates) are ranked again
    from exact distances, so the sets equal the exact path's.
    """
    B, n, d = x.shape
    sq = (x * x).sum(-1)  # (B, n)
    rank = torch.baddbmm(sq[:, None, :].expand(B, n, n), x, x.transpose(1, 2), alpha=-2.0)
    vals, cand = rank.topk(f + 1, dim=-1, sorted=False)  # the f + 1 largest, in no order
    low = vals.topk(2, dim=-1, largest=False)  # the (f+1)-th and f-th largest
    gamma = 2.0 * (d + 4) * torch.finfo(x.dtype).eps
    emax = gamma * (sq + sq.amax(-1, keepdim=True))  # (B, n): the largest e_ij of row i
    unsure = (low.values[..., 1] - low.values[..., 0]) <= 2.0 * emax
    keep = torch.ones_like(cand, dtype=torch.bool).scatter_(-1, low.indices[..., :1], False)
    idx = cand[keep].view(B, n, f)  # drop the (f+1)-th
    if bool(unsure.any()):
        bi, ri = unsure.nonzero(as_tuple=True)
        exact = torch.cdist(x[bi, ri].unsqueeze(1), x[bi], compute_mode="donot_use_mm_for_euclid_dist").square()
        idx[bi, ri] = exact[:, 0].topk(f, dim=-1).indices
    return idx


def _nnm_1d(x: Tensor, f: int) -> Tensor:
    r"""NNM for d = 1 in O(n log n), without the n × n distance matrix.

    On the line, the k = n − f nearest neighbours of a point form a contiguous window
    :math:`[a, a+k-1]` of the sorted values with :math:`0 \le a \le f`. Its radius
    :math:`\max(s_p - s_a, s_{a+k-1} - s_p)` is minimized where :math:`s_a + s_{a+k-1}` crosses
    :math:`2 s_p` (a nondecreasing sequence in a), found by ``searchsorted``; the window mean comes
    from prefix sums. Exact: any minimizing window is a valid neighbour set.
    """
    k = x.shape[-2] - f
    s, order = x[..., 0].sort(dim=-1)
    # running sums in float64: in float32 they lose up to ~n·u of the largest input (4e-6 relative at n = 600);
    # MPS has no float64 and keeps the input's dtype
    wide = s.double() if s.dtype != torch.float64 and s.device.type != "mps" else s
    prefix = torch.cat([torch.zeros_like(wide[..., :1]), wide.cumsum(-1)], dim=-1)
    mid2 = (s[..., : f + 1] + s[..., k - 1 :]).contiguous()  # s_a + s_{a+k-1}, a = 0..f
    a = torch.searchsorted(mid2, (2 * s).contiguous())  # first a with s_a + s_{a+k-1} >= 2 s_p

    def radius(a_: Tensor) -> Tensor:
        return torch.maximum(s - s.gather(-1, a_), s.gather(-1, a_ + k - 1) - s)

    lo, hi = (a - 1).clamp(0, f), a.clamp(0, f)
    best = torch.where(radius(hi) < radius(lo), hi, lo)
    window_mean = ((prefix.gather(-1, best + k) - prefix.gather(-1, best)) / k).to(s.dtype)
    return torch.empty_like(s).scatter_(-1, order, window_mean).unsqueeze(-1)


def static_clip(x: Tensor, c: float) -> Tensor:
    r"""Static clipping :math:`x_i \min(1, c/\lVert x_i \rVert)`: every vector scaled to norm at most ``c > 0``.

    Source: ByzFL ``Clipping``.
    """
    _check_points(x)
    c = check_scalar("c", c, low=0, low_open=True)
    return _scale_to_norm(x, torch.tensor(c, dtype=x.dtype, device=x.device))


def server_clip_count(n: int, f: int) -> int:
    r"""Number of inputs clipped by :func:`server_clip`:
    :math:`k = \lfloor f (1 + \frac{f}{n-2f}) \rfloor` if :math:`f < n/3`, else :math:`k = f`.

    Requires ``0 <= f < n``. Source: the authors' code for arXiv 2409.20329 (``server_clip=1``),
    the adaptive clipping of Allouah et al. 2024 (ARC).
    """
    check_scalar("n", n, int, low=1)
    _check_f(f, n, n - 1, "server_clip", "f < n")
    if 3 * f < n:
        return (f * (n - f)) // (n - 2 * f)  # = floor(f (1 + f/(n-2f))), exact in integers
    return f


def server_clip(x: Tensor, f: int) -> Tensor:
    r"""Adaptive server clipping: with k = :func:`server_clip_count` (n, f) and
    :math:`\tau = \lVert x \rVert_{(k+1)}` the (k+1)-th largest input norm, return
    :math:`x_i \min(1, \tau / \lVert x_i \rVert)`: the k largest-norm inputs are clipped to τ,
    the others unchanged. ``k = 0`` is the identity. Requires ``0 <= f < n``.

    Source: the authors' code for arXiv 2409.20329; Allouah et al. 2024 (ARC).
    """
    n, _ = _check_points(x)
    k = server_clip_count(n, f)
    if k == 0:
        return x.clone()
    norms = torch.linalg.vector_norm(x, dim=-1)
    threshold = norms.topk(k + 1, dim=-1).values[..., k]
    return _scale_to_norm(x, threshold.unsqueeze(-1))


# --------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class _Step:
    """One named step of a rule: ``fn(x, f, **params)`` and the parameter names it accepts."""

    fn: Callable[..., Tensor]
    params: tuple[str, ...] = ()


_AGGREGATORS: dict[str, _Step] = {
    "mean": _Step(lambda x, f: mean(x)),
    "median": _Step(lambda x, f: coordinate_median(x)),
    "trimmed_mean": _Step(trimmed_mean),
    "geometric_median": _Step(lambda x, f, **p: geometric_median(x, **p), ("tol", "max_iter", "eps")),
    "krum": _Step(krum),
    "multi_krum": _Step(multi_krum, ("q",)),
}

_PREAGGREGATORS: dict[str, _Step] = {
    "nnm": _Step(lambda x, f, **p: nnm(x, f, **p), ("method",)),
    "clip": _Step(lambda x, f, clip_norm: static_clip(x, clip_norm), ("clip_norm",)),
    "server_clip": _Step(server_clip),
}

#: Names of the final aggregation rules accepted by :func:`make_aggregator`.
AGGREGATOR_NAMES: tuple[str, ...] = tuple(_AGGREGATORS)
#: Names of the pre-aggregators accepted by :func:`make_aggregator`.
PREAGGREGATOR_NAMES: tuple[str, ...] = tuple(_PREAGGREGATORS)

_REQUIRED_PARAMS = {"clip_norm"}


@dataclass(frozen=True)
class Aggregator:
    r"""A rule :math:`F = A \circ P_m \circ \dots \circ P_1`: pre-aggregators then one aggregator.

    ``rule`` is the '+'-joined chain (e.g. ``"server_clip+nnm+trimmed_mean"``), ``f`` the number
    of Byzantine inputs the rule is tuned for, ``params`` the rule parameters (``clip_norm`` for
    ``clip``, ``q`` for ``multi_krum``, ``tol``/``max_iter``/``eps`` for ``geometric_median``).
    Calling it on ``x`` of shape ``(..., n, d)`` returns ``(..., d)``. Build with :func:`make_aggregator`.
    """

    rule: str
    f: int
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_scalar("f", self.f, int, low=0)
        steps = self.steps
        accepted = {p for _, step in steps for p in step.params}
        unknown = set(self.params) - accepted
        if unknown:
            raise ValueError(
                f"params {sorted(unknown)} are not used by rule {self.rule!r}; accepted: {sorted(accepted)}"
            )
        missing = (accepted & _REQUIRED_PARAMS) - set(self.params)
        if missing:
            raise ValueError(f"rule {self.rule!r} needs params {sorted(missing)} (a float in (0, inf))")
        if "clip_norm" in self.params:
            check_scalar("clip_norm", self.params["clip_norm"], low=0, low_open=True)
        for name in ("tol", "eps"):
            if name in self.params:
                check_scalar(name, self.params[name], low=0, low_open=True)
        if "max_iter" in self.params:
            check_scalar("max_iter", self.params["max_iter"], int, low=1)
        if self.params.get("q") is not None:
            check_scalar("q", self.params["q"], int, low=1)

    @property
    def steps(self) -> list[tuple[str, _Step]]:
        """The parsed chain ``[(name, step), ...]``: pre-aggregators, then the aggregator."""
        if not isinstance(self.rule, str) or not self.rule:
            raise ValueError(f"rule must be a non-empty '+'-joined string, got {self.rule!r}")
        *pre, last = self.rule.split("+")
        for name in pre:
            if name not in _PREAGGREGATORS:
                raise ValueError(
                    f"unknown pre-aggregator {name!r} in rule {self.rule!r}; allowed: {list(PREAGGREGATOR_NAMES)}"
                )
        if last not in _AGGREGATORS:
            raise ValueError(
                f"unknown aggregator {last!r} in rule {self.rule!r} (must come last); "
                f"allowed: {list(AGGREGATOR_NAMES)}"
            )
        return [(name, _PREAGGREGATORS[name]) for name in pre] + [(last, _AGGREGATORS[last])]

    def __call__(self, x: Tensor) -> Tensor:
        """Apply the chain to ``x`` of shape ``(..., n, d)``; returns ``(..., d)``."""
        for _, step in self.steps:
            kwargs = {p: self.params[p] for p in step.params if p in self.params}
            x = step.fn(x, self.f, **kwargs)
        return x


def make_aggregator(rule: str, f: int, **params: Any) -> Aggregator:
    """Build the composed rule ``rule`` (e.g. ``"nnm+trimmed_mean"``, ``"clip+median"``) for ``f`` Byzantine inputs.

    Names: aggregators :data:`AGGREGATOR_NAMES` (exactly one, last), pre-aggregators
    :data:`PREAGGREGATOR_NAMES` (any number, applied left to right). Parameters: ``clip_norm``
    (required by ``clip``), ``q`` (``multi_krum``), ``tol``, ``max_iter``, ``eps`` (``geometric_median``).
    """
    return Aggregator(rule=rule, f=f, params=dict(params))
