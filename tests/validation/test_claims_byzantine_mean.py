"""Claim tests on the quick budget: every claim runs, writes its figure and an honest verdict."""

import json
from pathlib import Path

import pytest

from validation import CLAIMS, Verdict, validate
from validation.store import ResultsStore

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


def test_tracking_reports_spearman_and_offsets(quick_run):
    r = quick_run[1]["byzantine.mean.lambda_star_tracks_argmin"]
    assert r.verdict in {Verdict.AGREES, Verdict.QUALITATIVE, Verdict.DISAGREES}
    sweeps = [k for k in r.summary if "/" in k]
    assert len(sweeps) == 8  # 2 attacks × (σ_h, σ, m, f)
    for k in sweeps:
        lo, hi = r.summary[k]["offset_ci"]
        assert lo <= hi
    # The verdict follows from the numbers it reports: trends by Spearman, offsets per setting
    # (every setting within grid step + Monte-Carlo error).
    trends = [r.summary[k]["spearman"] > 0 and r.summary[k]["p_value"] < 0.05 for k in sweeps]
    within = [tuple(map(int, r.summary[k]["settings_within_tol"].split("/"))) for k in sweeps]
    offsets = [a == b for a, b in within]
    expected = Verdict.DISAGREES if not all(trends) else Verdict.AGREES if all(offsets) else Verdict.QUALITATIVE
    assert r.verdict == expected


def test_bound_verdict_follows_from_ratios(quick_run):
    r = quick_run[1]["byzantine.mean.bound_holds"]
    assert r.verdict in {Verdict.BOUND_HOLDS, Verdict.BOUND_VIOLATED}
    violated_pub = any("VIOLATED" in v for k, row in r.summary.items() if "/" in k for vk, v in row.items()
                       if vk.startswith("published"))
    assert (r.verdict == Verdict.BOUND_VIOLATED) == violated_pub


def test_fine_tuning_counts_are_consistent(quick_run):
    r = quick_run[1]["byzantine.mean.fine_tuning_beats_extremes"]
    s = r.summary
    assert s["wins"] + s["not_significant"] + s["reversed"] == s["settings_with_interior_lambda_star"]
    assert (r.verdict == Verdict.DISAGREES) == (s["reversed"] > 0)


def test_rerun_is_served_from_the_store(quick_run):
    out, first = quick_run
    again = validate(["byzantine.mean.exact_mse_f0"], budget="quick", out=out, progress=False)[0]
    assert again.units_computed == 0 and again.units_from_store >= 1
    assert json.dumps(again.summary, sort_keys=True) == json.dumps(
        first["byzantine.mean.exact_mse_f0"].summary, sort_keys=True)
    with ResultsStore(out / "results.sqlite") as store:
        assert {r.claim_id for r in store.results()} >= set(first)
