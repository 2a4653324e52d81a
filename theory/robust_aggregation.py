r"""(f, κ)-robustness constants of robust aggregation rules.

Definition (Allouah et al., "Fixing by Mixing", AISTATS 2023, Def. 2). An aggregation rule
:math:`F` is *(f, κ)-robust* if for all vectors :math:`x_1, \dots, x_n` and every set
:math:`S \subseteq [n]` with :math:`|S| = n - f`,

.. math::
    \lVert F(x_1,\dots,x_n) - \bar x_S \rVert^2
    \le \kappa \cdot \frac{1}{|S|} \sum_{i \in S} \lVert x_i - \bar x_S \rVert^2 .

All functions broadcast over numpy arrays of ``n`` and ``f`` and require integers with
``0 <= f < n/2``. Each names its source and a provenance tag (**published**, **derived**
or **reconstructed**); see ``PROVENANCE`` for the tag of each constant.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from ._checks import check_n_f, check_range, check_representable, provenance, scalar_or_array

__all__ = [
    "PROVENANCE",
    "kappa_lower_bound",
    "kappa_trimmed_mean",
    "kappa_median",
    "kappa_geometric_median",
    "kappa_krum",
    "kappa_nnm",
    "kappa_of",
]

#: Provenance tag of each constant (see module docstring).
PROVENANCE: dict[str, str] = {
    "lower_bound": "published",
    "trimmed_mean": "reconstructed",
    "median": "reconstructed",
    "geometric_median": "reconstructed",
    "krum": "reconstructed",
    "nnm": "reconstructed",
}

# Why "reconstructed": the Fixing-by-Mixing text itself could not be read from this project.
# The definition, the lower bound f/(n-2f) and the *shapes* of the upper bounds are restated by
# citing work (e.g. "Krum: 1 + δ/(1-2δ); CWTM: δ/(1-2δ)(1 + δ/(1-2δ)); CWMed and GM:
# (1 + δ/(1-2δ))^2", δ = f/n, constants dropped). The leading constants (6, 4, 4, 6) and the
# NNM factor 8f/(n-f) are our reading of Table 1 / Theorem 1 and are checked empirically by
# tests/simulators/test_robustness.py (the ratio of the definition must stay below them).


def _r(n, f):
    """r = f/(n − 2f) of validated counts."""
    return f / (n - 2 * f)


def _ratio(n: ArrayLike, f: ArrayLike):
    n_arr, f_arr = check_n_f(n, f)
    return _r(n_arr, f_arr), n_arr, f_arr


@provenance("published", "Allouah et al. 2023 (Fixing by Mixing, AISTATS), as restated by citing work")
def kappa_lower_bound(n: ArrayLike, f: ArrayLike) -> ArrayLike:
    r"""Lower bound on κ for any (f, κ)-robust rule: :math:`\kappa \ge f/(n-2f)`.

    Source: Allouah et al. 2023 ("Fixing by Mixing"), restated as "the lower bound f/(n-2f)
    of κ" by citing work. **published**.
    The authors' mean-estimation notebook for arXiv 2409.20329 uses this value as κ.
    """
    r, _, _ = _ratio(n, f)
    return scalar_or_array(r)


@provenance("reconstructed", "Allouah et al. 2023 (Fixing by Mixing, AISTATS), Table 1")
def kappa_trimmed_mean(n: ArrayLike, f: ArrayLike) -> ArrayLike:
    r"""Coordinate-wise trimmed mean (f trimmed on each side):
    :math:`\kappa = \frac{6f}{n-2f}\left(1 + \frac{f}{n-2f}\right)`.

    Source: Allouah et al. 2023, Table 1. **reconstructed**: the shape in f/(n-2f) is
    confirmed by citing work, the leading constant is not. Holds for ``n > 2f``.
    """
    n_arr, f_arr = check_n_f(n, f)
    return scalar_or_array(check_representable("κ = 6r(1 + r), r = f/(n−2f)",
                                               lambda n, f: 6.0 * _r(n, f) * (1.0 + _r(n, f)), n=n_arr, f=f_arr))


@provenance("reconstructed", "Allouah et al. 2023 (Fixing by Mixing, AISTATS), Table 1")
def kappa_median(n: ArrayLike, f: ArrayLike) -> ArrayLike:
    r"""Coordinate-wise median: :math:`\kappa = 4\left(1 + \frac{f}{n-2f}\right)^2`.

    Source: Allouah et al. 2023, Table 1. **reconstructed**: the shape in f/(n-2f) is
    confirmed by citing work, the leading constant is not. Holds for ``n > 2f``.
    """
    n_arr, f_arr = check_n_f(n, f)
    return scalar_or_array(check_representable("κ = 4(1 + r)², r = f/(n−2f)", lambda n, f: 4.0 * (1.0 + _r(n, f)) ** 2,
                                               n=n_arr, f=f_arr))


@provenance("reconstructed", "Allouah et al. 2023 (Fixing by Mixing, AISTATS), Table 1")
def kappa_geometric_median(n: ArrayLike, f: ArrayLike) -> ArrayLike:
    r"""Geometric median: :math:`\kappa = 4\left(1 + \frac{f}{n-2f}\right)^2`.

    Source: Allouah et al. 2023, Table 1. **reconstructed**: the shape in f/(n-2f) is
    confirmed by citing work, the leading constant is not. Holds for ``n > 2f``
    and the exact geometric median; Weiszfeld's approximation adds its tolerance.
    """
    n_arr, f_arr = check_n_f(n, f)
    return scalar_or_array(check_representable("κ = 4(1 + r)², r = f/(n−2f)", lambda n, f: 4.0 * (1.0 + _r(n, f)) ** 2,
                                               n=n_arr, f=f_arr))


@provenance("reconstructed", "Allouah et al. 2023 (Fixing by Mixing, AISTATS), Table 1")
def kappa_krum(n: ArrayLike, f: ArrayLike) -> ArrayLike:
    r"""Krum: :math:`\kappa = 6\left(1 + \frac{f}{n-2f}\right)`.

    Source: Allouah et al. 2023, Table 1. **reconstructed**: the shape in f/(n-2f) is
    confirmed by citing work, the leading constant is not. Holds for ``n > 2f``.
    """
    n_arr, f_arr = check_n_f(n, f)
    return scalar_or_array(check_representable("κ = 6(1 + r), r = f/(n−2f)", lambda n, f: 6.0 * (1.0 + _r(n, f)),
                                               n=n_arr, f=f_arr))


@provenance("reconstructed", "Allouah et al. 2023 (Fixing by Mixing, AISTATS), the NNM lemma")
def kappa_nnm(n: ArrayLike, f: ArrayLike, kappa_inner: ArrayLike) -> ArrayLike:
    r"""Nearest-neighbour mixing composed with an (f, κ)-robust rule F:
    :math:`\kappa_{F \circ \mathrm{NNM}} = \frac{8f}{n-f}\,(\kappa_F + 1)`.

    Source: Allouah et al. 2023, the NNM lemma. **reconstructed**: only κ = O(f/n) is
    confirmed by citing work; the constant 8 is our reading. Because
    κ_F of the rules above is O(1) in f/n, the composition is O(f/n): order-optimal.
    ``kappa_inner`` must be non-negative.
    """
    n_arr, f_arr = check_n_f(n, f)
    k = check_range("kappa_inner", kappa_inner, low=0.0)
    return scalar_or_array(check_representable(
        "κ = 8f/(n−f)·(kappa_inner + 1)", lambda n, f, kappa_inner: 8.0 * f / (n - f) * (kappa_inner + 1.0),
        n=n_arr, f=f_arr, kappa_inner=k))


_RULES = {
    "lower_bound": kappa_lower_bound,
    "trimmed_mean": kappa_trimmed_mean,
    "median": kappa_median,
    "geometric_median": kappa_geometric_median,
    "krum": kappa_krum,
}


@provenance(
    "reconstructed",
    "Allouah et al. 2023 (Fixing by Mixing, AISTATS), Table 1 and the NNM lemma (tag of each rule in PROVENANCE)",
)
def kappa_of(rule: str, n: ArrayLike, f: ArrayLike) -> ArrayLike:
    """κ of a rule named like the simulators name it, e.g. ``"nnm+trimmed_mean"``.

    ``"mean"`` has κ = 0 only for ``f = 0`` (the average is not robust). Clipping steps
    (``clip``, ``server_clip``) are ignored: no published constant covers them, so the κ returned
    for a chain with clipping is that of the chain without it (unverified for the clipped rule).

    **reconstructed**, as the constants it composes (Allouah et al. 2023, Table 1 and the NNM
    lemma): only ``"lower_bound"`` is **published** and ``"mean"`` (κ = 0 at f = 0) is exact;
    ``PROVENANCE`` gives the tag of each rule.
    """
    if not isinstance(rule, str):
        raise ValueError(f"rule must be a string naming an aggregator (e.g. 'nnm+trimmed_mean'), got {rule!r}")
    parts = [p for p in rule.split("+") if p not in ("clip", "server_clip")]
    if not parts:
        raise ValueError(f"rule must name an aggregator, got {rule!r}")
    *pre, base = parts
    if base == "mean":
        _, f_arr = check_n_f(n, f)
        if (f_arr > 0).any():
            raise ValueError("rule 'mean' is not (f, κ)-robust for f > 0")
        kappa = 0.0 * f_arr
    elif base in _RULES:
        kappa = _RULES[base](n, f)
    else:
        raise ValueError(f"rule must be one of {sorted(_RULES) + ['mean']} (optionally prefixed 'nnm+'), got {rule!r}")
    for p in reversed(pre):
        if p != "nnm":
            raise ValueError(f"unknown pre-aggregator {p!r} in rule {rule!r}; allowed: 'nnm', 'clip'")
        kappa = kappa_nnm(n, f, kappa)
    return kappa
