"""The ``fedtheory`` command (data / list / validate / falsify / report / lambda-star) and the composition root.

Thin: it parses, registers the claims (:func:`load_claims`: the papers' modules and every
``fedtheory.claims`` entry point of installed packages), calls the harness and prints. ``--help``,
``data`` and ``lambda-star`` import no torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fedtheory.validation.harness.budgets import BUDGETS

ENTRY_POINT_GROUP = "fedtheory.claims"
_LOADED = False


def load_claims() -> dict:
    """Import every claim module once, ours and those of other packages; return the registry.

    A package adds claims by naming a module in the entry-point group ``fedtheory.claims``; importing
    that module must call :func:`fedtheory.validation.register`. A plug-in that fails to import is an
    error naming the entry point, not a silent omission.
    """
    global _LOADED
    from fedtheory.validation.harness.claims import CLAIMS

    if _LOADED:
        return CLAIMS
    from importlib.metadata import entry_points

    from fedtheory.validation.papers import MODULES

    for name in MODULES:
        importlib.import_module(f"fedtheory.validation.papers.{name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - reported with the plug-in's name
            raise ImportError(f"claims plug-in {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
    _LOADED = True
    return CLAIMS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedtheory", description="Theory of federated fine-tuning, tested against experiments.")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list the registered claims")
    ls.add_argument("selectors", nargs="*", help="claim ids or papers (default: all)")

    v = sub.add_parser("validate", help="run claims, write figures, results and the report")
    v.add_argument("selectors", nargs="*", metavar="CLAIM|PAPER", help="claim ids or papers (default: all)")
    v.add_argument("--budget", choices=BUDGETS, default="quick", help="quick (CI, minutes on a CPU) or full (paper scale)")
    v.add_argument("--seeds", type=int, default=None,
                   help="seeds of every unit that repeats over seeds (default: each claim's own count)")
    v.add_argument("--seed", type=int, default=0, help="first seed (seeds are seed, seed+1, ...)")
    v.add_argument("--device", default="cpu", help="cpu, cuda or auto (CUDA where the executor's machines have it)")
    v.add_argument("--executor", choices=("local", "serial", "ray"), default="local",
                   help="local: a process pool of --jobs workers (default); serial: this process; ray: Ray tasks")
    v.add_argument("--jobs", type=int, default=None,
                   help="local pool size, or the CPUs of a Ray instance started here (default: this machine's cores)")
    v.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                   help="with --executor ray: the cluster to join (default: start a local Ray instance)")
    v.add_argument("--out", default="figures", help="output folder for figures, results.sqlite and REPORT.md")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.add_argument("--full-model", action="store_true",
                   help="add the full-model checks on a real transformer (same as the selector full-model)")
    v.add_argument("--model", default=None, metavar="PATH",
                   help="the full-model checks on this local transformers checkpoint directory of a BERT/RoBERTa-"
                        "style encoder instead of MiniLM (LoRA targets, layers and hidden size from its config)")

    fz = sub.add_parser("falsify", help="search a claim's region for a confirmed, shrunk counterexample",
                        description="Search the region where a claim's assumptions hold (hypothesis, steered "
                                    "toward the worst score) for a point where the statement fails; a candidate "
                                    "counts only after fresh seeds confirm it; the failing point is shrunk.")
    fz.add_argument("claim", nargs="?", help="claim id (omit to list the claims that have a search space)")
    fz.add_argument("--examples", type=int, default=1000, help="points to generate at most (default 1000)")
    fz.add_argument("--seconds", type=float, default=90.0, help="measuring time at most (default 90)")
    fz.add_argument("--seed", type=int, default=0, help="seed of the draws and of the measurements (default 0)")
    fz.add_argument("--at", default=None, metavar="JSON",
                    help="measure this one point (a JSON object, as printed by a search) instead of searching")
    fz.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    fz.add_argument("--out", default="figures", help="output folder (results store, figures, REPORT.md)")
    fz.add_argument("--no-progress", action="store_true", help="no progress bar")

    r = sub.add_parser("report", help="rewrite REPORT.md from the results store")
    r.add_argument("--out", default="figures")
    r.add_argument("--readme", default=None, metavar="README.md",
                   help="also replace the verdict table of this file (between its markers)")

    sub.add_parser("data", help="prepare the real datasets in the cache (see `fedtheory data --help`)", add_help=False)

    lam = sub.add_parser("lambda-star", help="the predicted collaboration level λ* for your federation (no torch)",
                         description="λ* of personalised mean estimation when clients share (ε, δ)-DP releases of "
                                     "clipped local means and f of n may be Byzantine "
                                     "(fedtheory.theory.private_personalization).")
    lam.add_argument("--n", type=int, required=True, help="clients")
    lam.add_argument("--f", type=int, default=0, help="Byzantine clients, f < n/2 (default 0)")
    lam.add_argument("--m", type=int, required=True, help="samples per client")
    lam.add_argument("--sigma2", type=float, required=True, help="trace of a sample's covariance (d·σ² if isotropic)")
    lam.add_argument("--heterogeneity", type=float, required=True,
                     help="‖µᵢ − µ_C‖², your distance to the honest mean (also used as the spread Δ²)")
    lam.add_argument("--epsilon", type=float, default=float("inf"), help="privacy budget ε of a release (default: none)")
    lam.add_argument("--delta", type=float, default=1e-5, help="δ of a release (default 1e-5)")
    lam.add_argument("--clip", type=float, default=None, help="clipping radius C of the samples (needed with --epsilon)")
    lam.add_argument("--dim", type=int, default=1, help="dimension d of a sample (default 1)")
    lam.add_argument("--aggregator", default="nnm+trimmed_mean", help="robust rule, for κ when f > 0")
    return p


def _lambda_star(args) -> int:
    """Print λ* with what it rests on (theory only: numpy/scipy)."""
    import math

    from fedtheory.theory.private_personalization import lambda_star_private_mean, release_noise2
    from fedtheory.theory.robust_aggregation import kappa_of

    private = math.isfinite(args.epsilon)
    if private and args.clip is None:
        raise ValueError("clip: give the clipping radius C (--clip) with --epsilon: the noise scales with 2C/m")
    noise2 = float(release_noise2(args.epsilon, delta=args.delta, clip=args.clip, m=args.m, dim=args.dim)) if private else 0.0
    kappa = float(kappa_of(args.aggregator, args.n, args.f)) if args.f > 0 else 0.0
    kw = dict(sigma2=args.sigma2, m=args.m, n=args.n, f=args.f, bias2=args.heterogeneity, spread2=args.heterogeneity)
    star = float(lambda_star_private_mean(**kw, kappa=kappa, noise2=noise2))
    plain = float(lambda_star_private_mean(**kw, kappa=kappa, noise2=0.0))
    print(f"λ* = {star:.4f}" + (f"   (without privacy: {plain:.4f})" if private else ""))
    print(f"  release noise dτ² = {noise2:.4g}" + (f" (analytic Gaussian, ε = {args.epsilon:g}, δ = {args.delta:g}, "
                                                   f"sensitivity 2C/m = {2 * args.clip / args.m:.4g})" if private else
                                                   " (no privacy)"))
    print(f"  κ = {kappa:.4g}" + (f" ({args.aggregator}, n = {args.n}, f = {args.f})" if args.f else " (f = 0: the mean)"))
    print("Assumes: θ̂ᵢ(λ) = (1−λ)·(own mean) + λ·F(releases); samples i.i.d. per client; clipping inactive "
          "(C above the samples' norms, else pass the clipped moments to lambda_star_private_mean); "
          "for f > 0 λ* minimises the upper bound 2[M₀ + λ²κV] (γ = 1), not the MSE itself.")
    return 0


def _falsify(args) -> int:
    """``fedtheory falsify``: list, search, or measure one point."""
    import json

    from fedtheory.validation.harness.claims import CLAIMS
    from fedtheory.validation.harness.runner import falsify, falsify_at

    if args.claim is None:
        for c in CLAIMS.values():
            if c.search is not None:
                print(f"{c.id:55s} {c.search.what}")
        return 0
    if args.at is not None:
        try:
            point = json.loads(args.at)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--at must be a JSON object, got {args.at!r} ({exc})") from None
        if not isinstance(point, dict):
            raise ValueError(f"--at must be a JSON object, got {args.at!r}")
        row = falsify_at(args.claim, point, seed=args.seed, device=args.device)
        print(json.dumps(row, indent=2))
        return 1 if row["violated"] else 0
    record = falsify(args.claim, examples=args.examples, seconds=args.seconds, seed=args.seed, out=args.out,
                     device=args.device, progress=not args.no_progress)
    print(record.summary())
    print(f"figure: {record.figure}")
    print(f"report: {args.out}/REPORT.md")
    return 1 if record.found else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:  # the data layer owns its arguments
        from fedtheory.simulators.data.datasets import main as data_main

        return data_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "lambda-star":
        try:
            return _lambda_star(args)
        except ValueError as exc:
            print(f"fedtheory: error: {exc}", file=sys.stderr)
            return 2
    try:
        load_claims()  # imports the claims (and torch) only now that a command needs them
    except ImportError as exc:
        print(f"fedtheory: error: {exc}", file=sys.stderr)
        return 2
    from fedtheory.validation.harness.claims import select
    from fedtheory.validation.harness.runner import UnitFailed, report, validate

    try:
        if args.command == "list":
            for c in select(args.selectors):
                print(f"{c.id:55s} {c.title}")
            return 0
        if args.command == "report":
            print(report(args.out, readme=args.readme))
            return 0
        if args.command == "falsify":
            return _falsify(args)
        selectors = list(args.selectors)
        if args.full_model and "full-model" not in selectors:
            selectors.append("full-model")
        results = validate(
            selectors,
            budget=args.budget,
            seeds=args.seeds,
            device=args.device,
            out=args.out,
            seed=args.seed,
            progress=not args.no_progress,
            executor=args.executor,
            jobs=args.jobs,
            ray_address=args.ray_address,
            model=args.model,
        )
    except ValueError as exc:  # bad arguments, a store that cannot be used (StoreError)
        print(f"fedtheory: error: {exc}", file=sys.stderr)
        return 2
    except UnitFailed as exc:
        print(f"fedtheory: error: {exc}; the units that finished are stored, rerun to resume.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nfedtheory: interrupted; finished units are stored, rerun the same command to resume.", file=sys.stderr)
        return 130
    width = max(len(r.claim_id) for r in results) if results else 0
    for r in results:
        print(f"{r.claim_id:{width}s}  {r.verdict.value:15s} {r.message.splitlines()[0] if r.message else ''}")
    print(f"report: {args.out}/REPORT.md")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
