"""Units: plain data, keys that hash exactly what changes a result, execution anywhere with the same numbers."""

import pickle

import numpy as np
import pytest
import torch

from fedtheory.validation.harness.units import Unit, execute, plain, topological, unit


def square(x: float, seeds: list[int], device: str = "cpu") -> dict:
    """A unit function for these tests: x² per seed, and the thread counts it ran with (torch, native pools)."""
    from threadpoolctl import threadpool_info

    native = [p["num_threads"] for p in threadpool_info()]
    return {"y": np.array([x**2 + s for s in seeds]), "threads": np.array(torch.get_num_threads()),
            "native_threads": np.array(max(native) if native else 1)}


def total(scale: float, part: dict) -> dict:
    return {"sum": scale * part["y"].sum()}


def no_device(x: float) -> dict:
    return {"x": np.array(x)}


def test_a_unit_is_plain_picklable_data():
    u = unit(square, x=2.0, seeds=range(3)).on("cpu")
    assert u.kwargs == {"x": 2.0} and u.seeds == (0, 1, 2) and u.fn.endswith(":square")
    v = pickle.loads(pickle.dumps(u))
    assert v.key == u.key and v.spec == u.spec


def test_the_key_hashes_exactly_what_changes_the_result():
    base = unit(square, x=2.0, seeds=[0, 1]).on("cpu")
    assert unit(square, x=2.0, seeds=(0, 1), label="another label").on("cpu").key == base.key  # labels do not count
    assert unit(square, x=2, seeds=[0, 1]).on("cpu").key != base.key  # the int 2 and the float 2.0 are different data
    assert unit(square, x=np.float64(2.0), seeds=np.arange(2)).on("cpu").key == base.key  # numpy scalars are plain
    for other in (unit(square, x=3.0, seeds=[0, 1]), unit(square, x=2.0, seeds=[0, 2]),
                  unit(square, x=2.0, seeds=[0, 1], version=2)):
        assert other.on("cpu").key != base.key
    assert unit(square, x=2.0, seeds=[0, 1]).on("cuda").key != base.key  # 'any' units: the device counts
    assert unit(no_device, x=1.0, device="cpu").on("cuda").key == unit(no_device, x=1.0, device="cpu").on("cpu").key


def test_a_key_needs_a_resolved_device():
    with pytest.raises(ValueError, match="resolve its device"):
        _ = unit(square, x=1.0, seeds=[0]).key


def test_dependencies_enter_the_key_and_the_order():
    a = unit(square, x=1.0, seeds=[0, 1])
    b = unit(total, scale=2.0, deps={"part": a}, device="cpu")
    b2 = unit(total, scale=2.0, deps={"part": unit(square, x=1.0, seeds=[0, 2])}, device="cpu")
    assert b.on("cpu").key != b2.on("cpu").key
    order = topological([b.on("cpu"), a.on("cpu"), b.on("cpu")])
    assert [u.fn.split(":")[1] for u in order] == ["square", "total"]  # each once, inputs first
    out = execute(order[1], {"part": execute(order[0])})
    assert out["sum"] == 2.0 * (1 + 2)


@pytest.mark.parametrize("bad, match", [
    (dict(fn=lambda x: x), "module-level"),
    (dict(fn=square, y=1.0), "no keyword argument 'y'"),
    (dict(fn=no_device, x=1.0), "takes no 'device'"),
    (dict(fn=no_device, x=1.0, device="cpu", seeds=[0]), "takes no 'seeds'"),
    (dict(fn=square, x={1, 2}, seeds=[0]), "plain data"),
    (dict(fn=square, x=float("nan"), seeds=[0]), "finite"),
    (dict(fn=square, x=1.0, seeds=[0], device="gpu"), "device must be one of"),
])
def test_declaration_errors_are_clear(bad, match):
    fn = bad.pop("fn")
    with pytest.raises((TypeError, ValueError), match=match):
        unit(fn, **bad)


def test_execute_fixes_the_thread_counts_and_restores_them():
    before = torch.get_num_threads()
    out = execute(unit(square, x=1.0, seeds=[0], num_cpus=1).on("cpu"))
    assert int(out["threads"]) == 1 and int(out["native_threads"]) == 1  # torch, and numpy/scipy's BLAS/OpenMP
    assert torch.get_num_threads() == before


def test_execute_refuses_a_missing_input_and_a_bad_result():
    b = unit(total, scale=1.0, deps={"part": unit(square, x=1.0, seeds=[0])}, device="cpu").on("cpu")
    with pytest.raises(ValueError, match="input 'part'"):
        execute(b, {})
    bad = Unit(fn=f"{__name__}:plain", kwargs={"x": 1}, device="cpu")
    with pytest.raises(TypeError, match="dict of arrays"):
        execute(bad)


def test_plain_converts_tuples_and_numpy():
    assert plain({"a": (1, np.int64(2)), "b": np.array([0.5])}) == {"a": [1, 2], "b": [0.5]}
    with pytest.raises(TypeError, match="str keys"):
        plain({1: 2})
