"""Every benchmark in one run, the peers included, on one machine: ``python -m bench`` (what ``make bench`` runs).

Runs, in order, fedtheory's own benchmarks (each against a straightforward reference of the same
computation), the executor suite on a part of the quick suite, then the peers — ByzFL
(:mod:`bench.peers`, in its own environment) and Flower's simulation engine (:mod:`bench.peers_flower`,
in its own) — each as a subprocess, and writes everything they print, after a header naming the date,
the machine and the commit, to ``--log`` as well as to the terminal. Every benchmark checks that both
sides computed the same thing before it prints a ratio; one that fails is reported at the end and
the exit status is 1. The README's benchmark numbers are read off one such log (``bench/last_run.txt``).

    python -m bench [--log bench/last_run.txt] [--peers-python .venv-peers/bin/python]
                    [--flower-python .venv-flower/bin/python] [--only NAME ...] [--suite-selectors ...]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the executor suite's default part of the quick suite, run serially, with --jobs 2 and on Ray: ~545 s of unit
#: work in units of 0.1–54 s (the whole quick suite, ``--suite-selectors`` with no names, is ~3,000 s a run)
SUITE_SELECTORS = ("byzantine", "la-lora", "privacy-robustness")
#: name → (interpreter: "own", "peers" or "flower"; module; arguments)
BENCHES = {
    "mean_estimation": ("own", "bench.mean_estimation", []),
    "dp_lora": ("own", "bench.dp_lora", []),
    "fedslr": ("own", "bench.fedslr", []),
    "lora_transformer": ("own", "bench.lora_transformer", []),
    "fedpft": ("own", "bench.fedpft", []),
    "suite": ("own", "bench.suite", ["--jobs", "2", "--ray"]),
    "peers": ("peers", "bench.peers", []),
    "peers_flower": ("flower", "bench.peers_flower", []),
}


def machine() -> str:
    """CPU model, logical cores, memory, OS, Python and torch versions, and the git commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                   if x.startswith("MemTotal")) / 2**20
        mem_s = f", {mem:.0f} GiB"
    except (OSError, StopIteration):
        mem_s = ""
    try:
        import torch

        torch_s = f", torch {torch.__version__}"
    except ImportError:
        torch_s = ""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} logical cores{mem_s}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}{torch_s}; commit {commit}{' (with local changes)' if dirty else ''}")


def run_one(cmd: list[str], log, env: dict[str, str]) -> int:
    """Run ``cmd`` from the repository root, copying its output (stderr merged) to the terminal and ``log``."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        log.write(line)
        log.flush()
    return proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--log", type=Path, default=ROOT / "bench" / "last_run.txt", help="copy of the output")
    p.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"),
                   help="interpreter of the ByzFL environment (make bench-peers creates it)")
    p.add_argument("--flower-python", default=str(ROOT / ".venv-flower" / "bin" / "python"),
                   help="interpreter of the Flower environment (make bench-flower creates it)")
    p.add_argument("--only", nargs="+", choices=list(BENCHES), help="run these benchmarks only")
    p.add_argument("--suite-selectors", nargs="*", default=list(SUITE_SELECTORS),
                   help="claims of the executor suite (no names: the whole quick suite)")
    args = p.parse_args(argv)
    python = {"own": sys.executable, "peers": args.peers_python, "flower": args.flower_python}
    names = args.only or list(BENCHES)
    for name in names:
        exe = python[BENCHES[name][0]]
        if not Path(exe).exists():
            p.error(f"{name} needs {exe}: run `make bench-{'peers' if BENCHES[name][0] == 'peers' else 'flower'}` "
                    f"once to create its environment, or pass --{BENCHES[name][0]}-python")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    failed, t_all = [], time.perf_counter()
    with open(args.log, "w") as log:
        header = (f"# fedtheory benchmarks, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n"
                  f"# {machine()}\n")
        sys.stdout.write(header)
        log.write(header)
        for name in names:
            kind, module, extra = BENCHES[name]
            if name == "suite":
                extra = [*extra, "--selectors", *args.suite_selectors]
            env = dict(os.environ)
            if kind == "peers":  # torchvision is a stand-in for ByzFL's import (bench/peer_stubs), for this run alone
                env["PYTHONPATH"] = str(ROOT / "bench" / "peer_stubs")
            cmd = [python[kind], "-m", module, *extra]
            banner = f"\n## {name}: {' '.join([Path(cmd[0]).parent.parent.name + '/bin/python', *cmd[1:]])}\n"
            sys.stdout.write(banner)
            log.write(banner)
            log.flush()
            t0 = time.perf_counter()
            rc = run_one(cmd, log, env)
            line = f"## {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.perf_counter() - t0:.0f} s\n"
            sys.stdout.write(line)
            log.write(line)
            if rc:
                failed.append(name)
        tail = (f"\n# {len(names) - len(failed)} of {len(names)} benchmarks ran and passed their checks in "
                f"{time.perf_counter() - t_all:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else "") + "\n")
        sys.stdout.write(tail)
        log.write(tail)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
