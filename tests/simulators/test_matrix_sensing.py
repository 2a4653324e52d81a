"""Matrix sensing with n factor blocks (n clients, the paper's P)."""

import pytest
import torch

from fedtheory.simulators.la_lora.matrix_sensing import SensingConfig, estimate_rip, simulate_sensing


def test_converges_and_brackets_delta():
    r = simulate_sensing(SensingConfig(n=2, eta=0.3, iterations=40), seeds=[0, 1], rip_trials=300)
    assert r["loss"].shape == (2, 41)
    # descent at every step, and a linear rate: late per-step ratios stay away from 1 (a sub-linear
    # method's ratios tend to 1); how fast depends on the seed's operator (late ratios 0.62 and 0.95 here)
    assert float(r["ratio"].max()) < 1
    assert float(r["ratio"][:, -10:].max()) < 0.99 and float(r["loss"][:, -1].max()) < 1e-3 * float(r["loss"][:, 0].min())
    assert torch.all(r["delta_lower"] <= r["delta_upper"]) and torch.all(r["delta_upper"] < 1)


def test_rip_of_an_isometry_is_zero():
    op = torch.eye(16, dtype=torch.float64)
    assert estimate_rip(op, 4, 4, 2, 50, torch.Generator().manual_seed(0)) == pytest.approx(0.0, abs=1e-12)


def test_bad_config():
    with pytest.raises(ValueError, match=r"r_star must be <= n\*r.*r_star=5, n=2, r=1"):
        SensingConfig(r_star=5, r=1, n=2)
    with pytest.raises(ValueError, match="eta"):
        SensingConfig(eta=0.0)
    with pytest.raises(ValueError, match="^n "):
        SensingConfig(n=0)


@pytest.mark.parametrize("name, value", [("n", 2.0), ("r", True), ("eta", "0.5"), ("oversampling", None)])
def test_wrong_type_is_a_type_error(name, value):
    with pytest.raises(TypeError, match=rf"^{name} "):
        SensingConfig(**{name: value})
