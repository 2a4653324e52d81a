"""Same seed, same numbers, whatever the executor: serial, a local process pool, and Ray."""

import json
import sqlite3

import numpy as np
import pytest

from fedtheory import validate
from fedtheory.validation.harness.executors import ProcessExecutor, SerialExecutor, make_executor
from fedtheory.validation.harness.store import ResultsStore
from fedtheory.validation.harness.units import unit

pytestmark = [pytest.mark.claims, pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")]

#: a small set that covers mean estimation, Monte Carlo on CPU units, the DP LoRA simulator, a real
#: transformer run and a unit that takes another unit's result as its input
CLAIMS = ["byzantine.mean.exact_mse_f0", "la-lora.filter_statistics", "la-lora.noise_amplification",
          "la-lora.alternating_noise", "full-model.noise_on_factors"]


QUICK = CLAIMS  # the session's quick suite runs them on a 2-worker process pool


def _arrays(path, keys=None):
    with ResultsStore(path / "results.sqlite", write=False) as st:
        return {k: st.get(k) for k in (st.keys() if keys is None else keys)}


def _assert_same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key, x in a.items():
        assert x.keys() == b[key].keys(), (what, key)
        for name, arr in x.items():
            assert np.array_equal(arr, b[key][name], equal_nan=arr.dtype.kind == "f"), (what, key, name)


def _facts(results):
    return {cid: json.dumps(results[cid].summary, sort_keys=True) for cid in CLAIMS}


@pytest.fixture(scope="module")
def pool(quick_suite):
    pytest.importorskip("peft")
    return quick_suite


@pytest.mark.parametrize("executor", ["serial", "ray"])
def test_serial_pool_and_ray_give_the_same_numbers(pool, executor, tmp_path):
    if executor == "ray":
        pytest.importorskip("ray", reason="install the ray extra: pip install -e '.[ray]'")
    pool_out, pool_results = pool
    got = {r.claim_id: r for r in validate(CLAIMS, out=tmp_path, progress=False, executor=executor, jobs=2)}
    mine = _arrays(tmp_path)
    assert len(mine) >= 10
    _assert_same(mine, _arrays(pool_out, mine.keys()), f"{executor} vs process pool")
    assert _facts(got) == _facts(pool_results)


def _double(x: float) -> dict:
    return {"y": np.array(2 * x)}


def test_executors_share_one_interface():
    assert isinstance(make_executor("local", 1), SerialExecutor)
    assert isinstance(make_executor("serial"), SerialExecutor)
    with make_executor("local", 2) as ex:
        assert isinstance(ex, ProcessExecutor)
        units = [unit(_double, x=float(i), device="cpu").on("cpu") for i in range(3)]
        for u in units[:2]:
            assert ex.can_take(u)
            ex.submit(u)
        assert not ex.can_take(units[2])  # two CPUs' worth in flight
        got = {}
        while ex.running():
            u, out, cost, err = ex.wait()
            assert err is None and cost.seconds >= 0 and cost.peak_rss > 0  # Linux: the worker's own peak
            got[u.kwargs["x"]] = float(out["y"])
        assert got == {0.0: 0.0, 1.0: 2.0}
    for bad in (dict(executor="dask"), dict(jobs=0)):
        with pytest.raises(ValueError, match="executor must be|jobs must be"):
            make_executor(**bad)
    with pytest.raises(ValueError, match="--ray-address needs --executor ray"):
        validate(["la-lora.filter_statistics"], ray_address="auto")


def _allocate(mb: int) -> dict:
    block = np.ones(mb * 2**20 // 8)  # touched: resident
    return {"sum": np.array(block.sum())}


def test_each_unit_reports_its_own_peak_memory_in_a_reused_process(tmp_path):
    ex = SerialExecutor()  # one process for both units: the second must not inherit the first's peak
    costs = {}
    for mb in (400, 1):
        ex.submit(unit(_allocate, mb=mb, device="cpu").on("cpu"))
        _, _, costs[mb], err = ex.wait()
        assert err is None
    assert costs[400].peak_rss - costs[1].peak_rss > 300 * 2**20, costs


def test_the_store_keeps_cost_and_opens_stores_written_before_memory_was_recorded(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path) as st:
        st.put("k", {"fn": "f"}, {"a": np.arange(2)}, 1.5, 3 * 2**20)
        assert st.cost("k") == (1.5, 3 * 2**20) and st.cost("missing") is None
    con = sqlite3.connect(path)  # an older store: the column did not exist
    con.execute("ALTER TABLE units DROP COLUMN peak_rss")
    con.commit()
    con.close()
    with ResultsStore(path, write=False) as st:
        assert st.cost("k") == (1.5, None)
    with ResultsStore(path) as st:
        assert st.cost("k") == (1.5, None)
        st.put("k2", {"fn": "f"}, {"a": np.arange(2)}, 2.0, 10)
        assert st.cost("k2") == (2.0, 10)
