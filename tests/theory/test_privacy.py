"""Privacy accounting through opacus against the analytic Gaussian mechanism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("opacus")

from fedtheory.theory.privacy import analytic_gaussian_delta, analytic_gaussian_epsilon, epsilon, noise_multiplier  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


def test_reference_values():
    # reference/offline_resources.md: q = 256/60000, σ = 1.1, 14040 steps, δ = 1e-5
    assert epsilon(1.1, 256 / 60000, 14040, 1e-5) == pytest.approx(2.594, abs=1e-3)
    assert epsilon(1.1, 256 / 60000, 14040, 1e-5, "prv") == pytest.approx(2.390, abs=0.01)


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0, 5.0])
def test_single_gaussian_mechanism(sigma):
    # q = 1, one step: PRV is tight (within its ε error 0.01 + discretisation), RDP an upper bound
    exact = analytic_gaussian_epsilon(sigma, 1e-5)
    assert analytic_gaussian_delta(exact, sigma) == pytest.approx(1e-5, rel=1e-6)
    assert abs(epsilon(sigma, 1.0, 1, 1e-5, "prv") - exact) <= 0.02
    assert epsilon(sigma, 1.0, 1, 1e-5, "rdp") >= exact - 1e-9


@settings(max_examples=15)
@given(st.floats(0.6, 4.0), st.floats(0.005, 0.2), st.integers(1, 2000))
def test_epsilon_decreases_in_sigma_and_inverts(z, q, steps):
    e = epsilon(z, q, steps, 1e-5)
    assert epsilon(1.2 * z, q, steps, 1e-5) <= e
    assert noise_multiplier(e, q, steps, 1e-5) == pytest.approx(z, rel=1e-4)


def test_broadcasts_and_errors():
    out = epsilon(np.array([1.0, 2.0]), 0.01, 100, 1e-5)
    assert out.shape == (2,) and out[0] > out[1]
    assert epsilon(0.0, 0.01, 10, 1e-5) == np.inf
    for call, name in ((lambda: epsilon(1.0, 0.0, 10, 1e-5), "sample_rate"),
                       (lambda: epsilon(1.0, 0.1, 10, 1.0), "delta"),
                       (lambda: epsilon(1.0, 0.1, 10, 1e-5, "gdp"), "accountant"),
                       (lambda: noise_multiplier(-1.0, 0.1, 10, 1e-5), "eps"),
                       (lambda: analytic_gaussian_epsilon(0.0, 1e-5), "sigma")):
        with pytest.raises(ValueError, match=name):
            call()
