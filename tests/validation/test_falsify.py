"""`fedtheory falsify` and `fedtheory.testing`: planted false bounds are found, confirmed and shrunk; noise is not a
counterexample; a claim's search is stored, resumes and joins the report."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import numpy as np
import pytest
from hypothesis import strategies as st

from fedtheory.cli import load_claims, main
from fedtheory.testing import assert_bound_holds, falsify_bound
from fedtheory.validation.harness.falsify import Falsification, Score, run_search

SPACE = {"m": st.integers(1, 200), "sigma": st.floats(0.1, 10.0)}


def mse_of_mean(p, seed):
    """One draw of (x̄ − 0)² for m i.i.d. N(0, σ²) samples: its expectation is exactly σ²/m."""
    x = np.random.default_rng(seed).normal(0.0, p["sigma"], size=p["m"])
    return x.mean() ** 2


def test_a_bound_at_half_its_value_is_found_confirmed_and_shrunk_to_the_simplest_point():
    r = falsify_bound(mse_of_mean, lambda p: 0.5 * p["sigma"] ** 2 / p["m"], SPACE, seeds=30, examples=100)
    assert r.found and r.status == "counterexample"
    assert r.counterexample["point"] == {"m": 1, "sigma": 1.0}  # hypothesis' simplest point of the region
    assert r.counterexample["confirm"]["lo"] > 1 and r.counterexample["confirm"]["seeds"] == 120


def test_a_bound_false_only_in_a_corner_shrinks_to_the_corners_edge():
    # true for m <= 50, half the truth above: the minimal failing m is 51
    r = falsify_bound(mse_of_mean, lambda p: p["sigma"] ** 2 / p["m"] * (0.5 if p["m"] > 50 else 1.0), SPACE,
                      seeds=30, examples=200)
    assert r.found and r.counterexample["point"]["m"] == 51
    assert r.confirmations <= r.max_confirmations


def test_an_exact_bound_is_not_falsified_by_monte_carlo_noise():
    # E x̄² = σ²/m exactly: every point sits on the bound, so only noise could "violate" it
    r = assert_bound_holds(mse_of_mean, lambda p: p["sigma"] ** 2 / p["m"], SPACE, seeds=30, examples=150)
    assert not r.found and r.points > 50
    assert r.worst["value"] > 1  # noise does exceed the bound at some points: the confirmation is what rejects it


def test_assert_bound_holds_raises_with_the_counterexample():
    with pytest.raises(AssertionError, match="confirmed counterexample at m=1"):
        assert_bound_holds(mse_of_mean, lambda p: 0.1 * p["sigma"] ** 2 / p["m"], SPACE, seeds=30, examples=20)


def test_a_deterministic_bound_uses_an_arithmetic_tolerance():
    r = falsify_bound(lambda p, _: p["x"] ** 2, lambda p: p["x"] ** 2 * (1 + 1e-12), {"x": st.floats(0.5, 5.0)},
                      seeds=None, examples=50)
    assert not r.found and r.deterministic
    r = falsify_bound(lambda p, _: p["x"] ** 2, lambda p: 4.0, {"x": st.floats(0.5, 5.0)}, seeds=None, examples=50)
    # shrunk to a simplest failing x (hypothesis prefers integral floats): past the boundary x = 2, at most 3
    assert r.found and 2.0 < r.counterexample["point"]["x"] <= 3.0


def test_bad_arguments_are_errors_that_name_them():
    with pytest.raises(ValueError, match="seeds must be an integer >= 2"):
        falsify_bound(mse_of_mean, lambda p: 1.0, SPACE, seeds=1)
    with pytest.raises(ValueError, match="examples must be an integer >= 1"):
        falsify_bound(mse_of_mean, lambda p: 1.0, SPACE, examples=0)
    with pytest.raises(ValueError, match="space must be"):
        falsify_bound(mse_of_mean, lambda p: 1.0, {"m": 3})


def test_the_aggregator_search_finds_a_planted_kappa_and_shrinks_it_to_a_concrete_input_set():
    load_claims()
    from fedtheory.validation.papers import byzantine_aggregators as ba

    planted = dataclasses.replace(ba.SEARCH, score=lambda a, p, lvl: Score(*3 * [float(a["ratio"] / (0.05 * a["kappa"]))]))
    r = run_search(planted, lambda p, seeds: ba.ratio_at(p), examples=100, progress=False)
    assert r.found
    p = r.counterexample["point"]
    # the smallest region there is, and the ratio recomputed from the shrunk vectors is the recorded one
    assert (p["n"], p["f"], p["d"]) == (5, 1, 1)
    assert float(ba.ratio_at(p)["ratio"]) / (0.05 * float(ba.ratio_at(p)["kappa"])) == pytest.approx(
        r.counterexample["value"], rel=1e-12)


TARGETS = ["byzantine.mean.bound_holds", "byzantine.aggregators.kappa", "la-lora.sensing_rate_published",
           "la-lora.sensing_rate_normalized", "fedpft.theorem1_rate", "fedpft.theorem2_linear",
           "privacy-robustness.bound_and_lambda_star"]


def test_the_targets_are_the_claims_with_a_search_space():
    assert sorted(c.id for c in load_claims().values() if c.search is not None) == sorted(TARGETS)


@pytest.mark.parametrize("claim", TARGETS)
def test_a_short_search_per_target_is_stored_resumes_and_joins_the_report(claim, tmp_path, capsys):
    rc = main(["falsify", claim, "--examples", "30", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert rc in (0, 1) and ("no counterexample in" in out or "confirmed counterexample" in out)
    con = sqlite3.connect(tmp_path / "results.sqlite")
    ((record,),) = con.execute("SELECT record FROM falsifications WHERE claim_id=?", (claim,)).fetchall()
    units = con.execute("SELECT COUNT(*) FROM units").fetchone()[0]
    con.close()
    first = Falsification.from_json(record)
    assert (first.found or first.points >= 10) and units >= first.points >= 1
    assert (tmp_path / first.figure.split(str(tmp_path) + "/")[1]).exists()
    assert "Search for a counterexample" in (tmp_path / "REPORT.md").read_text()
    # the same seed replays the same search, from the store
    assert main(["falsify", claim, "--examples", "30", "--out", str(tmp_path), "--no-progress"]) == rc
    con = sqlite3.connect(tmp_path / "results.sqlite")
    assert con.execute("SELECT COUNT(*) FROM units").fetchone()[0] == units
    ((record,),) = con.execute("SELECT record FROM falsifications WHERE claim_id=?", (claim,)).fetchall()
    again = Falsification.from_json(record)
    assert [e["point"] for e in again.evaluations] == [e["point"] for e in first.evaluations]
    assert [e["value"] for e in again.evaluations] == [e["value"] for e in first.evaluations]
    capsys.readouterr()
    # --at measures one point as the search did
    point = first.worst["point"]
    main(["falsify", claim, "--at", json.dumps(point)])
    row = json.loads(capsys.readouterr().out)
    assert row["value"] == pytest.approx(first.worst["value"], rel=1e-9)


def test_falsify_names_the_claims_it_can_search(capsys):
    assert main(["falsify", "la-lora.noise_amplification", "--examples", "5"]) == 2
    err = capsys.readouterr().err
    assert "no search space for claim" in err and "byzantine.mean.bound_holds" in err
    assert main(["falsify"]) == 0
    assert "byzantine.aggregators.kappa" in capsys.readouterr().out


def test_a_confirmed_counterexample_overrides_the_grid_verdict_in_the_report(tmp_path):
    from fedtheory.validation.harness.records import ClaimResult, Verdict
    from fedtheory.validation.harness.report import verdict_table, write_report

    load_claims()
    r = ClaimResult("byzantine.aggregators.kappa", Verdict.BOUND_HOLDS, {}, "grid message")
    ev = dict(index=0, point={"n": 5}, value=2.0, lo=2.0, hi=2.0, candidate=True, confirmed=True, confirm=None,
              seconds=0.0)
    f = Falsification(name=r.claim_id, what="ρ / κ", status="counterexample", points=1, seconds=0.1, examples=10,
                      seed=0, level=0.05, max_confirmations=20, confirmations=0, deterministic=True, rtol=1e-6,
                      worst=ev, worst_by_label={}, counterexample=ev, reproduce="fedtheory falsify …")
    assert "❌ counterexample (grid: ✅ bound-holds)" in verdict_table([r], {r.claim_id: f})
    assert "✅ bound-holds |" in verdict_table([r], {})
    text = write_report([r], tmp_path, {r.claim_id: f}).read_text()
    assert "confirmed counterexample at n=5" in text and "Reproduce: fedtheory falsify" in text


def test_the_readmes_example_runs_as_printed():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b.split("\n", 1)[1] for b in text.split("```python")[1:] if "fedtheory.testing import" in b)
    namespace: dict = {}
    exec(compile(block.split("```")[0], "README.md", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert len(tests) == 1
    tests[0]()  # the bound is exact: no counterexample
    # and halving it gives the counterexample the README names
    with pytest.raises(AssertionError, match="m=1, sigma=1"):
        assert_bound_holds(namespace["mse_of_mean"], lambda p: 0.5 * p["sigma"] ** 2 / p["m"],
                           {"m": st.integers(1, 200), "sigma": st.floats(0.1, 10.0)}, seeds=30, examples=100)
