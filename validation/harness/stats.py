"""Statistics that turn per-seed measurements into intervals and agreement numbers.

Every tolerance used by a verdict comes from here: a confidence level over seeds, never a
number tuned until a test is green.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from fedtheory.simulators.shared import seeding

LEVEL = 0.95


def mean_ci(x: np.ndarray, axis: int = 0, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t confidence interval over ``axis`` (the seeds)."""
    x = np.asarray(x, dtype=float)
    s = x.shape[axis]
    if s < 2:
        raise ValueError(f"need at least 2 seeds for an interval, got {s}")
    m = x.mean(axis)
    se = x.std(axis, ddof=1) / np.sqrt(s)
    half = sps.t.ppf(0.5 + level / 2, s - 1) * se
    return m, m - half, m + half


def hotelling_radius(n_seeds: int, dim: int, level: float = LEVEL) -> float:
    r"""Critical radius :math:`\sqrt{T^2_{crit}}` of Hotelling's T² for a ``dim``-vector mean.

    :math:`T^2_{crit} = \frac{(S-1)\,p}{S-p} F_{p, S-p}(\text{level})`. A band
    :math:`\bar y(\lambda) \pm \sqrt{T^2_{crit}}\,\widehat{se}(\lambda)` over a curve that is linear
    in p per-seed coefficients covers the true curve at *every* λ simultaneously with
    probability ``level`` (Scheffé), under normality of the seed means.
    """
    if n_seeds <= dim:
        raise ValueError(f"need more seeds than coefficients ({dim}), got {n_seeds}")
    return float(np.sqrt((n_seeds - 1) * dim / (n_seeds - dim) * sps.f.ppf(level, dim, n_seeds - dim)))


def simultaneous_band(
    curves: np.ndarray, n_coef: int, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve and simultaneous band over seeds (axis 0) for curves with ``n_coef`` free coefficients."""
    curves = np.asarray(curves, dtype=float)
    s = curves.shape[0]
    m = curves.mean(0)
    se = curves.std(0, ddof=1) / np.sqrt(s)
    half = hotelling_radius(s, n_coef, level) * se
    return m, m - half, m + half


def bootstrap_weights(n_seeds: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(B, S) resampling weights (multinomial counts / S) for a seed bootstrap."""
    rng = seeding.rng(seed, "bootstrap")
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot) / n_seeds


