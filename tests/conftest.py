import os

from hypothesis import settings

# Deterministic property tests: CI runs the same examples every time.
settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def quick_suite(request, tmp_path_factory):
    """The claims this session's tests ask for, run once at the quick budget: (out, {claim id: result}).

    Each test module that uses it lists its selectors in a module-level ``QUICK``; their union runs in
    one ``validate`` call on a 2-worker pool into one store, so units that papers share are computed
    once and the workers stay busy across papers. Running one module runs only its claims.
    """
    from fedtheory import validate

    selectors = sorted({s for item in request.session.items if "quick_suite" in item.fixturenames
                        for s in getattr(item.module, "QUICK", ())})
    out = tmp_path_factory.mktemp("quick_suite")
    results = validate(selectors, budget="quick", out=out, progress=False, jobs=2)
    return out, {r.claim_id: r for r in results}


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=_devices())
def device(request) -> str:
    """Every device present: the CPU always, CUDA when torch sees one."""
    return request.param
