r"""The (f, κ)-robustness constants of the aggregation rules (Allouah et al. 2023, Def. 2 and Table 1).

Every rule the Byzantine claims use is assumed (f, κ)-robust with the κ of
:func:`fedtheory.theory.robust_aggregation.kappa_of`. The ratio ρ = ‖F(x) − x̄_S‖² / spread_S of
:mod:`fedtheory.simulators.shared.robustness` is measured at the worst inputs a search finds
(structured random starts, optimal ALIE and Adam ascent on honest and Byzantine vectors, float64): any
ρ found is an empirical lower bound on the rule's true κ, so ρ > κ is a counterexample to the constant,
and ρ against f/(n − 2f) (the lower bound every rule must meet) shows how tight the constant is.
``fedtheory falsify byzantine.aggregators.kappa`` searches raw input sets (hypothesis-drawn vectors)
instead, steered toward the largest ρ/κ per rule.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from fedtheory.theory.robust_aggregation import kappa_lower_bound, kappa_of
from fedtheory.validation.harness.claims import Claim, register
from fedtheory.validation.harness.falsify import Score, Search
from fedtheory.validation.harness.figures import Figure
from fedtheory.validation.harness.records import Finding, Verdict
from fedtheory.validation.harness.units import Unit, unit

RULES = ("trimmed_mean", "median", "geometric_median", "krum", "nnm+trimmed_mean", "nnm+median")
#: slack on κ for rounding and the Weiszfeld tolerance of the geometric median (float64)
RTOL = 1e-6
SIZES = {
    "quick": dict(settings=[(7, 2, 1), (12, 3, 2), (30, 1, 1)], batch=2048, steps=200),
    "full": dict(settings=[(7, 2, 1), (12, 3, 2), (30, 1, 1), (30, 9, 3), (60, 20, 2)], batch=8192, steps=600),
}


def worst_ratios(rule: str, settings: list, batch: int, steps: int, seeds: list[int]) -> dict[str, np.ndarray]:
    """The largest ρ found per (n, f, d) setting: ``worst`` (G,), by :func:`~fedtheory.simulators.shared.robustness.worst_ratio`."""
    import torch

    from fedtheory.simulators.shared.robustness import worst_ratio

    (seed,) = seeds
    torch.manual_seed(seed)  # nothing should use the global RNG; pin it anyway
    return {"worst": np.array([worst_ratio(rule, n, f, d, seed=seed, batch=batch, steps=steps)
                               for n, f, d in settings])}


def _units(sizes, seed: int) -> dict[str, Unit]:
    return {rule: unit(worst_ratios, rule=rule, settings=sizes["settings"], batch=sizes["batch"],
                       steps=sizes["steps"], seeds=[seed], device="cpu", label=f"κ search {rule}",
                       cost=10 if rule == "geometric_median" else 3)
            for rule in RULES}


def _judge(data) -> Finding:
    settings = [tuple(s) for s in data.sizes["settings"]]
    facts, ok, tight = {}, True, []
    for rule in RULES:
        worst = data[rule]["worst"]
        for (n, f, d), w in zip(settings, worst):
            kappa, low = float(kappa_of(rule, n, f)), float(kappa_lower_bound(n, f))
            holds = bool(w <= kappa * (1 + RTOL))
            ok &= holds
            facts[f"{rule} n={n} f={f} d={d}"] = dict(worst=float(w), kappa=kappa, lower_bound=low,
                                                      worst_over_kappa=float(w / kappa), worst_over_lower=float(w / low),
                                                      holds=holds)
        tight.append(max(v["worst_over_kappa"] for k, v in facts.items() if k.startswith(rule + " ")))
    failed = [k for k, v in facts.items() if not v["holds"]]
    msg = ("Every rule's worst ratio found stays below its κ." if ok else
           f"Worst ratio above κ (a counterexample to the constant) at: {', '.join(failed)}.") + (
        " Largest worst/κ per rule (1 = the constant is attained): "
        + "; ".join(f"{r} {t:.3g}" for r, t in zip(RULES, tight))
        + f". Tolerance: κ·(1 + {RTOL:g}), float64 rounding and the Weiszfeld tolerance.")
    return Finding(Verdict.BOUND_HOLDS if ok else Verdict.BOUND_VIOLATED, facts, msg)


def _draw(data, finding: Finding) -> list[Figure]:
    settings = [tuple(s) for s in data.sizes["settings"]]
    fig_, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(settings)
    x = np.arange(len(RULES))
    table = {"rule": list(RULES)}
    for j, (n, f, d) in enumerate(settings):
        rows = [finding.facts[f"{r} n={n} f={f} d={d}"] for r in RULES]
        ax.bar(x + j * width, [v["worst"] for v in rows], width, color=f"C{j}", label=f"worst found, n={n} f={f} d={d}")
        ax.scatter(x + j * width, [v["kappa"] for v in rows], marker="_", s=200, color="k", zorder=3,
                   label="κ of the theory module" if j == 0 else None)
        ax.scatter(x + j * width, [v["lower_bound"] for v in rows], marker="_", s=200, color="C3", zorder=3,
                   label="lower bound f/(n−2f)" if j == 0 else None)
        table[f"worst_n{n}_f{f}_d{d}"] = [v["worst"] for v in rows]
        table[f"kappa_n{n}_f{f}_d{d}"] = [v["kappa"] for v in rows]
    ax.set_xticks(x + width * (len(settings) - 1) / 2, RULES, rotation=15, fontsize=7)
    ax.set(yscale="log", ylabel="ρ = ‖F − x̄_S‖² / spread", title="(f, κ)-robustness: worst ratio found against κ")
    ax.legend(fontsize=6)
    return [Figure("aggregator_kappa", fig_, table, {"settings": settings, **{k: v for k, v in data.sizes.items()
                                                                              if k != "settings"}})]


# --------------------------------------------------------------------------- the search (`fedtheory falsify`)
def _space():
    """Raw input sets: a rule, n ≤ 14, 1 ≤ f < n/2 (n > 2f + 2 for Krum), d ≤ 3, honest and Byzantine vectors."""
    from hypothesis import strategies as st

    from fedtheory.simulators.shared.robustness import max_f

    @st.composite
    def point(draw):
        rule = draw(st.sampled_from(RULES))
        n = draw(st.integers(5, 14))
        f = draw(st.integers(1, max_f(rule, n)))
        d = draw(st.integers(1, 3))

        def vectors(k, scale):
            return draw(st.lists(st.lists(st.floats(-scale, scale), min_size=d, max_size=d), min_size=k, max_size=k))

        return dict(rule=rule, n=n, f=f, d=d, honest=vectors(n - f, 10.0), byzantine=vectors(f, 1000.0))

    return point()


def ratio_at(point: dict, seeds: list[int] | None = None, device: str = "cpu") -> dict[str, np.ndarray]:
    """ρ of ``point``'s rule at its honest and Byzantine vectors (float64, on the CPU): ``ratio`` and ``kappa``."""
    import torch

    from fedtheory.simulators.shared.aggregators import make_aggregator
    from fedtheory.simulators.shared.robustness import DTYPE, robustness_ratio

    rule, f = point["rule"], point["f"]
    agg = make_aggregator(rule, f, **({"max_iter": 1000, "tol": 1e-12} if rule.endswith("geometric_median") else {}))
    honest = torch.tensor(point["honest"], dtype=DTYPE)
    byz = torch.tensor(point["byzantine"], dtype=DTYPE)
    return {"ratio": robustness_ratio(agg, honest, byz).numpy(), "kappa": np.asarray(kappa_of(rule, point["n"], f))}


def _score(arrays, point: dict, level: float) -> Score:
    v = float(arrays["ratio"] / arrays["kappa"])
    return Score(v, v, v)


SEARCH = Search(space=_space, measure=ratio_at, score=_score, what="ρ / κ", rtol=RTOL, label=lambda p: p["rule"],
                cost=0.01)

register(Claim(
    "byzantine.aggregators.kappa",
    "Each aggregation rule is (f, κ)-robust with the κ used by the theory",
    "For all inputs and every honest set S of n − f of them, ‖F(x) − x̄_S‖² ≤ κ·(1/|S|)Σ_S‖x_i − x̄_S‖² "
    "(Allouah et al. 2023, Def. 2) with κ of kappa_of for trimmed mean, median, geometric median, Krum, and "
    "NNM before trimmed mean and median; the worst ratio found is an empirical lower bound on each rule's κ.",
    SIZES, _units, _judge, _draw, formulas=(kappa_of, kappa_lower_bound), search=SEARCH,
))
