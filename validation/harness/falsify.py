r"""Search a statement's whole region for a counterexample, confirm it with fresh seeds, shrink it.

A claim checks a bound at the grid points its author chose. :func:`falsify` instead lets hypothesis
draw points from the region where the statement's assumptions hold (a claim's :class:`Search`), steers
the draw toward the worst case with ``hypothesis.target`` on the score (measured / bound, or the
standardised miss of a prediction: above 1 is a violation; for a random measurement also on its
one-sided lower limit, so that the climb favours evidence over noise), and shrinks a failing point to the simplest
one that still fails.

Monte Carlo noise cannot make a counterexample. At every point the search measures with its own
seeds and screens with a one-sided test at level α (this only steers). A point that passes the
screen is re-measured with ``confirm_seeds`` *fresh* seeds (independent of everything the search
saw) and counts only if that confirmation rejects at level α/K, where K is the cap on confirmations
per search (``max_confirmations``, shrinking included). Bonferroni over the at most K confirmations
keeps the probability that a search reports any false counterexample at or below α, whatever points
it tried and however they were chosen. A deterministic measurement (closed forms, float64) has no
seeds: it violates when its score exceeds ``1 + rtol``, an arithmetic tolerance.

Every measured point is memoised (and, for a claim, stored as a unit in the results store), so the
same ``seed`` replays the same search and an interrupted search resumes from the store.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Score", "Search", "Evaluation", "Falsification", "run_search", "mean_bound_score", "band_bound_score",
           "search_and_fresh_seeds", "LEVEL", "MAX_CONFIRMATIONS"]

LEVEL = 0.05  # family-wise level of the confirmed counterexamples of one search
MAX_CONFIRMATIONS = 20  # K: each confirmation tests at LEVEL / K
FRESH_OFFSET = 10**6  # the confirmations' seeds start here: never a search seed


@dataclass(frozen=True)
class Score:
    """A point's score: above 1 violates. ``lo``/``hi``: one-sided confidence limits at the level asked for
    (equal to ``value`` for a deterministic measurement)."""

    value: float
    lo: float
    hi: float

    def __post_init__(self) -> None:
        for name in ("value", "lo", "hi"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or math.isnan(v):
                raise ValueError(f"a score's {name} must be a number (not NaN), got {v!r}")


@dataclass(frozen=True)
class Search:
    """Where a statement's assumptions hold, and how to measure and score it at one point.

    ``space()`` returns a hypothesis strategy of points (dicts of plain data: the parameters, with their
    relations such as f < n/2 built in). ``measure`` is a module-level unit function
    ``measure(point=..., seeds=..., device=...)`` → dict of arrays (a claim's points are units in the
    results store). ``score(arrays, point, level)`` → :class:`Score` with a one-sided ``lo`` at ``level``.
    ``seeds`` search seeds and ``confirm_seeds`` fresh confirmation seeds per point; ``seeds=0``: the
    measurement is deterministic and a violation is a score above ``1 + rtol``. ``label(point)`` names the
    ``hypothesis.target`` a point climbs (one climb per label, e.g. per aggregator); ``what`` says what the
    score is, for the report.
    """

    space: Callable[[], Any]
    measure: Callable[..., Mapping[str, np.ndarray]]
    score: Callable[[Mapping[str, np.ndarray], dict, float], Score]
    what: str
    seeds: int = 0
    confirm_seeds: int = 0
    rtol: float = 0.0
    label: Callable[[dict], str] | None = None
    cost: float = 1.0  # rough seconds of one point on one core

    def __post_init__(self) -> None:
        if self.seeds < 0 or self.confirm_seeds < 0:
            raise ValueError(f"seeds and confirm_seeds must be >= 0, got {self.seeds}, {self.confirm_seeds}")
        if self.seeds and self.confirm_seeds < 2:
            raise ValueError("confirm_seeds must be >= 2 when the measurement is random (seeds > 0)")
        if self.rtol < 0:
            raise ValueError(f"rtol must be >= 0, got {self.rtol}")

    @property
    def deterministic(self) -> bool:
        return self.seeds == 0


@dataclass
class Evaluation:
    """One point of a search: its score with the search seeds and, for a candidate, the confirmation."""

    index: int
    point: dict
    value: float
    lo: float
    hi: float
    candidate: bool
    confirmed: bool = False
    confirm: dict | None = None  # value, lo, hi, level, seeds of the fresh-seed re-measurement
    seconds: float = 0.0


@dataclass
class Falsification:
    """What a search found: a confirmed, shrunk counterexample, or the number of points without one."""

    name: str
    what: str
    status: str  # "counterexample" or "none found"
    points: int  # distinct points measured
    seconds: float
    examples: int
    seed: int
    level: float
    max_confirmations: int
    confirmations: int
    deterministic: bool
    rtol: float
    worst: dict | None  # the evaluation with the largest score
    worst_by_label: dict  # per target label (e.g. per rule): the largest score and its point
    counterexample: dict | None  # the shrunk point's evaluation (with its confirmation)
    reproduce: str = ""
    evaluations: list[dict] = field(default_factory=list)
    figure: str | None = None
    git_hash: str = ""
    created: float = field(default_factory=time.time)

    @property
    def found(self) -> bool:
        return self.counterexample is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=_plain)

    @classmethod
    def from_json(cls, text: str) -> "Falsification":
        return cls(**json.loads(text))

    def summary(self) -> str:
        """One paragraph: the result, the worst score, the points and the time, the test that confirmed."""
        head = (f"{self.name}: " if self.name else "") + (
            f"confirmed counterexample at {_point_text(self.counterexample['point'])}: {self.what} "
            f"{self.counterexample['value']:.4g}" + self._confirm_text(self.counterexample)
            if self.found else f"no counterexample in {self.points} points")
        worst = self.worst
        tail = (f" Worst {self.what} found {worst['value']:.4g} at {_point_text(worst['point'])}." if worst else "")
        if len(self.worst_by_label) > 1:
            tail += " Worst per " + "; ".join(f"{k}: {v['value']:.4g}" for k, v in sorted(self.worst_by_label.items())) + "."
        test = ("deterministic measurement: a violation is a score above 1"
                + (f" + {self.rtol:g}" if self.rtol else "") if self.deterministic else
                f"each candidate re-measured with fresh seeds, one-sided at α/K = {self.level:g}/{self.max_confirmations}"
                f" (family-wise ≤ {self.level:g}; {self.confirmations} confirmations used)")
        return (f"{head}.{tail} {self.points} points in {self.seconds:.1f} s ({test})."
                + (f" Reproduce: {self.reproduce}" if self.reproduce and self.found else ""))

    def _confirm_text(self, ev: dict) -> str:
        c = ev.get("confirm")
        if not c:
            return ""
        return f"; with {c['seeds']} fresh seeds {c['value']:.4g} (one-sided lower limit {c['lo']:.4g} > 1)"


class _Found(Exception):
    """Raised inside hypothesis for a confirmed counterexample, so that hypothesis shrinks it."""

    def __init__(self, point: dict):
        super().__init__(_point_text(point))
        self.point = point


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def point_key(point: Mapping) -> str:
    """A canonical text of a point (its memo key)."""
    return json.dumps(point, sort_keys=True, default=_plain)


def _point_text(point: Mapping, width: int = 160) -> str:
    parts = []
    for k, v in point.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, (list, tuple)):
            parts.append(f"{k}=[{len(v)} values]")
        else:
            parts.append(f"{k}={v}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def search_and_fresh_seeds(search: Search, seed: int) -> tuple[list[int], list[int]]:
    """The seeds a search measures with (``seed, seed+1, …``) and the fresh ones of its confirmations (``10⁶ + seed, …``)."""
    return (list(range(seed, seed + search.seeds)),
            list(range(FRESH_OFFSET + seed, FRESH_OFFSET + seed + search.confirm_seeds)))


def band_bound_score(curves: np.ndarray, bound: np.ndarray, level: float) -> Score:
    """max over a grid of the seed-mean curve over a bound, with one-sided limits at ``level`` for the whole grid at once.

    ``curves`` (S, L) are per-seed quadratics in the grid variable (3 free coefficients), ``bound`` (L,) > 0. The
    limits come from the Hotelling/Scheffé band at two-sided level 1 − 2α, whose lower edge is a one-sided 1 − α
    limit at every grid point at once: ``lo > 1`` rejects "the bound holds everywhere on the grid" at level α.
    """
    from fedtheory.validation.harness import stats

    mean, lo, hi = stats.simultaneous_band(curves, n_coef=3, level=1 - 2 * level)
    return Score(float(np.max(mean / bound)), float(np.max(lo / bound)), float(np.max(hi / bound)))


def run_search(search: Search, evaluate: Callable[[dict, list[int]], Mapping[str, np.ndarray]], *,
               name: str = "", examples: int = 200, seconds: float = 100.0, seed: int = 0, level: float = LEVEL,
               max_confirmations: int = MAX_CONFIRMATIONS, progress: bool = True,
               reproduce: Callable[[dict], str] | None = None) -> Falsification:
    """Search ``search.space()`` for a confirmed counterexample; ``evaluate(point, seeds)`` measures a point.

    Stops after ``examples`` generated points or ``seconds`` of measuring (whichever comes first; a
    counterexample found is then still shrunk with the points already measured and the confirmations
    left). ``seed`` fixes hypothesis's draws, the search seeds ``seed, seed+1, …`` and the fresh seeds
    ``10⁶ + seed, …`` of the confirmations. Returns a :class:`Falsification`.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from tqdm.auto import tqdm

    for arg, low in (("examples", 1), ("max_confirmations", 1)):
        v = {"examples": examples, "max_confirmations": max_confirmations}[arg]
        if not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{arg} must be an integer >= {low}, got {v!r}")
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    search_seeds, fresh = search_and_fresh_seeds(search, seed)
    confirm_level = level / max_confirmations
    memo: dict[str, Evaluation] = {}
    state = {"confirmations": 0, "measuring": 0.0}
    bar = tqdm(total=examples, desc=f"falsify {name}".strip(), unit="pt", disable=not progress, leave=True,
               dynamic_ncols=True)

    def violates(s: Score) -> bool:
        return s.value > 1 + search.rtol if search.deterministic else s.lo > 1

    def measure(point: dict) -> Evaluation:
        t0 = time.perf_counter()
        s = search.score(evaluate(point, search_seeds), point, level)
        ev = Evaluation(len(memo), point, float(s.value), float(s.lo), float(s.hi), violates(s))
        if ev.candidate and search.deterministic:
            ev.confirmed = True
        elif ev.candidate and state["confirmations"] < max_confirmations:
            state["confirmations"] += 1
            c = search.score(evaluate(point, fresh), point, confirm_level)
            ev.confirm = dict(value=float(c.value), lo=float(c.lo), hi=float(c.hi), level=confirm_level,
                              seeds=len(fresh))
            ev.confirmed = violates(c)
        ev.seconds = time.perf_counter() - t0
        state["measuring"] += ev.seconds
        return ev

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False,
              phases=(Phase.generate, Phase.target, Phase.shrink))
    @hypothesis_seed(seed)
    @given(search.space())
    def probe(point):
        key = point_key(point)
        ev = memo.get(key)
        if ev is None:
            if state["measuring"] >= seconds:  # out of time: points not yet measured count as passing
                return
            ev = memo[key] = measure(point)
            bar.update(1)
            worst = max(memo.values(), key=lambda e: e.value)
            bar.set_postfix_str(f"worst {worst.value:.3g}, confirmed {sum(e.confirmed for e in memo.values())}")
        label = search.label(point) if search.label else ""
        target(ev.value, label=label)
        if not search.deterministic:  # also climb the evidence: the one-sided lower limit
            target(ev.lo, label=f"{label} lower limit")
        if ev.confirmed:
            raise _Found(point)

    t_start = time.perf_counter()
    found = None
    try:
        probe()
    except _Found as exc:
        found = memo[point_key(exc.point)]
    except Unsatisfiable as exc:
        raise ValueError(f"the search space of {name or 'this search'} yields no valid point: {exc}") from None
    finally:
        bar.close()
    evals = sorted(memo.values(), key=lambda e: e.index)
    worst = max(evals, key=lambda e: e.value) if evals else None
    by_label: dict[str, dict] = {}
    for e in evals:
        lab = search.label(e.point) if search.label else ""
        if lab not in by_label or e.value > by_label[lab]["value"]:
            by_label[lab] = {"value": e.value, "lo": e.lo, "point": e.point}
    return Falsification(
        name=name, what=search.what, status="counterexample" if found else "none found", points=len(evals),
        seconds=round(time.perf_counter() - t_start, 2), examples=examples, seed=seed, level=level,
        max_confirmations=max_confirmations, confirmations=state["confirmations"],
        deterministic=search.deterministic, rtol=search.rtol, worst=asdict(worst) if worst else None,
        worst_by_label=by_label, counterexample=asdict(found) if found else None,
        reproduce=reproduce(found.point) if (found and reproduce) else "",
        evaluations=[asdict(e) for e in evals])


