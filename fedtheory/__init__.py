"""fedtheory: the theory of federated fine-tuning of foundation models, tested against experiments.

The face of the package. ``fedtheory.theory`` holds the closed forms (numpy/scipy), ``fedtheory.simulators``
the batched torch simulators, ``fedtheory.validation`` the harness for claims (units, judges, executors,
the results store) and the per-paper claims. This module imports none of them until asked::

    import fedtheory
    results = fedtheory.validate(["la-lora"], budget="quick", out="figures")
    fedtheory.CLAIMS["la-lora.noise_amplification"].statement
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "CLAIMS", "validate", "report", "load_claims"]


def load_claims() -> dict:
    """Register every claim (the papers' modules and any ``fedtheory.claims`` entry point); return the registry."""
    from .cli import load_claims as _load

    return _load()


def validate(selectors=(), **kwargs):
    """Run claims and write their figures and report: :func:`fedtheory.validation.harness.runner.validate`."""
    load_claims()
    from .validation.harness.runner import validate as _validate

    return _validate(selectors, **kwargs)


def report(out="figures", readme=None):
    """Rewrite ``out/REPORT.md`` (and ``readme``'s verdict table) from the store: :func:`~fedtheory.validation.harness.runner.report`."""
    load_claims()
    from .validation.harness.runner import report as _report

    return _report(out, readme)


def __getattr__(name: str):
    if name == "CLAIMS":
        return load_claims()
    raise AttributeError(f"module 'fedtheory' has no attribute {name!r}")
