"""The claim registry and what a claim is: declared units, a pure judge and a figure.

A *claim* is one testable statement from a paper, registered under a stable id such as
``byzantine.mean.lambda_star_tracks_argmin`` and grouped by paper (the first id component). It is
three small functions and its sizes:

- ``sizes``: per budget name, the plain-data sizes of its measurements (seed counts, grid points,
  bootstrap resamples); an unknown budget is an error;
- ``units(sizes, seed) -> {name: Unit}``: the measurements it needs, as declared
  :class:`~fedtheory.validation.harness.units.Unit` data (the runner computes, shares and stores them);
- ``judge(data) -> Finding``: a pure function of the units' arrays (``data[name]``) and the sizes
  (``data.sizes``) to a verdict, the facts it rests on and a message rendered from those facts;
- ``draw(data, finding) -> [Figure]``: the figures, made from the same data;
- ``formulas``: the closed forms of :mod:`fedtheory.theory` the verdict rests on; their provenance
  tags (published / derived / reconstructed) and sources go into every record and the report;
- ``search`` (optional): the region where the statement's assumptions hold and a cheap measurement
  at one point (:class:`~fedtheory.validation.harness.falsify.Search`), for ``fedtheory falsify``.

The judge never runs a simulator and the units never judge, so a claim is tested by feeding its
judge synthetic arrays with known answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fedtheory.validation.harness.budgets import Budget, Sizes, sizes_for
from fedtheory.validation.harness.falsify import Search
from fedtheory.validation.harness.records import Finding
from fedtheory.validation.harness.units import Unit

__all__ = ["CLAIMS", "Claim", "ClaimData", "register", "select"]


@dataclass
class ClaimData:
    """What a judge sees: each unit's arrays by the claim's name for it, and the claim's sizes."""

    claim_id: str
    sizes: Sizes
    seed: int
    units: Mapping[str, Mapping[str, np.ndarray]]
    specs: Mapping[str, Unit] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Mapping[str, np.ndarray]:
        try:
            return self.units[name]
        except KeyError:
            raise KeyError(f"claim {self.claim_id} has no unit {name!r}; it has {sorted(self.units)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.units


def _no_figures(data: ClaimData, finding: Finding) -> list:
    return []


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    sizes: Mapping[str, Mapping]
    units: Callable[[Sizes, int], Mapping[str, Unit]]
    judge: Callable[[ClaimData], Finding]
    draw: Callable[[ClaimData, Finding], Sequence] = _no_figures
    formulas: tuple[Callable, ...] = ()
    search: Search | None = None

    @property
    def paper(self) -> str:
        return self.id.split(".")[0]

    def provenance(self) -> list[dict]:
        """Name, provenance tag and source of each formula the verdict rests on."""
        return [{"formula": f"{fn.__module__}.{fn.__name__}", "provenance": getattr(fn, "provenance", "untagged"),
                 "source": getattr(fn, "source", "")} for fn in self.formulas]

    def sizes_for(self, budget: Budget) -> Sizes:
        return sizes_for(self.sizes, budget, f"claim {self.id}")

    def plan(self, budget: Budget, seed: int) -> dict[str, Unit]:
        """The claim's units at ``budget`` for the run's first ``seed``, by the claim's names for them."""
        units = dict(self.units(self.sizes_for(budget), seed))
        for name, u in units.items():
            if not isinstance(u, Unit):
                raise TypeError(f"claim {self.id}: units() must map names to Unit, got {type(u).__name__} for {name!r}")
        return units


CLAIMS: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (ids are unique)."""
    if claim.id in CLAIMS:
        raise ValueError(f"claim id {claim.id!r} registered twice")
    missing = [b for b in ("quick", "full") if b not in claim.sizes]
    if missing:
        raise ValueError(f"claim {claim.id!r} declares no sizes for budget(s) {missing}")
    CLAIMS[claim.id] = claim
    return claim


def select(selectors: Iterable[str] = ()) -> list[Claim]:
    """Claims whose id equals, or starts with ``selector + '.'``, one of ``selectors`` (all if none)."""
    selectors = list(selectors)
    if not selectors:
        return list(CLAIMS.values())
    chosen = []
    for sel in selectors:
        hits = [c for c in CLAIMS.values() if c.id == sel or c.id.startswith(sel + ".")]
        if not hits:
            papers = sorted({c.paper for c in CLAIMS.values()})
            raise ValueError(f"no claim or paper matches {sel!r}; papers: {papers}; see `fedtheory list`")
        chosen += [c for c in hits if c not in chosen]
    return chosen
