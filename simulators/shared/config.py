"""Validation shared by the simulators' config dataclasses: clear errors naming the field and its range."""

from __future__ import annotations

import math


def require_ints(config, minimums: dict[str, int]) -> None:
    """Each named field must be an int (not a bool) at least its minimum."""
    for name, low in minimums.items():
        v = getattr(config, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")


def require_positive(config, *names: str) -> None:
    """Each named field must be a finite number > 0."""
    for name in names:
        v = getattr(config, name)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be > 0, got {v!r}")
