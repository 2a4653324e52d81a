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


def _byz_units(scale: float, seeds: int = 50) -> dict:
    """Coefficients whose mean curve is ``scale`` × the bound (its argmin the bound's), ± a seed spread."""
    from fedtheory.simulators.byzantine.private_mean import PrivateMeanConfig, client_means, release_std
    from fedtheory.theory.robust_aggregation import kappa_of

    rng = np.random.default_rng(1)
    lam = np.array([0.0, 0.5, 1.0])
    out = {}
    for f in P.F_VALUES:
        cfg = PrivateMeanConfig(**{**P.BASE, **P.BYZ, "f": f})
        tau, mu_i = release_std(cfg), client_means(cfg)
        y = scale * P.bound_curves(P.BYZ["n"], f, tau, mu_i, lam, float(kappa_of(P.AGGREGATOR, P.BYZ["n"], f)))
        c = 2 * (y[:, 2] - 2 * y[:, 1] + y[:, 0])
        b = (y[:, 2] - y[:, 0] - c) / 2
        coef = np.stack([y[:, 0], b, c], -1)[None] * (1 + 0.01 * rng.standard_normal((seeds, len(P.EPS), 1)))
        out[f"f={f}"] = {"coef": coef, "tau": tau, "mu_i": mu_i}
    return out


def test_bound_judge_holds_below_the_bound_and_is_violated_above_it():
    judge = CLAIMS["privacy-robustness.bound_and_lambda_star"].judge
    sizes = Sizes("quick", dict(P.SIZES["quick"], bootstrap=100))
    ok = judge(ClaimData("privacy-robustness.bound_and_lambda_star", sizes, 0, _byz_units(0.5)))
    assert ok.verdict is Verdict.BOUND_HOLDS and ok.facts["spearman"] > 0.9
    bad = judge(ClaimData("privacy-robustness.bound_and_lambda_star", sizes, 0, _byz_units(1.5)))
    assert bad.verdict is Verdict.BOUND_VIOLATED and "significantly violated" in bad.message


def _real_units(best: dict) -> dict:
    """Accuracy (S, Λ, h) peaked at ``best[(f, ε)]`` (a grid index), the same on every seed and client."""
    grid = np.asarray(P.LAMS_REAL)
    out = {}
    for f in P.F_REAL:
        for e in P.EPS_REAL:
            acc = 0.9 - 0.1 * (grid - grid[best[(f, e)]]) ** 2
            rng = np.random.default_rng(f)
            out[P._real_key(f, e)] = {"accuracy": acc[None, :, None] + 1e-4 * rng.random((3, grid.size, 5)),
                                      "z": np.array(0.0 if np.isinf(e) else 10.0 / e), "G2": np.ones(3),
                                      "phi": np.full((3, 5), 0.1), "pdim": np.array(36), "params": np.array(72)}
    return out


def test_real_data_judge_flags_a_reversed_trend():
    judge = CLAIMS["privacy-robustness.phishing"].judge
    sizes = Sizes("quick", dict(P.SIZES_REAL["quick"], bootstrap=100))
    falling = {(f, e): min(5, j + 1) - (1 if f == 6 else 0) for f in P.F_REAL for j, e in enumerate(P.EPS_REAL)}
    ok = judge(ClaimData("privacy-robustness.phishing", sizes, 0, _real_units(falling)))
    assert ok.verdict is Verdict.QUALITATIVE and ok.facts["reversed"] == []
    rising = dict(falling)
    rising[(0, 1.0)] = 5  # at the smallest ε the best λ jumps to full collaboration
    bad = judge(ClaimData("privacy-robustness.phishing", sizes, 0, _real_units(rising)))
    assert bad.verdict is Verdict.DISAGREES and any("ε=3 above" in r or "ε=1 above" in r for r in bad.facts["reversed"])


def _trilemma_units(local_everywhere: bool = False) -> dict:
    """Measured coefficients equal to the theory's curves (the exact MSE at f = 0, half the bound at f > 0)."""
    from fedtheory.simulators.byzantine.private_mean import PrivateMeanConfig, client_means, release_std
    from fedtheory.theory.robust_aggregation import kappa_of

    lam = np.array([0.0, 0.5, 1.0])
    out = {}
    for n, f in P.TRILEMMA:
        cfg = PrivateMeanConfig(**{**P.BASE, **({} if f == 0 else P.BYZ), "n": n, "f": f, "eps": tuple(P.EPS_FINE)})
        tau, mu_i = release_std(cfg), client_means(cfg)
        y = (P.exact_curves(n, tau, mu_i, lam) if f == 0 else
             0.5 * P.bound_curves(n, f, tau, mu_i, lam, float(kappa_of(P.AGGREGATOR, n, f))))
        c = 2 * (y[:, 2] - 2 * y[:, 1] + y[:, 0])
        b = (y[:, 2] - y[:, 0] - c) / 2
        if local_everywhere and f == 0:
            b = np.abs(b)  # the error grows with λ from the start: λ = 0 best at every ε
        out[f"n={n}/f={f}"] = {"coef": np.stack([y[:, 0], b, c], -1)[None].repeat(2, 0), "tau": tau, "mu_i": mu_i}
    return out


def test_trilemma_judge_compares_thresholds():
    judge = CLAIMS["privacy-robustness.trilemma"].judge
    sizes = Sizes("quick", P.SIZES["quick"])
    assert judge(ClaimData("privacy-robustness.trilemma", sizes, 0, _trilemma_units())).verdict is Verdict.AGREES
    bad = judge(ClaimData("privacy-robustness.trilemma", sizes, 0, _trilemma_units(local_everywhere=True)))
    assert bad.verdict is Verdict.DISAGREES and bad.facts["n=10, f=0"]["measured_threshold"] == P.EPS_FINE[-1]
