"""Validation shared by the simulators' config dataclasses: one helper, one wording.

Both wrappers call :func:`fedtheory.theory._checks.check_scalar` (the project's one scalar check, in
the style of scikit-learn's ``check_scalar``): ``TypeError`` for a wrong type, ``ValueError`` naming
the field and its allowed interval. :func:`~fedtheory.theory._checks.check_choice` (a named option)
and :func:`~fedtheory.theory._checks.check_n_f` (0 ≤ f < n/2) are re-exported from the same module.
"""

from __future__ import annotations

import numpy as np

from fedtheory.theory._checks import check_choice, check_n_f, check_range, check_scalar

__all__ = ["check_choice", "check_lams", "check_n_f", "check_range", "check_scalar", "check_seeds", "require_ints", "require_positive"]


def require_ints(config, minimums: dict[str, int]) -> None:
    """Each named field of ``config`` must be an int (not a bool) at least its minimum."""
    for name, low in minimums.items():
        check_scalar(name, getattr(config, name), int, low=low)


def require_positive(config, *names: str) -> None:
    """Each named field of ``config`` must be a finite real number > 0."""
    for name in names:
        check_scalar(name, getattr(config, name), float, low=0, low_open=True)


def check_lams(lams) -> np.ndarray:
    """A grid of collaboration levels λ: a non-empty 1-D float64 array with entries in [0, 1]."""
    arr = check_range("lams", lams, low=0.0, high=1.0)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lams must be a non-empty 1-D sequence in [0, 1], got {lams!r}")
    return arr


def check_seeds(seeds) -> list[int]:
    """The seeds of a batched run (the leading tensor dimension): a non-empty list of integers >= 0."""
    out = [check_scalar("seeds", s, int, low=0) for s in seeds]
    if not out:
        raise ValueError("seeds must name at least one seed, got an empty sequence")
    return out
