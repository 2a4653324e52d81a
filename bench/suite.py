"""The whole quick suite, serially (``--jobs 1``) and on a local process pool (``--jobs N``), in one run.

Each run starts from an empty results store (a fresh temporary ``--out``), so every unit is
computed; the cached datasets, tokens and MiniLM embeddings are shared (built beforehand by
``fedtheory data`` and the first run). Reports the wall times, their ratio, and the sum of the
units' own seconds (the work), from which the ideal ratio follows::

    python -m bench.suite [--jobs 2] [--selectors ...]
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


def _run(selectors: list[str], jobs: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "validation.cli", "validate", *selectors, "--budget", "quick", "--jobs", str(jobs),
           "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _work(out: Path) -> tuple[int, float]:
    con = sqlite3.connect(out / "results.sqlite")
    n, sec = con.execute("SELECT COUNT(*), SUM(seconds) FROM units").fetchone()
    con.close()
    return int(n), float(sec)


def _verdicts(out: Path) -> dict[str, str]:
    con = sqlite3.connect(out / "results.sqlite")
    rows = {cid: json.loads(rec)["verdict"] for cid, rec in con.execute("SELECT claim_id, record FROM results")}
    con.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--selectors", nargs="*", default=[])
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        serial, pool = Path(tmp) / "serial", Path(tmp) / "pool"
        t1 = _run(args.selectors, 1, serial)
        tn = _run(args.selectors, args.jobs, pool)
        n, work = _work(serial)
        same = _verdicts(serial) == _verdicts(pool)
    print(f"quick suite ({n} units, {work:.0f} s of unit work at 1 thread each)")
    print(f"  --jobs 1          {t1:8.1f} s")
    print(f"  --jobs {args.jobs:<10d} {tn:8.1f} s")
    print(f"  ratio             {t1 / tn:8.2f}x   (verdicts identical: {same})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
