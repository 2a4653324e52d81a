"""FedPFT claims on the quick budget: they run, write figures, and the derived steps never fail."""

from pathlib import Path

import pytest

from fedtheory import CLAIMS

pytestmark = [pytest.mark.claims, pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")]

QUICK = ["fedpft"]


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("fedpft.")}


def test_every_claim_ran(quick_run):
    _, results = quick_run
    assert set(results) == {c for c in CLAIMS if c.startswith("fedpft.")} and len(results) == 7
    for r in results.values():
        assert Path(r.figure).exists()


def test_the_derived_steps_and_bounds_never_fail(quick_run):
    # derived here (theory/proxy_tuning.py, sympy-checked): a violation would be a bug, not a finding
    steps = quick_run[1]["fedpft.theorem1_proof_steps"].summary["totals"]
    assert steps["eq17_derived"] == 0 and steps["eq22_derived"] == 0 and steps["steps"] > 0
    rate = quick_run[1]["fedpft.theorem1_rate"].summary
    assert all(r["derived_violations"] == 0 for r in rate.values())
    t2 = quick_run[1]["fedpft.theorem2_linear"].summary
    assert all(r["derived"]["violations"] == 0 for r in t2.values())


def test_the_accuracy_claim_aligned_and_counted_the_zeros(quick_run):
    acc = quick_run[1]["fedpft.accuracy"].summary
    assert acc["activations"] > 0 and 0 <= acc["exact_zeros"] <= acc["activations"]  # the alignment ran and measured
    assert set(acc["accuracy"]) == {"fedpetuning", "fedpft", "fedpft_random_select", "fedpft_b", "fedpft_d", "fedpft_n",
                                    "fedot"}
