"""The claim registry and the context a claim runs in.

A *claim* is one testable statement from a paper, registered under a stable id such as
``byzantine.mean.lambda_star_tracks_argmin`` and grouped by paper (the first id component).
Its ``run`` callable receives a :class:`ClaimContext` and returns a
:class:`~validation.records.ClaimResult`; it asks the context for units of measurement, which
are served from the results store when already computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .budgets import Budget
from .records import ClaimResult
from .store import ResultsStore


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    run: Callable[["ClaimContext"], ClaimResult]
    version: int = 1  # bump when the measurement logic changes: invalidates stored units

    @property
    def paper(self) -> str:
        return self.id.split(".")[0]


CLAIMS: dict[str, Claim] = {}


def register(id: str, title: str, statement: str, version: int = 1):
    """Decorator registering ``run(ctx) -> ClaimResult`` as a claim."""

    def deco(fn: Callable[["ClaimContext"], ClaimResult]):
        if id in CLAIMS:
            raise ValueError(f"claim id {id!r} registered twice")
        CLAIMS[id] = Claim(id=id, title=title, statement=statement, run=fn, version=version)
        return fn

    return deco


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


@dataclass
class ClaimContext:
    """What a claim needs to measure: budget, device, output folder and the store."""

    claim: Claim
    budget: Budget
    device: str
    out_dir: Path
    store: ResultsStore
    seed: int = 0
    progress: bool = False  # per-round/step bars inside long units
    on_unit: Callable[[str, bool], None] = field(default=lambda key, cached: None)
    computed: int = 0
    cached: int = 0

    @property
    def seeds(self) -> list[int]:
        """The run's seeds: ``seed, seed+1, ...`` (the budget fixes how many)."""
        return list(range(self.seed, self.seed + self.budget.seeds))

    @property
    def real_seeds(self) -> list[int]:
        """Seeds of the (costlier) real-data experiments."""
        return list(range(self.seed, self.seed + self.budget.real_seeds))

    def unit(
        self,
        key: str,
        config: dict,
        compute: Callable[[], dict[str, np.ndarray]],
        namespace: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Return the unit's arrays from the store, computing and committing them if absent."""
        ns = namespace or self.claim.id
        full = {**config, "_seeds": self.seeds, "_device": self.device, "_version": self.claim.version}
        got = self.store.get_unit(ns, full, key)
        if got is not None:
            self.cached += 1
            self.on_unit(key, True)
            return got
        arrays = {k: np.asarray(v) for k, v in compute().items()}
        self.store.put_unit(ns, full, key, arrays)
        self.computed += 1
        self.on_unit(key, False)
        return arrays

    def figure_path(self, name: str) -> Path:
        path = self.out_dir / self.claim.paper / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
