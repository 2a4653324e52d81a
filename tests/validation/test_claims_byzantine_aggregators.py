"""The (f, κ) worst-case search as a claim, on the quick budget: κ holds, and the search is strong enough to mean it."""

import pytest

from fedtheory.validation import Verdict

pytestmark = pytest.mark.claims

QUICK = ["byzantine.aggregators"]


@pytest.fixture(scope="module")
def kappa(quick_suite):
    return quick_suite[1]["byzantine.aggregators.kappa"]


def test_no_rule_exceeds_its_kappa(kappa):
    assert kappa.verdict == Verdict.BOUND_HOLDS, kappa.message
    assert all(v["worst"] <= v["kappa"] * (1 + 1e-6) for v in kappa.summary.values())


def test_the_search_gets_near_the_lower_bound_every_rule_must_meet(kappa):
    # every rule has inputs with ratio >= f/(n−2f) for some honest set; a search far below that is too weak
    # for its "holds" to mean anything
    weak = {k: v["worst_over_lower"] for k, v in kappa.summary.items() if v["worst_over_lower"] < 0.5}
    assert not weak, f"search too weak: {weak}"


def test_it_wrote_its_figure(kappa):
    from pathlib import Path

    assert Path(kappa.figure).exists()
