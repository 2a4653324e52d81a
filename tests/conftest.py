import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import settings

# Deterministic property tests: CI runs the same examples every time.
settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import pytest  # noqa: E402

_QUICK = pytest.StashKey[tuple]()


def _quick_selectors(items) -> list[str]:
    return sorted({s for item in items if "quick_suite" in getattr(item, "fixturenames", ())
                   for s in getattr(getattr(item, "module", None), "QUICK", ())})


def pytest_collection_modifyitems(session, config, items):
    """Tests that wait for the quick suite run last (stable: each group keeps its order), so that every other
    test runs while the suite computes in the background."""
    items.sort(key=lambda item: "quick_suite" in getattr(item, "fixturenames", ()))


def pytest_collection_finish(session):
    """Start the quick suite in the background as soon as the tests are known.

    Its validate run keeps a 2-worker pool busy while the other tests run here, mostly on one core,
    so their time overlaps instead of adding up; the ``quick_suite`` fixture waits for it.
    """
    if session.config.option.collectonly:
        return
    selectors = _quick_selectors(session.items)
    if not selectors:
        return
    out = Path(tempfile.mkdtemp(prefix="fedtheory_quick_suite_"))
    log = open(out / "validate.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "fedtheory", "validate", *selectors, "--budget", "quick",
                             "--out", str(out), "--jobs", "2", "--no-progress"], stdout=log, stderr=subprocess.STDOUT)
    session.config.stash[_QUICK] = (proc, out, log)


def pytest_sessionfinish(session):
    proc, _, log = session.config.stash.get(_QUICK, (None, None, None))
    if proc is not None and proc.poll() is None:  # interrupted, or no test waited for it
        proc.terminate()
        proc.wait()
    if log is not None:
        log.close()


@pytest.fixture(scope="session")
def quick_suite(request):
    """The claims this session's tests ask for, run once at the quick budget: (out, {claim id: result}).

    Each test module that uses it lists its selectors in a module-level ``QUICK``; their union runs in
    one ``fedtheory validate`` (started when collection ends, :func:`pytest_collection_finish`) on a
    2-worker pool into one store, so units that papers share are computed once and the workers stay
    busy across papers. Running one module runs only its claims.
    """
    from fedtheory.validation.harness.store import ResultsStore

    proc, out, _ = request.config.stash[_QUICK]
    rc = proc.wait()
    if rc != 0:
        tail = (out / "validate.log").read_text()[-3000:]
        pytest.fail(f"the quick suite's `fedtheory validate` exited with {rc}:\n{tail}")
    with ResultsStore(out / "results.sqlite", write=False) as store:
        results = store.results()
    return out, {r.claim_id: r for r in results}


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=_devices())
def device(request) -> str:
    """Every device present: the CPU always, CUDA when torch sees one."""
    return request.param
