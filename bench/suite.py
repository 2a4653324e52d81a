"""The whole quick suite, serially (``--jobs 1``) and on a local process pool (``--jobs N``), in one run.

Each run starts from an empty results store (a fresh temporary ``--out``), so every unit is
computed; the cached datasets, tokens and MiniLM embeddings are shared (built beforehand by
``fedtheory data`` and the first run). Reports the wall times, their ratio, and the sum of the
units' own seconds (the work), and checks that every stored array and every verdict is the same in
both runs. ``--ray`` adds a third run on a local Ray instance with ``--jobs`` CPUs::

    python -m bench.suite [--jobs 2] [--ray] [--selectors ...]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(selectors: list[str], jobs: int, out: Path, executor: str = "local") -> float:
    cmd = [sys.executable, "-m", "fedtheory.cli", "validate", *selectors, "--budget", "quick", "--jobs", str(jobs),
           "--executor", executor, "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _work(out: Path) -> tuple[int, float]:
    con = sqlite3.connect(out / "results.sqlite")
    n, sec = con.execute("SELECT COUNT(*), SUM(seconds) FROM units").fetchone()
    con.close()
    return int(n), float(sec)


def _same_arrays(a: Path, b: Path) -> tuple[bool, int]:
    import numpy as np

    from fedtheory.validation.harness.store import ResultsStore

    with ResultsStore(a / "results.sqlite", write=False) as sa, ResultsStore(b / "results.sqlite", write=False) as sb:
        keys = sa.keys()
        if keys != sb.keys():
            return False, len(keys)
        for k in keys:
            x, y = sa.get(k), sb.get(k)
            if x.keys() != y.keys() or not all(
                    np.array_equal(x[n], y[n], equal_nan=x[n].dtype.kind == "f") for n in x):
                return False, len(keys)
    return True, len(keys)


def _verdicts(out: Path) -> dict[str, str]:
    con = sqlite3.connect(out / "results.sqlite")
    rows = {cid: json.loads(rec)["verdict"] for cid, rec in con.execute("SELECT claim_id, record FROM results")}
    con.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--ray", action="store_true", help="also run on a local Ray instance with --jobs CPUs")
    p.add_argument("--selectors", nargs="*", default=[])
    args = p.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        serial, pool, ray = Path(tmp) / "serial", Path(tmp) / "pool", Path(tmp) / "ray"
        t1 = _run(args.selectors, 1, serial)
        tn = _run(args.selectors, args.jobs, pool)
        n, work = _work(serial)
        print(f"quick suite ({n} units, {work:.0f} s of unit work at 1 thread each)")
        print(f"  --jobs 1          {t1:8.1f} s")
        same_a, _ = _same_arrays(serial, pool)
        same_v = _verdicts(serial) == _verdicts(pool)
        ok &= same_a and same_v
        print(f"  --jobs {args.jobs:<10d} {tn:8.1f} s   ratio {t1 / tn:.2f}x; arrays identical: {same_a}, "
              f"verdicts identical: {same_v}")
        if args.ray:
            tr = _run(args.selectors, args.jobs, ray, executor="ray")
            same_a, _ = _same_arrays(serial, ray)
            same_v = _verdicts(serial) == _verdicts(ray)
            ok &= same_a and same_v
            print(f"  --executor ray    {tr:8.1f} s   ratio {t1 / tr:.2f}x; arrays identical: {same_a}, "
                  f"verdicts identical: {same_v}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
