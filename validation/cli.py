"""The ``fedtheory`` command: list / validate / report. Thin: parses, calls validation, prints."""

from __future__ import annotations

import argparse
import sys

from .budgets import BUDGETS


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

    r = sub.add_parser("report", help="rewrite REPORT.md from the results store")
    r.add_argument("--out", default="figures")

    sub.add_parser("data", help="prepare the real datasets in the cache (see `fedtheory data --help`)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:  # the data layer owns its arguments
        from simulators.datasets import main as data_main

        return data_main(argv[1:])
    args = _parser().parse_args(argv)
    from . import report, select, validate  # imports torch only when needed
    from .runner import UnitFailed

    try:
        if args.command == "list":
            for c in select(args.selectors):
                print(f"{c.id:55s} {c.title}")
            return 0
        if args.command == "report":
            print(report(args.out))
            return 0
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
