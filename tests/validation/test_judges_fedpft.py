"""Judges of the FedPFT claims on synthetic arrays whose verdict is known by construction."""

import numpy as np
import pytest

from fedtheory import CLAIMS
from fedtheory.validation.harness.budgets import Sizes
from fedtheory.validation.harness.claims import ClaimData
from fedtheory.validation.harness.records import Verdict
from fedtheory.validation.papers import fedpft as P
from fedtheory.validation.papers import fedpft_minilm as M

SIZES = Sizes("quick", P.SIZES["quick"])
SHAPE = (2, 3, 10)  # seeds, instances, steps


def _theorem1(printed_gap: float = 0.0, rate_gap: float = 0.5, conditions: bool = True) -> dict:
    """f(x⁺) = 1; each bound = 1 + margin (printed bounds short by ``printed_gap``); gap/bound(11) = rate_gap."""
    out = {}
    one = np.ones(SHAPE)
    for j in range(len(P.SETTINGS)):
        out |= {f"{j}_next": one, f"{j}_rhs17": one - printed_gap, f"{j}_rhs17d": one + 0.1,
                f"{j}_rhs22": one - printed_gap, f"{j}_rhs22d": one + 0.1, f"{j}_mag17": one, f"{j}_mag22": one,
                f"{j}_c9": np.full(SHAPE, conditions), f"{j}_c9p": np.full(SHAPE, conditions),
                f"{j}_descent_ok": np.full(SHAPE, True), f"{j}_margin10": np.full(SHAPE, 1.0 if conditions else -1.0),
                f"{j}_margin10d": np.ones(SHAPE), f"{j}_bound11": one / rate_gap}
    return out


def _judge(claim, name, arrays):
    return CLAIMS[claim].judge(ClaimData(claim, SIZES, 0, {name: arrays}))


def test_proof_steps_disagree_only_when_a_printed_step_fails():
    assert _judge("fedpft.theorem1_proof_steps", "theorem1", _theorem1(0.0)).verdict is Verdict.AGREES
    f = _judge("fedpft.theorem1_proof_steps", "theorem1", _theorem1(0.01))
    assert f.verdict is Verdict.DISAGREES and "First counterexample to (17)" in f.message
    assert f.facts["totals"]["eq17_derived"] == 0
    # a miss within the rounding allowance (64 ε · magnitude) is not a violation
    assert _judge("fedpft.theorem1_proof_steps", "theorem1", _theorem1(10 * P.EPS)).verdict is Verdict.AGREES


@pytest.mark.parametrize("rate_gap, conditions, verdict", [(0.5, True, Verdict.BOUND_HOLDS),
                                                           (2.0, True, Verdict.BOUND_VIOLATED),
                                                           (2.0, False, Verdict.VACUOUS)])
def test_rate_is_checked_where_the_conditions_hold(rate_gap, conditions, verdict):
    f = _judge("fedpft.theorem1_rate", "theorem1", _theorem1(rate_gap=rate_gap, conditions=conditions))
    assert f.verdict is verdict, f.message
    if not conditions:  # the bound fails everywhere, but nowhere that the theorem speaks of
        assert all(r["violations_anywhere"] > 0 and r["checked"] == 0 for r in f.facts.values())


def _theorem2(ratio_printed: float) -> dict:
    out = {}
    for name in P.FAMILIES:
        gap = np.full((2, 9, 5), 1.0)
        out |= {f"{name}/gap_{p}": gap for p in "AB"}
        out |= {f"{name}/printed_{p}": gap / ratio_printed for p in "AB"}
        out |= {f"{name}/proof_{p}": gap * 2 for p in "AB"}
        out |= {f"{name}/derived_{p}": gap * 4 for p in "AB"}
        out[f"{name}/closed_form_gap_A"] = gap
    return out


def test_theorem2_is_violated_when_a_printed_ratio_exceeds_one():
    assert _judge("fedpft.theorem2_linear", "theorem2", _theorem2(0.5)).verdict is Verdict.BOUND_HOLDS
    f = _judge("fedpft.theorem2_linear", "theorem2", _theorem2(1.5))
    assert f.verdict is Verdict.BOUND_VIOLATED
    assert all(r["printed"]["max_ratio"] == pytest.approx(1.5) for r in f.facts.values())


