"""Interrupt a run midway (Ctrl-C in the driver, or kill -9 of the driver and its workers), rerun:
nothing finished is recomputed and every number equals an uninterrupted run's."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fedtheory import validate
from fedtheory.validation.harness.store import ResultsStore

CLAIM = "byzantine.mean.lambda_star_tracks_argmin"
SEEDS = 6


def _strip(result):
    return json.dumps(result.summary, sort_keys=True)


def _arrays(path):
    with ResultsStore(path, write=False) as st:
        return {k: st.get(k) for k in st.keys()}


def _same_arrays(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        x.keys() == b[k].keys() and all(np.array_equal(x[n], b[k][n], equal_nan=x[n].dtype.kind == "f") for n in x)
        for k, x in a.items())


def test_ctrl_c_midway_resumes_without_recomputing(tmp_path, monkeypatch):
    reference = validate([CLAIM], seeds=SEEDS, out=tmp_path / "ref", progress=False, jobs=1)[0]
    total = reference.units_computed
    assert total > 3

    original = ResultsStore.put
    calls = {"n": 0}

    def interrupting_put(self, *args, **kwargs):
        original(self, *args, **kwargs)  # the unit is committed first, as in a real Ctrl-C after it
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ResultsStore, "put", interrupting_put)
    with pytest.raises(KeyboardInterrupt):
        validate([CLAIM], seeds=SEEDS, out=tmp_path / "run", progress=False, jobs=1)
    monkeypatch.setattr(ResultsStore, "put", original)

    with ResultsStore(tmp_path / "run" / "results.sqlite", write=False) as store:
        assert store.count_units() == 3  # consistent: exactly the finished units

    resumed = validate([CLAIM], seeds=SEEDS, out=tmp_path / "run", progress=False, jobs=1)[0]
    assert (resumed.units_from_store, resumed.units_computed) == (3, total - 3)
    assert _strip(resumed) == _strip(reference)

    third = validate([CLAIM], seeds=SEEDS, out=tmp_path / "run", progress=False, jobs=1)[0]
    assert third.units_computed == 0 and _strip(third) == _strip(reference)


KILL_CLAIMS = ["la-lora.method_ordering"]  # 20 training units of a few seconds each


@pytest.mark.claims
def test_kill_9_of_a_parallel_run_loses_nothing_that_finished(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "fedtheory.cli", "validate", *KILL_CLAIMS, "--jobs", "2", "--out", str(out),
           "--no-progress", "--seeds", "3"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store_path = out / "results.sqlite"
    stored, deadline = 0, time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if store_path.exists():
                with ResultsStore(store_path, write=False) as st:
                    stored = st.count_units()
                if stored >= 6:
                    break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool workers, without warning
        proc.wait()
    assert 6 <= stored < 20, f"the run was not caught half-way ({stored} units; {proc.stderr.read().decode()[-500:]})"
    with ResultsStore(store_path, write=False) as st:
        after_kill = st.count_units()
        assert after_kill >= stored  # consistent, and nothing lost

    (resumed,) = validate(KILL_CLAIMS, seeds=3, out=out, progress=False, jobs=2)
    assert resumed.units_from_store == after_kill and resumed.units_computed == 20 - after_kill
    (reference,) = validate(KILL_CLAIMS, seeds=3, out=tmp_path / "ref", progress=False, jobs=2)
    assert _strip(resumed) == _strip(reference)
    assert _same_arrays(_arrays(store_path), _arrays(tmp_path / "ref" / "results.sqlite"))
