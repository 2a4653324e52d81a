r"""Search your own bound for a counterexample, inside your own pytest suite.

The same search as ``fedtheory falsify`` (:mod:`fedtheory.validation.harness.falsify`), for a bound on an
expectation that you measure by Monte Carlo (or compute exactly)::

    from hypothesis import strategies as st
    from fedtheory.testing import assert_bound_holds

    def mse(p, seed):  # one draw of the quantity the bound covers
        x = np.random.default_rng(seed).normal(0.0, p["sigma"], size=p["m"])
        return x.mean() ** 2

    def test_mean_of_m_draws():
        assert_bound_holds(mse, lambda p: p["sigma"] ** 2 / p["m"],
                           {"m": st.integers(1, 200), "sigma": st.floats(0.1, 10)}, seeds=30)

``measure(point, seed)`` returns one draw (a float) for ``seeds`` > 0; with ``seeds=None`` it is
deterministic and is called once as ``measure(point, None)``. ``bound(point)`` > 0 is the bound on the
draws' expectation. ``space`` maps parameter names to hypothesis strategies, or is one strategy of dicts
(for relations between parameters, e.g. ``st.integers(3, 50).flatmap(...)`` for f < n/2).
A point fails when fresh seeds confirm, with a one-sided t-test at α/K (K confirmations at most per
search, family-wise α), that the draws' mean exceeds the bound; the search then shrinks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fedtheory.validation.harness.falsify import LEVEL, MAX_CONFIRMATIONS, Falsification, Score, Search, run_search
from fedtheory.validation.harness.falsify import mean_bound_score as _mean_bound_score

__all__ = ["falsify_bound", "assert_bound_holds", "Falsification"]


def _strategy(space: Any):
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy

    if isinstance(space, SearchStrategy):
        return space
    if isinstance(space, Mapping) and space and all(isinstance(v, SearchStrategy) for v in space.values()):
        return st.fixed_dictionaries(dict(space))
    raise ValueError("space must be a hypothesis strategy of dicts or a non-empty dict of strategies, "
                     f"got {type(space).__name__}")


def falsify_bound(measure: Callable[[dict, int | None], float], bound: Callable[[dict], float], space: Any, *,
                  seeds: int | None = 30, confirm_seeds: int | None = None, examples: int = 100,
                  seconds: float = 60.0, seed: int = 0, level: float = LEVEL,
                  max_confirmations: int = MAX_CONFIRMATIONS, rtol: float = 1e-9,
                  progress: bool = False) -> Falsification:
    """Search ``space`` for a point where E[measure] > bound, confirmed with fresh seeds and shrunk.

    Parameters
    ----------
    measure : callable
        ``measure(point, seed) -> float``, one draw; ``measure(point, None)`` when ``seeds`` is None.
    bound : callable
        ``bound(point) -> float``, the bound (> 0) on the draws' expectation.
    space : dict of strategies or a strategy of dicts
        The region where the bound's assumptions hold.
    seeds, confirm_seeds : int or None
        Draws per point for the search (≥ 2) and for a confirmation (default 4 × ``seeds``); None: deterministic,
        a violation is measured > bound · (1 + ``rtol``).
    examples, seconds : int, float
        Points to generate at most, and measuring time at most.
    seed : int
        Fixes the draws of points and the seeds passed to ``measure`` (search: seed, seed+1, …; confirmations:
        10⁶ + seed, …).

    Returns
    -------
    Falsification
        ``.found``, ``.counterexample`` (the shrunk point with its scores), ``.worst``, ``.points``, ``.summary()``.
    """
    if seeds is not None and (not isinstance(seeds, int) or seeds < 2):
        raise ValueError(f"seeds must be an integer >= 2 or None (deterministic), got {seeds!r}")
    deterministic = seeds is None
    confirm = 0 if deterministic else (4 * seeds if confirm_seeds is None else confirm_seeds)

    def evaluate(point: dict, draw_seeds: list[int]) -> dict[str, np.ndarray]:
        if deterministic:
            return {"samples": np.array([float(measure(point, None))])}
        return {"samples": np.array([float(measure(point, s)) for s in draw_seeds])}

    def score(arrays, point, lvl) -> Score:
        b = float(bound(point))
        if deterministic:
            if not (np.isfinite(b) and b > 0):
                raise ValueError(f"bound must be a finite number > 0, got {b!r} at {point}")
            v = float(arrays["samples"][0]) / b
            return Score(v, v, v)
        return _mean_bound_score(arrays["samples"], b, lvl)

    search = Search(space=lambda: _strategy(space), measure=measure, score=score, what="measured / bound",
                    seeds=0 if deterministic else seeds, confirm_seeds=confirm, rtol=rtol if deterministic else 0.0)
    return run_search(search, evaluate, examples=examples, seconds=seconds, seed=seed, level=level,
                      max_confirmations=max_confirmations, progress=progress)


def assert_bound_holds(measure, bound, space, **kwargs) -> Falsification:
    """:func:`falsify_bound`, raising AssertionError with the shrunk counterexample if one is confirmed."""
    result = falsify_bound(measure, bound, space, **kwargs)
    if result.found:
        raise AssertionError(result.summary())
    return result
