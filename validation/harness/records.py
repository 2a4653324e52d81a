"""Verdicts and the result record that every claim run produces."""

from __future__ import annotations

import json
import math
import subprocess
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path


class Verdict(str, Enum):
    """What a comparison of prediction and measurement found.

    A disagreement is a result, not a failure of the software.
    """

    AGREES = "agrees"
    DISAGREES = "disagrees"
    BOUND_HOLDS = "bound-holds"
    BOUND_VIOLATED = "bound-violated"
    VACUOUS = "vacuous"  # a bound that says nothing in the tested regime
    QUALITATIVE = "qualitative"  # only the trend is claimed, or only the trend agrees


@dataclass
class Finding:
    """What a claim's ``judge`` found: the verdict, the facts it rests on, and a message rendered from them.

    ``facts`` is JSON data (numbers, lists, dicts) and goes into the record; ``curves`` holds arrays
    the judge computed for the figure (bands, bootstrap intervals) so that ``draw`` does not
    recompute them; it is not stored.
    """

    verdict: Verdict
    facts: dict
    message: str
    curves: dict = field(default_factory=dict)


@dataclass
class ClaimResult:
    """Outcome of one claim: verdict, facts, figures, and what ran (budget, sizes, seeds, units, code)."""

    claim_id: str
    verdict: Verdict
    summary: dict
    message: str
    figure: str | None = None
    extra_figures: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)  # the claim's sizes at this budget
    budget: str = ""
    seeds: list[int] = field(default_factory=list)  # every seed of the claim's units
    units: dict = field(default_factory=dict)  # unit name -> key
    units_computed: int = 0  # of this claim's units, computed in the run that wrote the record
    units_from_store: int = 0
    formulas: list[dict] = field(default_factory=list)  # the closed forms it rests on, with their provenance
    # what its units cost when they were computed: unit_seconds (sum), longest_unit_seconds, peak_rss_mb
    # (the largest process peak over its units; None if not measured)
    cost: dict = field(default_factory=dict)
    version: str = ""
    git_hash: str = ""
    created: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """Strict JSON: numpy values become numbers and lists, NaN and ±inf become null."""
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return json.dumps(_finite(json.loads(json.dumps(d, default=_jsonable))), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "ClaimResult":
        d = json.loads(text)
        d["verdict"] = Verdict(d["verdict"])
        return cls(**d)


def _finite(x):
    """``x`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _jsonable(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


def git_hash(exclude: str | Path | None = None) -> str:
    """Commit of the checkout the package runs from (``-dirty`` when it has uncommitted changes), or ''.

    ``exclude``: a folder whose changes do not count (the run's own output, e.g. ``figures``: a report
    rewritten by an earlier run does not change the code the numbers come from).
    """
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--abbrev=7", "--exclude", "*"], cwd=here,
                             capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return ""
        spec = ["."]
        if exclude is not None:
            spec.append(f":(exclude){Path(exclude).resolve()}")
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *spec],
                                cwd=top or here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""
