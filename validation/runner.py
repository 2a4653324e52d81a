"""Runs claims through an executor, with a progress bar, the results store and the report."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from . import __version__
from .budgets import get_budget
from .claims import Claim, ClaimContext, select
from .records import ClaimResult, git_hash
from .report import write_report
from .store import ResultsStore

STORE_NAME = "results.sqlite"


def resolve_device(device: str) -> str:
    """'cpu', 'cuda' or 'auto' (CUDA when present). Fails clearly when CUDA is asked for but absent."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu")
    return device


def run_claim(claim: Claim, ctx: ClaimContext) -> ClaimResult:
    result = claim.run(ctx)
    result.config = {
        **result.config,
        "budget": ctx.budget.name,
        "seeds": ctx.budget.seeds,
        "first_seed": ctx.seed,
        "device": ctx.device,
        "lam_points": ctx.budget.lam_points,
    }
    result.version, result.git_hash = __version__, git_hash()
    result.summary = {**result.summary, "units_computed": ctx.computed, "units_from_store": ctx.cached}
    ctx.store.put_result(result)
    return result


def validate(
    selectors: Iterable[str] = (),
    *,
    budget: str = "quick",
    seeds: int | None = None,
    device: str = "cpu",
    out: str | Path = "figures",
    seed: int = 0,
    progress: bool = True,
) -> list[ClaimResult]:
    """Run the selected claims (all if none), store their results and write the report.

    Units already in ``out/results.sqlite`` with the same config are not recomputed, so an
    interrupted run resumes and a rerun is served from the store.
    """
    claims = select(selectors)
    b = get_budget(budget, seeds)
    dev = resolve_device(device)
    out = Path(out)
    results = []
    with ResultsStore(out / STORE_NAME) as store:
        bar = tqdm(total=len(claims), desc="claims", unit="claim", disable=not progress, leave=True)
        for claim in claims:
            bar.set_postfix_str(claim.id)

            def on_unit(key, cached, _c=claim):
                bar.set_postfix_str(f"{_c.id} [{key}{' (stored)' if cached else ''}]")

            ctx = ClaimContext(claim=claim, budget=b, device=dev, out_dir=out, store=store, seed=seed,
                               progress=progress, on_unit=on_unit)
            results.append(run_claim(claim, ctx))
            bar.update(1)
        bar.close()
        write_report(store.results(), out)
    return results


def report(out: str | Path = "figures") -> Path:
    """Rewrite the report from the store without running anything."""
    out = Path(out)
    if not (out / STORE_NAME).exists():
        raise ValueError(f"no results store at {out / STORE_NAME}; run `fedtheory validate` first")
    with ResultsStore(out / STORE_NAME) as store:
        return write_report(store.results(), out)