def mean_bound_score(samples: np.ndarray, bound: float, level: float) -> Score:
    r"""Score of a bound on an expectation from per-seed samples: :math:`\bar x/b` with one-sided t limits.

    ``samples`` (S,) are i.i.d. draws whose mean the bound ``b > 0`` covers; ``lo`` is
    :math:`(\bar x - t_{1-\alpha, S-1}\,s/\sqrt S)/b`, so ``lo > 1`` rejects E x ≤ b at level α (one-sided
    t-test).
    """
    from scipy import stats as sps

    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"samples must hold at least 2 draws, got {x.size}")
    if not (np.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be a finite number > 0, got {bound!r}")
    half = float(sps.t.ppf(1 - level, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    m = float(x.mean())
    return Score(m / bound, (m - half) / bound, (m + half) / bound)


def draw_search(fals: Falsification, title: str = ""):
    """The score of every measured point in search order, the running worst, the line 1 and the counterexample."""
    import matplotlib.pyplot as plt

    evs = fals.evaluations
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    idx = np.array([e["index"] for e in evs])
    val = np.array([e["value"] for e in evs])
    kind = np.array(["confirmed" if e["confirmed"] else "candidate" if e["candidate"] else "passes" for e in evs])
    style = {"passes": dict(color="0.55", label="point (screen passes)"),
             "candidate": dict(color="C1", label="candidate, not confirmed by fresh seeds"),
             "confirmed": dict(color="C3", label="confirmed violation")}
    for k, st in style.items():
        sel = kind == k
        if sel.any():
            ax.scatter(idx[sel], val[sel], s=9, zorder=3, **st)
    if len(val):
        ax.plot(idx, np.maximum.accumulate(val), color="k", lw=1, label="worst so far")
    ax.axhline(1.0 + fals.rtol, color="C3", ls="--", lw=1, label="violation threshold")
    if fals.counterexample:
        c = fals.counterexample
        ax.scatter([c["index"]], [c["value"]], s=80, facecolors="none", edgecolors="C3", lw=1.5, zorder=4,
                   label="shrunk counterexample")
    pos = val[val > 0]
    if len(pos) == len(val) and len(pos) and pos.max() > 1e3 * pos.min():  # scores over decades
        ax.set_yscale("log")
    ax.set(xlabel="point measured (search order: generation, targeting, shrinking)", ylabel=fals.what,
           title=title or f"falsify {fals.name}: {fals.status}, {fals.points} points")
    ax.legend(fontsize=7)
    return fig
