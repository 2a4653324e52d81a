"""Privacy × robustness × personalization: the judge on curves whose verdict is known, and the claims at the quick budget."""

from pathlib import Path

import numpy as np
import pytest

from fedtheory import CLAIMS
from fedtheory.validation.harness.budgets import Sizes
from fedtheory.validation.harness.claims import ClaimData
from fedtheory.validation.harness.records import Verdict
from fedtheory.validation.papers import private_personalization as P

QUICK = ["privacy-robustness"]


def _units(shift: float = 0.0, seeds: int = 50) -> dict:
    """Per n: coefficients that reproduce the exact curve on average (± a seed spread), plus ``shift`` on a."""
    from fedtheory.simulators.byzantine.private_mean import PrivateMeanConfig, client_means, release_std

    rng = np.random.default_rng(0)
    lam = np.array([0.0, 0.5, 1.0])
    out = {}
    for n in P.N_VALUES:
        cfg = PrivateMeanConfig(**{**P.BASE, "n": n, "f": 0})
        tau, mu_i = release_std(cfg), client_means(cfg)
        y = P.exact_curves(n, tau, mu_i, lam)  # (E, 3): a + 2λb + λ²c through three points
        a = y[:, 0]
        c = 2 * (y[:, 2] - 2 * y[:, 1] + y[:, 0])
        b = (y[:, 2] - a - c) / 2
        coef = np.stack([a + shift, b, c], -1)[None] * (1 + 0.01 * rng.standard_normal((seeds, len(P.EPS), 1)))
        out[f"n={n}"] = {"coef": coef, "tau": tau, "mu_i": mu_i}
    return out


def _judge(units):
    return CLAIMS["privacy-robustness.exact_mse_f0"].judge(
        ClaimData("privacy-robustness.exact_mse_f0", Sizes("quick", dict(P.SIZES["quick"], bootstrap=100)), 0, units))


def test_judge_agrees_on_the_exact_curves_and_disagrees_when_they_are_shifted():
    assert _judge(_units()).verdict is Verdict.AGREES
    f = _judge(_units(shift=0.05))
    assert f.verdict is Verdict.DISAGREES and "leaves the band" in f.message


@pytest.mark.claims
def test_quick_claims_run_and_agree_at_f0(quick_suite):
    _, results = quick_suite
    mine = {k: r for k, r in results.items() if k.startswith("privacy-robustness.")}
    assert set(mine) == {c for c in CLAIMS if c.startswith("privacy-robustness.")} and mine
    for r in mine.values():
        assert Path(r.figure).exists()
