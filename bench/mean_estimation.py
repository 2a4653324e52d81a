"""Benchmark: the batched mean-estimation sweep against a straightforward per-seed, per-client loop.

Paper default (n = 600, f = 100, m = 20, σ = 15, σ_h = 2, sign flipping, NNM∘trimmed mean), 100 seeds,
201 λ values. The reference is written the way most FL code is: a Python loop over seeds, over
clients for nearest-neighbour mixing, and over honest clients and λ values for the error. Both
consume the same random draws, so the bench also checks that they agree to float precision.

Run: ``python -m bench.mean_estimation [--seeds 100] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from bench.timing import best_time

from fedtheory.simulators.byzantine.mean_estimation import (
    MeanEstimationConfig,
    _draw_standard_normals,
    simulate_mean_estimation,
)


def reference_loop(cfg: MeanEstimationConfig, seeds: list[int], lams: np.ndarray) -> np.ndarray:
    """Per-seed, per-client numpy loop; returns the client-averaged error curve (S, L)."""
    n, f, h = cfg.n, cfg.f, cfg.n - cfg.f
    z = _draw_standard_normals(seeds, (2, 1, h, cfg.d), "cpu", torch.float64).numpy()
    curves = np.zeros((len(seeds), len(lams)))
    for s in range(len(seeds)):
        mu_i = cfg.mu + cfg.sigma_h * z[s, 0, 0]
        xbar = mu_i + cfg.sigma / np.sqrt(cfg.m) * z[s, 1, 0]
        x = np.vstack([xbar, np.tile(-xbar.mean(0), (f, 1))])  # sign flipping
        mixed = np.empty_like(x)
        for i in range(n):  # nearest-neighbour mixing
            dist = ((x - x[i]) ** 2).sum(1)
            mixed[i] = x[np.argsort(dist, kind="stable")[: n - f]].mean(0)
        agg = np.sort(mixed, axis=0)[f : n - f].mean(0)  # coordinate-wise trimmed mean
        for i in range(h):
            for j, lam in enumerate(lams):
                theta = (1 - lam) * xbar[i] + lam * agg
                curves[s, j] += ((theta - mu_i[i]) ** 2).sum() / h
    return curves


def batched(cfg: MeanEstimationConfig, seeds: list[int], lams: np.ndarray, device: str) -> np.ndarray:
    """The library path: one batched call for all seeds, curves from the error coefficients."""
    res = simulate_mean_estimation(cfg, seeds=seeds, device=device)
    out = res.mean_curve(torch.as_tensor(lams))[:, 0]
    if out.is_cuda:
        torch.cuda.synchronize()
    return out.cpu().numpy()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--lam-points", type=int, default=201)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="batched timings: best of this many")
    args = p.parse_args(argv)
    cfg = MeanEstimationConfig()
    seeds = list(range(args.seeds))
    lams = np.linspace(0, 1, args.lam_points)

    # "auto" uses the O(n log n) sorted-window NNM for d = 1; "pairwise" the n × n distance
    # matrix that any d needs, to show how much of the speed-up is batching alone.
    timings, fast = {}, {}
    for method in ("auto", "pairwise"):
        c = replace(cfg, aggregator_params={"method": method})
        batched(c, seeds[:2], lams, args.device)  # warm-up
        timings[method], fast[method] = best_time(lambda: batched(c, seeds, lams, args.device), args.repeats,
                                                  args.device)
    t0 = time.perf_counter()
    ref = reference_loop(cfg, seeds, lams)
    t_ref = time.perf_counter() - t0

    err = max(float(np.max(np.abs(v - ref) / np.maximum(np.abs(ref), 1e-12))) for v in fast.values())
    print(f"mean estimation, n={cfg.n}, f={cfg.f}, d={cfg.d}, {len(seeds)} seeds, {len(lams)} λ values, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"  reference loop (numpy, per seed/client/λ): {t_ref:9.3f} s")
    for method, t in timings.items():
        print(f"  batched, NNM {method:8s} (best of {args.repeats}):    {t:9.3f} s   speed-up {t_ref / t:8.1f}x")
    print(f"  max relative difference of the curves: {err:.2e}")
    if err > 1e-8:
        raise SystemExit("batched and reference results differ: the benchmark compares different computations")


if __name__ == "__main__":
    main()
