"""The runner: shared units computed once, records that say what ran, --seeds with one meaning, clear failures."""

import numpy as np
import pytest

from fedtheory import CLAIMS, validate
from fedtheory.validation import Claim, Finding, Verdict, unit
from fedtheory.validation.harness.budgets import Budget
from fedtheory.validation.harness.runner import UnitFailed
from fedtheory.validation.harness.store import ResultsStore


def test_claims_that_need_the_same_measurement_share_its_unit(tmp_path):
    # the tracking and the fine-tuning claims read the same 20 sweep units
    first = validate(["byzantine.mean.lambda_star_tracks_argmin"], seeds=4, out=tmp_path, progress=False, jobs=1)[0]
    assert first.units_computed == 20 and first.units_from_store == 0
    second = validate(["byzantine.mean.fine_tuning_beats_extremes"], seeds=4, out=tmp_path, progress=False, jobs=1)[0]
    assert second.units_computed == 0 and second.units_from_store == 20
    assert first.units == second.units  # the same keys
    with ResultsStore(tmp_path / "results.sqlite", write=False) as st:
        assert st.count_units() == 20


def test_unit_keys_do_not_depend_on_the_claim_or_the_budget_seed_list():
    a = CLAIMS["byzantine.mean.lambda_star_tracks_argmin"].plan(Budget("quick"), 0)
    b = CLAIMS["byzantine.mean.fine_tuning_beats_extremes"].plan(Budget("quick"), 0)
    assert {n: u.on("cpu").key for n, u in a.items()} == {n: u.on("cpu").key for n, u in b.items()}
    # --seeds changes the units that repeat over seeds, and only those
    c = CLAIMS["la-lora.privacy_accounting"].plan(Budget("quick", seeds=5), 0)
    assert c["accountants"].seeds == () and all(len(u.seeds) == 5 for n, u in c.items() if n != "accountants")


def test_seeds_has_one_meaning(tmp_path):
    for cid in ("full-model.accuracy_vs_epsilon", "la-lora.sensing_rate_published", "byzantine.mean.exact_mse_f0",
                "byzantine.classification.best_lambda_trends", "promptfolio.real_features"):
        plan = CLAIMS[cid].plan(Budget("quick", seeds=3), 7)
        seeds = sorted({s for u in plan.values() for s in u.seeds})
        assert seeds == [7, 8, 9], cid


def test_records_carry_what_ran(tmp_path):
    (r,) = validate(["la-lora.sensing_rate_published"], out=tmp_path, progress=False, jobs=1, seed=3)
    assert r.budget == "quick" and r.seeds == list(range(3, 13))  # the claim's own 10 seeds, not a budget-wide 40
    assert r.config["sensing_seeds"] == 10 and set(r.units) == {"sensing"}
    report = (tmp_path / "REPORT.md").read_text()
    assert "| quick | 10 (3–12) |" in report


def test_an_unknown_budget_is_an_error():
    with pytest.raises(ValueError, match="budget must be one of"):
        Budget("huge")
    claim = CLAIMS["la-lora.filter_statistics"]
    with pytest.raises(ValueError, match="declares no sizes for budget"):
        Claim("x.y", "t", "s", {"quick": {}}, claim.units, claim.judge).plan(Budget("full"), 0)
    with pytest.raises(ValueError, match="seeds must be an integer >= 2"):
        Budget("quick", seeds=1)


def failing(x: float, seeds: list[int]) -> dict:
    if x > 1:
        raise RuntimeError("this unit always fails")
    return {"x": np.array([x] * len(seeds))}


def _judge(data) -> Finding:
    return Finding(Verdict.AGREES, {"n": len(data.units)}, "ok")


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_unit_is_named_and_the_finished_ones_are_kept(tmp_path, jobs, monkeypatch):
    claim = Claim("test.failing", "t", "s", {"quick": {}, "full": {}},
                  lambda sizes, seed: {"good": unit(failing, x=1.0, seeds=[seed], device="cpu", label="good"),
                                       "bad": unit(failing, x=2.0, seeds=[seed], device="cpu", label="bad")},
                  _judge)
    monkeypatch.setitem(CLAIMS, claim.id, claim)
    with pytest.raises(UnitFailed, match="unit bad .* this unit always fails"):
        validate(["test.failing"], out=tmp_path, progress=False, jobs=jobs)
    with ResultsStore(tmp_path / "results.sqlite", write=False) as st:
        assert st.count_units() <= 1  # the good unit, if it finished before the bad one


def test_every_claim_names_the_tagged_formulas_it_rests_on():
    tags = {"published", "derived", "reconstructed"}
    for claim in CLAIMS.values():
        for f in claim.provenance():
            assert f["provenance"] in tags and f["source"], (claim.id, f)


def test_records_show_the_provenance_of_the_formulas(tmp_path):
    (r,) = validate(["la-lora.sensing_rate_published"], out=tmp_path, progress=False, jobs=1)
    assert {f["formula"].rsplit(".", 1)[1] for f in r.formulas} == {"sensing_contraction", "sensing_step_limit"}
    assert {f["provenance"] for f in r.formulas} == {"reconstructed", "published"}
    report = (tmp_path / "REPORT.md").read_text()
    assert "**reconstructed**" in report and "Rests on: `fedtheory.theory.dp_lora.sensing_contraction`" in report
