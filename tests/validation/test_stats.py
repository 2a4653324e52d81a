"""The statistics behind the verdicts, against known values."""

import numpy as np
import pytest
from scipy import stats as sps

from fedtheory.validation import stats


def test_holm_known_values():
    # p = (0.01, 0.04, 0.03, 0.005): sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 → running max
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert np.allclose(adj, [0.03, 0.06, 0.06, 0.02])


def test_t_pvalue_matches_scipy_and_constant_inputs():
    x = np.array([-0.3, -0.1, -0.2, -0.25, 0.05])
    assert stats.t_pvalue(x, "less") == pytest.approx(sps.ttest_1samp(x, 0, alternative="less").pvalue)
    assert stats.t_pvalue(np.full(4, -1.0), "less") == 0.0
    assert stats.t_pvalue(np.full(4, -1.0), "greater") == 1.0


def test_welch_interval_covers_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        a, b = rng.normal(0.3, 1.0, 12), rng.normal(0.0, 2.0, 30)
        _, lo, hi = stats.welch_diff_ci(a, b)
        hits += lo <= 0.3 <= hi
    assert 0.90 <= hits / 400 <= 0.99  # 95% nominal; binomial sd ≈ 1.1% at 400 draws


def test_simultaneous_band_is_wider_than_pointwise():
    rng = np.random.default_rng(1)
    curves = rng.normal(size=(30, 50))
    _, lo, hi = stats.simultaneous_band(curves, n_coef=3)
    _, plo, phi = stats.mean_ci(curves)
    assert np.all(hi - lo > phi - plo)


def test_bootstrap_argmin_of_a_clear_minimum():
    grid = np.linspace(0, 1, 11)
    curves = (grid - 0.3) ** 2 + np.random.default_rng(2).normal(0, 1e-4, (20, 11))
    point, lo, hi, _ = stats.bootstrap_argmin(curves, grid, 200)
    assert point == pytest.approx(0.3) and lo == pytest.approx(0.3) and hi == pytest.approx(0.3)


def test_win_or_reversal_keeps_settings_and_extremes_apart():
    from fedtheory.validation.papers.byzantine_mean import win_or_reversal

    rng = np.random.default_rng(3)
    neg, pos, zero = (rng.normal(mu, 0.1, 40) for mu in (-1.0, 1.0, 0.0))
    out = win_or_reversal([(neg, neg), (neg, pos), (pos, neg), (zero, neg)])
    assert out == [(True, False), (False, True), (False, True), (False, False)]


def test_paired_family_separates_wins_reversals_and_ties():
    from fedtheory.validation.harness.stats import paired_family

    up = np.array([0.10, 0.11, 0.09, 0.10, 0.12])
    diffs = {"win": up, "reversed": -up, "tie": np.array([0.1, -0.1, 0.05, -0.05, 0.0])}
    wins, rev, adj = paired_family(diffs, reverse_only={"at most": up})
    assert wins == ["win"] and set(rev) == {"reversed", "at most"} and set(adj) == set(diffs)
    assert adj["tie"] == 1.0 or adj["tie"] > 0.05
