"""The runner: plans the selected claims' units, runs the missing ones through an executor, judges, draws.

1. Every selected claim declares its units for the budget and the run's seed; the runner resolves
   their device, collects them with their inputs, keeps one of each key and skips those already in
   the store.
2. The rest run through the executor, each as soon as its inputs are done; the driver commits
   every result the moment it arrives (one writer; Ctrl-C or ``kill -9`` lose only the units in
   flight, and a rerun recomputes nothing that finished). The progress bar counts units, with an
   ETA, and names the units running.
3. Each claim's judge reads its units' arrays from the store; its figures are drawn and saved; the
   record (verdict, facts, budget, sizes, seeds, unit keys, code version) is stored and the report
   rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from fedtheory import __version__
from fedtheory.validation.harness.budgets import Budget
from fedtheory.validation.harness.claims import Claim, ClaimData, select
from fedtheory.validation.harness.executors import Executor, make_executor
from fedtheory.validation.harness.records import ClaimResult, git_hash
from fedtheory.validation.harness.report import update_readme, write_report
from fedtheory.validation.harness.store import ResultsStore
from fedtheory.validation.harness.units import Unit, topological

__all__ = ["STORE_NAME", "UnitFailed", "run_units", "validate", "report", "falsify", "falsify_at"]

STORE_NAME = "results.sqlite"


class UnitFailed(RuntimeError):
    """A unit raised; the units finished before it are stored."""


def _names(units: Sequence[Unit], width: int = 60) -> str:
    text = ", ".join(u.label for u in units)
    return text if len(text) <= width else text[: width - 1] + "…"


def run_units(units: Iterable[Unit], store: ResultsStore, executor: Executor, progress: bool = True) -> set[str]:
    """Compute every unit of ``units`` (and its inputs) that ``store`` lacks; return the keys computed."""
    from tqdm.auto import tqdm

    stored = store.keys()
    # costly units first (longest-processing-time order) so that no long unit is left for the end;
    # a unit still waits for its inputs
    todo = sorted((u for u in topological(list(units)) if u.key not in stored), key=lambda u: -u.cost)
    done = set(stored)
    computed: set[str] = set()
    bar = tqdm(total=len(todo), desc="units", unit="unit", disable=not progress or not todo, leave=True,
               dynamic_ncols=True)
    try:
        while todo or executor.running():
            for u in list(todo):
                if all(d.key in done for _, d in u.deps) and executor.can_take(u):
                    executor.submit(u, {n: store.get(d.key) for n, d in u.deps} if u.deps else None)
                    todo.remove(u)
            if not executor.running():  # pragma: no cover - topological order makes this impossible
                raise RuntimeError(f"units waiting on inputs that never run: {_names(todo)}")
            bar.set_postfix_str(_names(executor.running()), refresh=True)
            u, out, cost, err = executor.wait()
            if err is not None:
                raise UnitFailed(f"unit {u.label} ({u.fn}) failed: {type(err).__name__}: {err}") from err
            store.put(u.key, u.spec, out, cost.seconds, cost.peak_rss)
            done.add(u.key)
            computed.add(u.key)
            bar.update(1)
    finally:
        bar.close()
    return computed


def claim_cost(units: Iterable[Unit], store: ResultsStore) -> dict:
    """Unit seconds (sum and longest) and the largest peak RSS (MB) over ``units`` and their inputs."""
    costs = [store.cost(u.key) for u in topological(list(units))]
    costs = [c for c in costs if c is not None]
    rss = [c[1] for c in costs if c[1] is not None]
    return {"units": len(costs), "unit_seconds": round(sum(c[0] for c in costs), 1),
            "longest_unit_seconds": round(max((c[0] for c in costs), default=0.0), 1),
            "peak_rss_mb": round(max(rss) / 2**20, 1) if rss else None}


def _record(claim: Claim, data: ClaimData, plan: dict[str, Unit], computed: set[str], out: Path,
            commit: str, store: ResultsStore) -> ClaimResult:
    from fedtheory.validation.harness import figures

    finding = claim.judge(data)
    paths = [figures.save(f.fig, out / claim.paper / f.name, f.table, f.config) for f in claim.draw(data, finding)]
    seeds = sorted({s for u in topological(list(plan.values())) for s in u.seeds})
    n_comp = sum(u.key in computed for u in plan.values())
    return ClaimResult(
        claim_id=claim.id, verdict=finding.verdict, summary=finding.facts, message=finding.message,
        figure=paths[0] if paths else None, extra_figures=paths[1:], config=dict(data.sizes),
        budget=data.sizes.budget, seeds=seeds, units={n: u.key for n, u in plan.items()},
        units_computed=n_comp, units_from_store=len(plan) - n_comp, formulas=claim.provenance(),
        cost=claim_cost(plan.values(), store), version=__version__, git_hash=commit,
    )


def validate(
    selectors: Iterable[str] = (),
    *,
    budget: str = "quick",
    seeds: int | None = None,
    device: str = "cpu",
    out: str | Path = "figures",
    seed: int = 0,
    progress: bool = True,
    executor: str = "local",
    jobs: int | None = None,
    ray_address: str | None = None,
    model: str | Path | None = None,
) -> list[ClaimResult]:
    """Run the selected claims (all if none), store their units and records, write figures and the report.

    Units already in ``out/results.sqlite`` are not recomputed, so an interrupted run resumes and a
    rerun is served from the store. ``executor``: ``local`` (a pool of ``jobs`` processes, default
    the machine's cores; ``jobs=1`` runs in this process), ``serial`` or ``ray`` (``ray_address``:
    ``auto`` or ``HOST:PORT`` of a running cluster; none starts a local instance). ``model``: a local
    checkpoint directory that replaces MiniLM in the claims that declare an ``encoder`` size (the
    full-model checks).
    """
    claims = select(selectors)
    b = Budget(budget, seeds, None if model is None else str(Path(model).expanduser().resolve()))
    if model is not None and not any("encoder" in c.sizes_for(b) for c in claims):
        raise ValueError("--model applies to the claims that run a transformer encoder (the full-model checks: "
                         "`fedtheory validate full-model --model PATH`); none of the selected claims does")
    if ray_address and executor != "ray":
        raise ValueError("--ray-address needs --executor ray")
    out = Path(out)
    commit = git_hash(exclude=out)  # once, before this run rewrites figures: the tree the numbers come from
    with ResultsStore(out / STORE_NAME) as store, make_executor(executor, jobs, ray_address) as ex:
        dev = ex.resolve_device(device)
        plans = {c.id: {n: u.on(dev) for n, u in c.plan(b, seed).items()} for c in claims}
        computed = run_units([u for p in plans.values() for u in p.values()], store, ex, progress)
        results = []
        for c in claims:
            plan = plans[c.id]
            data = ClaimData(c.id, c.sizes_for(b), seed, {n: store.get(u.key) for n, u in plan.items()}, plan)
            result = _record(c, data, plan, computed, out, commit, store)
            store.put_result(result)
            results.append(result)
        write_report(store.results(), out, store.falsifications())
    return results


def report(out: str | Path = "figures", readme: str | Path | None = None) -> Path:
    """Rewrite the report from the store without running anything; with ``readme``, its verdict table too."""
    out = Path(out)
    with ResultsStore(out / STORE_NAME, write=False) as store:
        results, searches = store.results(), store.falsifications()
    if readme is not None:
        update_readme(results, Path(readme), searches)
    return write_report(results, out, searches)


def falsify(
    claim_id: str,
    *,
    examples: int = 1000,
    seconds: float = 100.0,
    seed: int = 0,
    out: str | Path = "figures",
    device: str = "cpu",
    progress: bool = True,
    level: float | None = None,
    max_confirmations: int | None = None,
):
    """Search a claim's region for a confirmed, shrunk counterexample (:mod:`~fedtheory.validation.harness.falsify`).

    Every measured point is a unit in ``out/results.sqlite`` (an interrupted search resumes; the same
    ``seed`` replays the same search); the record and its figure (``out/<paper>/falsify_<name>.png``) join
    the claim's entry in the report.
    """
    from fedtheory.validation.harness import falsify as fz
    from fedtheory.validation.harness import figures
    from fedtheory.validation.harness.claims import CLAIMS
    from fedtheory.validation.harness.units import unit

    claim = CLAIMS.get(claim_id)
    if claim is None or claim.search is None:
        searchable = sorted(c.id for c in CLAIMS.values() if c.search is not None)
        what = "no claim" if claim is None else "no search space for claim"
        raise ValueError(f"{what} {claim_id!r}; the claims with a search space are: {', '.join(searchable)}")
    search = claim.search
    out = Path(out)
    commit = git_hash(exclude=out)
    with ResultsStore(out / STORE_NAME) as store, make_executor("serial") as ex:
        dev = ex.resolve_device(device)

        def evaluate(point: dict, seeds: list[int]):
            u = unit(search.measure, point=point, seeds=seeds, label=f"{claim_id} point",
                     cost=search.cost).on(dev)
            if not store.has(u.key):
                run_units([u], store, ex, progress=False)
            return store.get(u.key)

        kw = {k: v for k, v in (("level", level), ("max_confirmations", max_confirmations)) if v is not None}
        record = fz.run_search(search, evaluate, name=claim_id, examples=examples, seconds=seconds, seed=seed,
                               progress=progress, reproduce=lambda p: _reproduce(claim_id, p, seed), **kw)
        record.git_hash = commit
        tail = claim_id.split(".", 1)[1] if "." in claim_id else claim_id
        record.figure = figures.save(fz.draw_search(record), out / claim.paper / f"falsify_{tail}",
                                     {"index": [e["index"] for e in record.evaluations],
                                      "score": [e["value"] for e in record.evaluations],
                                      "lo": [e["lo"] for e in record.evaluations]},
                                     {"claim": claim_id, "examples": examples, "seconds": seconds, "seed": seed})
        store.put_falsification(claim_id, record)
        write_report(store.results(), out, store.falsifications())
    return record


def _reproduce(claim_id: str, point: dict, seed: int) -> str:
    import json

    return f"fedtheory falsify {claim_id} --seed {seed} --at '{json.dumps(point, sort_keys=True)}'"


def falsify_at(claim_id: str, point: dict, *, seed: int = 0, device: str = "cpu",
               level: float | None = None, max_confirmations: int | None = None) -> dict:
    """Measure one point of a claim's search as the search does (its seeds, then the fresh confirmation seeds)."""
    from fedtheory.validation.harness import falsify as fz
    from fedtheory.validation.harness.claims import CLAIMS
    from fedtheory.validation.harness.units import execute, unit

    claim = CLAIMS.get(claim_id)
    if claim is None or claim.search is None:
        raise ValueError(f"no search space for claim {claim_id!r}")
    search = claim.search
    level = fz.LEVEL if level is None else level
    k = fz.MAX_CONFIRMATIONS if max_confirmations is None else max_confirmations
    dev = make_executor("serial").resolve_device(device)

    def score(seeds, lvl):
        return search.score(execute(unit(search.measure, point=point, seeds=seeds).on(dev)), point, lvl)

    search_seeds, fresh = fz.search_and_fresh_seeds(search, seed)
    s = score(search_seeds, level)
    row = {"point": point, "value": s.value, "lo": s.lo, "hi": s.hi, "level": level}
    if not search.deterministic:
        c = score(fresh, level / k)
        row["confirm"] = {"value": c.value, "lo": c.lo, "hi": c.hi, "level": level / k, "seeds": search.confirm_seeds}
        row["violated"] = c.lo > 1
    else:
        row["violated"] = s.value > 1 + search.rtol
    return row
