"""LA-LoRA claims on the quick budget: they run, write figures, and their verdicts follow from their numbers."""

from pathlib import Path

import pytest

from fedtheory import CLAIMS
from fedtheory.validation import Verdict

pytestmark = [pytest.mark.claims, pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")]


QUICK = ["la-lora"]


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("la-lora.")}


def test_every_claim_ran(quick_run):
    _, results = quick_run
    assert set(results) == {c for c in CLAIMS if c.startswith("la-lora.")} and len(results) == 9
    for r in results.values():
        if r.figure:
            assert Path(r.figure).exists() and Path(r.figure).with_suffix(".json").exists()


@pytest.mark.parametrize("claim", ["noise_amplification", "filter_statistics", "privacy_accounting"])
def test_exact_closed_forms_agree(quick_run, claim):
    # closed forms that are exact for the simulated mechanism: disagreement would be a bug
    r = quick_run[1][f"la-lora.{claim}"]
    assert r.verdict == Verdict.AGREES, r.message


def test_one_alternating_step_has_no_quadratic_term(quick_run):
    s = quick_run[1]["la-lora.alternating_noise"].summary
    assert s["la_lora/T=1"]["exact_zero"]
    lo, hi = s["dp_lora/T=1"]["ratio_ci"]  # one simultaneous step: η²N_BN_A exactly, so the CI covers 1
    assert lo <= 1 <= hi


def test_every_training_run_is_private_at_its_epsilon(quick_run):
    r = quick_run[1]["la-lora.method_ordering"]
    for key in ("eps=1", "eps=3", "eps=8"):
        assert r.summary[key]["noise_multiplier"] > 0
    assert r.summary["non-private"]["noise_multiplier"] == 0.0
    assert r.summary["eps=1"]["noise_multiplier"] > r.summary["eps=8"]["noise_multiplier"]
