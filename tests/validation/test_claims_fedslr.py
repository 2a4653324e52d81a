"""FedSLR claims on the quick budget: they run, write figures, and the exact ones agree."""

from pathlib import Path

import pytest

from fedtheory import CLAIMS
from fedtheory.validation import Verdict

pytestmark = [pytest.mark.claims, pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")]

QUICK = ["fedslr"]


@pytest.fixture(scope="module")
def quick_run(quick_suite):
    out, results = quick_suite
    return out, {k: r for k, r in results.items() if k.startswith("fedslr.")}


def test_every_claim_ran(quick_run):
    _, results = quick_run
    assert set(results) == {c for c in CLAIMS if c.startswith("fedslr.")} and len(results) == 8
    for r in results.values():
        if r.figure:
            assert Path(r.figure).exists() and Path(r.figure).with_suffix(".json").exists()


def test_the_counted_downlink_is_the_formula(quick_run):
    # an exact count: any mismatch is a bug in the simulator or the formula
    r = quick_run[1]["fedslr.communication"]
    assert r.verdict == Verdict.AGREES and r.summary["mismatches"] == 0 and r.summary["compared"] > 0


def test_full_participation_with_the_stated_objective_reaches_the_minimiser(quick_run):
    # the FedDyn fixed point is the centralised minimiser whatever the local steps (a derived identity)
    rows = quick_run[1]["fedslr.stage1_stationary"].summary
    for label, r in rows.items():
        if "q=1" in label and "wd=" not in label and "α/L=1," in label:
            assert r["status"] == "stationary", (label, r)
