"""Run budgets: a budget names the sizes each claim declares for it, and may override their seed counts.

Sizes live with the claims (``SIZES`` in each paper module); a budget changes sizes and seeds, never
the logic of a claim. ``--seeds N`` has one meaning everywhere: every unit that repeats over seeds
runs N of them (every size named ``seeds`` or ``*_seeds`` becomes N). ``--model PATH`` sets the size
named ``encoder`` of every claim that declares one (the full-model checks: a local checkpoint directory
instead of MiniLM).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BUDGETS", "Budget", "Sizes", "get_budget"]

#: quick: the whole suite on 2 CPU cores in minutes (CI); full: paper scale, a GPU or a cluster recommended
BUDGETS = ("quick", "full")
MIN_SEEDS = 2  # an interval over seeds needs two


@dataclass(frozen=True)
class Budget:
    """A budget's name and the optional ``--seeds`` and ``--model`` overrides."""

    name: str
    seeds: int | None = None
    encoder: str | None = None

    def __post_init__(self) -> None:
        if self.name not in BUDGETS:
            raise ValueError(f"budget must be one of {list(BUDGETS)}, got {self.name!r}")
        if self.seeds is not None and (not isinstance(self.seeds, int) or self.seeds < MIN_SEEDS):
            raise ValueError(f"seeds must be an integer >= {MIN_SEEDS} (an interval needs two), got {self.seeds!r}")


class Sizes(dict):
    """A claim's sizes at one budget (a plain dict) that also knows the budget's name."""

    def __init__(self, budget: str, sizes: Mapping):
        super().__init__(sizes)
        self.budget = budget


def is_seed_count(name: str) -> bool:
    return name == "seeds" or name.endswith("_seeds")


def get_budget(name: str, seeds: int | None = None, encoder: str | None = None) -> Budget:
    return Budget(name, seeds, encoder)


def sizes_for(table: Mapping[str, Mapping], budget: Budget, owner: str) -> Sizes:
    """``table[budget.name]`` with the ``--seeds`` override applied; an unknown budget is an error."""
    if budget.name not in table:
        raise ValueError(f"{owner} declares no sizes for budget {budget.name!r} (it has {sorted(table)})")
    sizes = dict(table[budget.name])
    if budget.seeds is not None:
        sizes.update({k: budget.seeds for k, v in sizes.items() if is_seed_count(k) and isinstance(v, int)})
    if budget.encoder is not None and "encoder" in sizes:
        sizes["encoder"] = budget.encoder
    return Sizes(budget.name, sizes)
