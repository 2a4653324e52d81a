"""Claim tests on the quick budget: every claim runs, writes its figure and an honest verdict."""

import json
from pathlib import Path

import pytest

from fedtheory import CLAIMS, validate
from fedtheory.validation import Verdict
from fedtheory.validation.harness.store import ResultsStore

pytestmark = pytest.mark.claims
QUICK = ["byzantine.mean"]


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("byzantine.mean.")}


def test_every_byzantine_claim_ran(quick_run):
    out, results = quick_run
    assert set(results) == {c for c in CLAIMS if c.startswith("byzantine.mean.")}
    for r in results.values():
        for png in map(Path, [r.figure, *r.extra_figures]):
            assert png.exists() and png.with_suffix(".csv").exists() and png.with_suffix(".json").exists()
    report = (out / "REPORT.md").read_text()
    for cid in results:
        assert cid in report


def test_exact_mse_agrees(quick_run):
    # f = 0: the formula is exact, so anything but agreement is a bug in the simulator or the formula.
    r = quick_run[1]["byzantine.mean.exact_mse_f0"]
    assert r.verdict == Verdict.AGREES, r.message
    for key, row in r.summary.items():
        if key.startswith("sigma_h="):
            assert abs(row["argmin"] - row["lambda_star"]) <= row["tolerance"] + 1e-12


def test_tracking_covers_both_attacks_and_all_sweeps(quick_run):
    r = quick_run[1]["byzantine.mean.lambda_star_tracks_argmin"]
    assert {k for k in r.summary if "/" in k} == {f"{a}/{p}" for a in ("sign_flipping", "alie")
                                                   for p in ("sigma_h", "sigma", "m", "f")}


def test_the_published_bound_holds(quick_run):
    # an upper bound proved for any (f, κ)-robust rule: a violation would be a bug or an erratum
    assert quick_run[1]["byzantine.mean.bound_holds"].verdict == Verdict.BOUND_HOLDS


def test_rerun_is_served_from_the_store(quick_run):
    out, first = quick_run
    again = validate(["byzantine.mean.exact_mse_f0"], budget="quick", out=out, progress=False)[0]
    assert again.units_computed == 0 and again.units_from_store >= 1
    assert json.dumps(again.summary, sort_keys=True) == json.dumps(
        first["byzantine.mean.exact_mse_f0"].summary, sort_keys=True)
    with ResultsStore(out / "results.sqlite") as store:
        assert {r.claim_id for r in store.results()} >= set(first)
