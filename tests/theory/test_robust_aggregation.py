import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedtheory.theory.robust_aggregation import (
    PROVENANCE,
    kappa_geometric_median,
    kappa_krum,
    kappa_lower_bound,
    kappa_median,
    kappa_nnm,
    kappa_of,
    kappa_trimmed_mean,
)

UPPER = [kappa_trimmed_mean, kappa_median, kappa_geometric_median, kappa_krum]


@st.composite
def counts(draw):
    n = draw(st.integers(3, 5000))
    return n, draw(st.integers(1, (n - 1) // 2))


@given(counts())
def test_upper_bounds_dominate_the_lower_bound(nf):
    n, f = nf
    low = kappa_lower_bound(n, f)
    for fn in UPPER:
        assert fn(n, f) >= low
    assert kappa_of("nnm+trimmed_mean", n, f) >= low * (1 - 1e-12)


@given(counts())
def test_monotone_in_f(nf):
    n, f = nf
    if 2 * (f + 1) < n:
        for fn in [kappa_lower_bound, *UPPER]:
            assert fn(n, f + 1) >= fn(n, f)


def test_known_values():
    # n = 600, f = 100: f/(n-2f) = 1/4
    assert kappa_lower_bound(600, 100) == pytest.approx(0.25)
    assert kappa_trimmed_mean(600, 100) == pytest.approx(6 * 0.25 * 1.25)
    assert kappa_median(600, 100) == pytest.approx(4 * 1.25**2)
    assert kappa_krum(600, 100) == pytest.approx(6 * 1.25)
    assert kappa_nnm(600, 100, 1.875) == pytest.approx(8 * 100 / 500 * 2.875)
    assert kappa_of("nnm+trimmed_mean", 600, 100) == pytest.approx(8 * 100 / 500 * (1 + 1.875))


def test_nnm_is_order_f_over_n():
    n = np.array([100, 1000, 10000])
    f = n // 10
    k = kappa_of("nnm+trimmed_mean", n, f)
    assert np.allclose(k * n / f, k[0] * n[0] / f[0], rtol=0.02)  # ~ constant × f/n


def test_broadcast_and_errors():
    assert kappa_lower_bound(np.array([10, 20]), 2).shape == (2,)
    with pytest.raises(ValueError, match="^f "):
        kappa_trimmed_mean(10, 5)
    with pytest.raises(ValueError, match="^n "):
        kappa_median(2.5, 1)
    with pytest.raises(ValueError, match="^kappa_inner "):
        kappa_nnm(10, 2, -1.0)
    with pytest.raises(ValueError, match="^rule "):
        kappa_of("bogus", 10, 2)
    with pytest.raises(ValueError, match="not"):
        kappa_of("mean", 10, 2)
    assert kappa_of("mean", 10, 0) == 0.0


def test_every_constant_has_a_provenance_tag():
    assert set(PROVENANCE.values()) <= {"published", "derived", "reconstructed"}
    assert {"lower_bound", "trimmed_mean", "median", "geometric_median", "krum", "nnm"} <= set(PROVENANCE)


def test_theory_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, theory; assert 'torch' not in sys.modules, 'fedtheory.theory imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