def _costs(lora_extra: int = 0) -> dict:
    """Counts as the exact formulas give them for MiniLM and its proxy (layers 1–4 at 384)."""
    from fedtheory.theory.proxy_costs import layer_flops

    B, S, d, r = M.COSTS["batch"], M.COSTS["tokens"], 384, M.COSTS["r"]
    out = {"alignment_floats": np.array(M.COSTS["q"] * 384 * 2 * 384 * 4)}
    for name, d_ff in (("full", np.full(6, 1536)), ("proxy", np.array([1536, 384, 384, 384, 384, 1536]))):
        out |= {f"{name}_d_ff": d_ff, f"{name}_params": np.array(1), f"{name}_train_flops": np.array(1.0),
                f"{name}_layer_weights": np.array(float(np.sum(4 * d**2 + 2 * d * d_ff))),
                f"{name}_lora_floats": np.array(8 * 6 * r * d + lora_extra),
                f"{name}_forward_layer_flops": 2 * B * (np.asarray(layer_flops(S, d, d_ff)) + S**2 * d - S * d + S * 8 * r * d)}
    return out


def test_costs_agree_only_when_every_exact_count_matches():
    data = lambda c: ClaimData("fedpft.costs", Sizes("quick", {}), 0, {"costs": c})  # noqa: E731
    f = CLAIMS["fedpft.costs"].judge(data(_costs()))
    assert f.verdict is Verdict.AGREES and f.facts["table1_mib"] == [81.0, 47.25]
    assert CLAIMS["fedpft.costs"].judge(data(_costs(lora_extra=1))).verdict is Verdict.DISAGREES


def _real(scale: float) -> dict:
    """Theorem 1's checks on a logistic head whose proxy features are X(1 + scale) (a small or large proxy error)."""
    from fedtheory.simulators.fedpft.proxy_gd import run_logistic_proxy_gd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] > 0).astype(int)
    out = {}
    for kind in M.REAL["kinds"]:
        r = run_logistic_proxy_gd(X, X * (1 + scale), y, l2=1e-2, steps=200)
        out |= {f"{kind}_{k}": v for k, v in P.step_checks(r).items()}
        out[f"{kind}_feature_error"], out[f"{kind}_eta"] = np.array(scale), r["eta"]
    return out


def test_real_proxy_verdicts_follow_where_the_conditions_hold():
    data = lambda arr: ClaimData("fedpft.theorem1_real_proxy", SIZES, 0, {"real": arr})  # noqa: E731
    close = CLAIMS["fedpft.theorem1_real_proxy"].judge(data(_real(1e-4)))
    assert close.verdict is Verdict.BOUND_HOLDS and all(r["checked"] > 0 for r in close.facts.values())
    far = CLAIMS["fedpft.theorem1_real_proxy"].judge(data(_real(-0.9)))
    assert far.verdict is Verdict.VACUOUS and all(r["first_step_9_fails"] == 1 for r in far.facts.values())


def _grads(sal_gap: float, rnd_gap: float, sal_eps: float = 1.0, rnd_eps: float = 2.0) -> dict:
    """Per-layer gaps and errors of three proxies; the distilled one has the smallest ε and gap."""
    out = {"grad_sq": np.ones(6)}
    for kind, gap, eps in (("saliency", sal_gap, sal_eps), ("random", rnd_gap, rnd_eps), ("distilled", 0.01, 0.1)):
        out |= {f"{kind}_gap": np.full(6, gap), f"{kind}_grad_sq": np.ones(6), f"{kind}_eps1": np.full(6, eps),
                f"{kind}_eps2": np.full(6, eps)}
    return out


def test_gradient_error_ordering_must_follow_the_weight_and_output_errors():
    data = lambda arr: ClaimData("fedpft.minilm_gradient_error", SIZES, 0, {"lora_grads": arr})  # noqa: E731
    judge = CLAIMS["fedpft.minilm_gradient_error"].judge
    ok = judge(data(_grads(0.2, 0.4)))
    assert ok.verdict is Verdict.QUALITATIVE and ok.facts["saliency"]["condition_9"] and "3 pairs" in ok.message
    assert not judge(data(_grads(0.6, 0.4))).facts["saliency"]["condition_9"]
    assert judge(data(_grads(0.6, 0.4))).verdict is Verdict.DISAGREES  # smaller ε, larger gradient error
    flat = _grads(0.2, 0.4, 1.0, 1.0)
    for k in ("eps1", "eps2"):
        flat[f"distilled_{k}"] = np.full(6, 1.0)
    assert judge(data(flat)).verdict is Verdict.VACUOUS  # no proxy has both errors smaller: nothing was tested


