"""Claims: prediction against measurement. The harness (:mod:`fedtheory.validation.harness`) and one module
per paper (:mod:`fedtheory.validation.papers`).

The harness API a claim author uses is available here (``from fedtheory.validation import Claim, unit,
...``); it is imported on first use, so that ``fedtheory --help`` stays fast. Nothing here imports a
paper module: the command line (:mod:`fedtheory.cli`) registers the claims.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CLAIMS": "claims", "Claim": "claims", "ClaimData": "claims", "register": "claims", "select": "claims",
    "Figure": "figures", "ClaimResult": "records", "Finding": "records", "Verdict": "records",
    "Unit": "units", "unit": "units", "stats": None, "figures": None,
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fedtheory.validation' has no attribute {name!r}")
    mod = _EXPORTS[name]
    if mod is None:
        return importlib.import_module(f"fedtheory.validation.harness.{name}")
    return getattr(importlib.import_module(f"fedtheory.validation.harness.{mod}"), name)
