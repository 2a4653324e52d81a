"""Benchmark: FedSLR rounds batched over seeds × clients against a per-client Python loop of the same rounds.

Same task (default 10 seeds × 20 clients, the claims' 8 × 6 weight, 200 measurements per client), same
configuration (full participation, full-batch gradients, both stages), two ways:

1. the straightforward reference: for every seed, for every client, the stage-1 local steps, the
   dual update and the stage-2 proximal steps on single matrices, then the server step per seed;
2. :func:`fedtheory.simulators.fedslr.algorithm.run_fedslr`, seeds and clients as tensor dimensions.

Both must give the same global models and personal parts (the bench fails otherwise); it prints the
time per round and the ratio (aim: ≥ 20× at 20 clients × 10 seeds on a CPU).
Run: ``python -m bench.fedslr [--seeds 10] [--clients 20] [--rounds 20] [--repeats 5]``.
"""

from __future__ import annotations

import argparse

import torch
from bench.timing import best_time

from fedtheory.simulators.fedslr.algorithm import FedSLRConfig, run_fedslr, svt
from fedtheory.simulators.fedslr.matrix_regression import MatrixRegressionConfig, MatrixRegressionTask


def reference_loop(task: MatrixRegressionTask, cfg: FedSLRConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The same rounds, one seed and one client at a time; returns w (S, d₁, d₂) and p (S, n, d₁, d₂)."""
    S, n = len(task.seeds), task.n
    W_out, P_out = [], []
    for s in range(S):
        w = task.init()["W"][s].clone()
        mu = [torch.zeros_like(w) for _ in range(n)]
        p = [torch.zeros_like(w) for _ in range(n)]
        for t in range(cfg.rounds):
            lr = cfg.lr * cfg.lr_decay**t
            local = []
            for i in range(n):
                X, y = task.X[s, i], task.y[s, i]

                def grad(v):
                    return (X.T @ (X @ v.reshape(-1) - y) / X.shape[0]).view_as(v)

                wi = w.clone()
                for _ in range(cfg.local_steps):
                    wi = wi - lr * (grad(wi) - mu[i] + cfg.alpha_coef * (wi - w) + cfg.weight_decay * wi)
                mu[i] = mu[i] + cfg.alpha_coef * (w - wi)
                local.append(wi)
                pi = p[i]
                for _ in range(cfg.personal_steps):
                    pi = torch.nn.functional.softshrink(
                        pi - lr * (grad(w + pi) + cfg.personal_weight_decay * pi), cfg.l1_weight * lr)
                p[i] = pi
            v = torch.stack(local).mean(0) - torch.stack(mu).sum(0) / (cfg.alpha_coef * n)
            w = svt(v, cfg.nuclear_weight / cfg.alpha_coef)[0]
        W_out.append(w)
        P_out.append(torch.stack(p))
    return torch.stack(W_out), torch.stack(P_out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5, help="each side's time: best of this many runs")
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    task = MatrixRegressionTask(MatrixRegressionConfig(d1=8, d2=6, rank=2, sparsity=3, n=args.clients, m=200),
                                seeds)
    L = float(task.lipschitz.max())
    cfg = FedSLRConfig(rounds=args.rounds, local_steps=5, personal_steps=5, lr=1 / (2 * L), alpha_coef=L,
                       nuclear_weight=0.4, l1_weight=0.05, weight_decay=0.0, personal_weight_decay=0.0,
                       p_init="zeros", stage2_at="received")
    t_loop, (W_ref, P_ref) = best_time(lambda: reference_loop(task, cfg), args.repeats)
    run_fedslr(task, FedSLRConfig(**{**cfg.__dict__, "rounds": 1}), seeds=seeds)  # warm-up
    t_batched, res = best_time(lambda: run_fedslr(task, cfg, seeds=seeds, record=[args.rounds]), args.repeats)
    torch.testing.assert_close(res["w/W"][:, -1], W_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(res["p/W"][:, -1], P_ref, rtol=1e-10, atol=1e-10)
    per = 1e3 / args.rounds
    print(f"FedSLR, {args.seeds} seeds × {args.clients} clients, 8 × 6 weight (the claims' problem), {args.rounds} rounds "
          f"(5 local + 5 personal steps):")
    print(f"  per-client loop   {t_loop * per:9.1f} ms/round   (each best of {args.repeats} runs)")
    print(f"  batched           {t_batched * per:9.1f} ms/round   ratio {t_loop / t_batched:.1f}x (aim >= 20x); "
          "models equal to 1e-10")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