def _accuracy_units(acc: dict, majority: float = 0.6, seeds: int = 4) -> dict:
    """One unit per arm and seed; ``acc[arm]`` is the mean, seeds spread by ±0.002 (the same for every arm)."""
    from fedtheory.validation.papers import fedpft_accuracy as A

    units = {}
    for arm in A.ARMS:
        for s in range(seeds):
            a = acc[arm] + 0.002 * (s - 1.5)
            units[f"{arm}/{s}"] = {"test_acc": np.array(a), "proxy_test_acc": np.array(a), "majority_acc": np.array(majority),
                                   "exact_zeros": np.array([5]), "activations": np.array([100]), "zero_neurons": np.array([2]),
                                   "neurons": np.array([8]), "nonpositive_overlap": np.array([0.5])}
    return units


PAPER_ORDER = dict(fedpetuning=0.90, fedpft=0.89, fedpft_random_select=0.885, fedpft_b=0.87, fedpft_d=0.85, fedpft_n=0.84,
                   fedot=0.83)


@pytest.mark.parametrize("change, verdict", [
    ({}, Verdict.AGREES),  # Table 4's order, each gap 0.01 or more against a seed spread of ±0.003
    ({"fedot": 0.95}, Verdict.DISAGREES),  # FedOT beats FedPFT and FedPFT_B: reversed
    ({"fedpft": 0.95}, Verdict.DISAGREES),  # FedPFT significantly above the full model
    ({"fedpft_b": 0.89, "fedpft": 0.89}, Verdict.QUALITATIVE),  # alignment during training makes no difference
])
def test_accuracy_follows_the_papers_orderings(change, verdict):
    from fedtheory.validation.papers import fedpft_accuracy as A

    data = ClaimData("fedpft.accuracy", Sizes("quick", A.SIZES["quick"]), 0, _accuracy_units({**PAPER_ORDER, **change}))
    f = CLAIMS["fedpft.accuracy"].judge(data)
    assert f.verdict is verdict, f.message
    assert f.facts["exact_zeros"] == 20 and f.facts["zero_neurons"] == 8  # 4 FedPFT runs, one alignment each


def test_accuracy_is_vacuous_when_the_full_model_learns_nothing():
    from fedtheory.validation.papers import fedpft_accuracy as A

    data = ClaimData("fedpft.accuracy", Sizes("quick", A.SIZES["quick"]), 0, _accuracy_units(PAPER_ORDER, majority=0.9))
    f = CLAIMS["fedpft.accuracy"].judge(data)
    assert f.verdict is Verdict.VACUOUS and "majority class" in f.message


def test_fedot_gradient_error_uses_its_own_full_model_and_only_its_adapted_layers():
    judge = CLAIMS["fedpft.minilm_gradient_error"].judge
    arr = _grads(0.2, 0.4)
    nan4 = [np.nan] * 4
    arr |= {"fedot_gap": np.array([0.1, *nan4, 0.3]), "fedot_full_grad_sq": np.array([1.0, *nan4, 0.5]),
            "fedot_grad_sq": np.array([1.0, *nan4, 1.0]), "fedot_eps1": np.full(6, np.nan),
            "fedot_eps2": np.array([0.0, *nan4, 2.0])}
    f = judge(ClaimData("fedpft.minilm_gradient_error", SIZES, 0, {"lora_grads": arr}))
    row = f.facts["fedot"]
    assert row["relative_gap"] == [0.1, None, None, None, None, 0.6] and row["mean_eps1"] is None
    assert not row["condition_9"] and row["total_relative_gap"] == pytest.approx(0.4 / 1.5)
    assert f.verdict is Verdict.QUALITATIVE and "3 pairs" in f.message  # FedOT has no ε₁: in no pair