def bootstrap_argmin(
    curves: np.ndarray, grid: np.ndarray, n_boot: int, level: float = LEVEL, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Argmin of the seed-mean curve and its percentile bootstrap interval.

    ``curves`` has shape (S, ..., L) with L = len(grid). Returns (argmin, lo, hi, boot) where
    ``boot`` holds the (B, ...) bootstrap argmins (reuse it for derived statistics).
    """
    curves = np.asarray(curves, dtype=float)
    s, rest = curves.shape[0], curves.shape[1:]
    w = bootstrap_weights(s, n_boot, seed)
    boot_means = (w @ curves.reshape(s, -1)).reshape((n_boot,) + rest)
    boot = grid[boot_means.argmin(-1)]
    point = grid[curves.mean(0).argmin(-1)]
    lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2], axis=0)
    return point, lo, hi, boot


def hierarchical_bootstrap(x: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """Bootstrap means of ``x`` (S, N, ...) over its first two axes, resampling hierarchically: (B, ...).

    Draw S seeds with replacement, then, independently for every drawn seed, N of that seed's units
    (clients, test examples) with replacement. Units of one seed share its partition, attack and
    initialization, so they are not independent draws; resampling only units would understate the
    seed-to-seed variation, resampling only seeds would ignore the units' own.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim < 2:
        raise ValueError(f"x must have a seed axis and a unit axis, got shape {x.shape}")
    rng = seeding.rng(seed, "bootstrap")
    S, N = x.shape[:2]
    s = rng.integers(0, S, size=(n_boot, S))
    e = rng.integers(0, N, size=(n_boot, S, N))
    return x[s[..., None], e].mean((1, 2))


def hierarchical_argmax(curves: np.ndarray, grid: np.ndarray, n_boot: int, seed: int = 0):
    """Argmax over ``grid`` of the mean curve of ``curves`` (S, N, L), with its hierarchical-bootstrap interval.

    Returns (point, lo, hi, boot, boot_curves): the grid value maximizing the mean over seeds and units,
    the percentile interval of the bootstrap argmaxes ``boot`` (B,), and the bootstrap mean curves (B, L).
    """
    grid = np.asarray(grid)
    boot_curves = hierarchical_bootstrap(curves, n_boot, seed)
    boot = grid[boot_curves.argmax(-1)]
    lo, hi = percentile_ci(boot)
    return float(grid[np.asarray(curves, float).mean((0, 1)).argmax()]), float(lo), float(hi), boot, boot_curves


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rank correlation and its two-sided p-value (nan if either side is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    r = sps.spearmanr(x, y)
    return float(r.statistic), float(r.pvalue)


def percentile_ci(samples: np.ndarray, level: float = LEVEL, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.quantile(samples, [0.5 - level / 2, 0.5 + level / 2], axis=axis)
    return lo, hi


def welch_diff_ci(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` (independent samples) with a Welch–Satterthwaite t-interval."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = a.mean() - b.mean()
    se = np.sqrt(va + vb)
    if se == 0:
        return float(diff), float(diff), float(diff)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = sps.t.ppf(0.5 + level / 2, dof) * se
    return float(diff), float(diff - half), float(diff + half)


def t_pvalue(x: np.ndarray, alternative: str) -> float:
    """One-sample t-test of mean 0 over the leading axis: ``alternative`` 'less', 'greater' or 'two-sided'.

    Two-sided: 2·min(one-sided p), capped at 1 (the t distribution is symmetric). Constant input
    (no spread) is decided by its sign: p = 0 on the alternative's side, 1 otherwise.
    """
    if alternative == "two-sided":
        return min(1.0, 2 * min(t_pvalue(x, "less"), t_pvalue(x, "greater")))
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative must be 'less', 'greater' or 'two-sided', got {alternative!r}")
    x = np.asarray(x, float)
    if np.ptp(x) == 0:
        return 0.0 if (alternative == "less" and x[0] < 0) or (alternative == "greater" and x[0] > 0) else 1.0
    return float(sps.ttest_1samp(x, 0.0, alternative=alternative).pvalue)


def bootstrap_pvalue(samples: np.ndarray, alternative: str) -> float:
    """One-sided bootstrap p-value of a statistic's bootstrap ``samples`` against 0.

    ``alternative='greater'``: H0 says the statistic is ≤ 0; ``'less'``: ≥ 0. p = (#{samples on H0's
    side} + 1)/(B + 1), which never returns 0 from finitely many resamples.
    """
    samples = np.asarray(samples, float).ravel()
    if alternative == "greater":
        k = np.sum(samples <= 0)
    elif alternative == "less":
        k = np.sum(samples >= 0)
    else:
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")
    return float((k + 1) / (samples.size + 1))


def significant(pvalues: dict, level: float = 0.05) -> list:
    """The keys of ``pvalues`` significant at family-wise ``level`` after Holm's correction, in their order."""
    if not pvalues:
        return []
    adj = holm(list(pvalues.values()))
    return [k for k, a in zip(pvalues, adj) if a <= level]


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (family-wise error control, no independence needed)."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    adj = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (p.size - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def paired_family(diffs: dict, reverse_only: dict | None = None) -> tuple[list, list, dict]:
    """One-sided paired t-tests of a family of predictions "difference > 0" over seeds (axis 0 of each array).

    Returns the keys significant as predicted (Holm over ``diffs``), the keys significantly reversed (Holm over
    the "less" tests of ``diffs`` and the "greater" tests of ``reverse_only``: predictions of the form "≥", whose
    only refutation is a significant difference of the other sign), and the Holm-adjusted p-value of each key
    of ``diffs``.
    """
    pvals = {k: t_pvalue(d, "greater") for k, d in diffs.items()}
    wins = significant(pvals)
    against = {k: t_pvalue(d, "less") for k, d in diffs.items()}
    against |= {k: t_pvalue(d, "greater") for k, d in (reverse_only or {}).items()}
    return wins, significant(against), dict(zip(pvals, holm(list(pvals.values()))))
