"""Benchmark: one DP-SGD step's clipped per-example gradient sum in the federated LoRA simulator.

Same batch (default 8 seeds × 8 clients × 256 examples, d = 32, r = 4), same clip norm, three ways:

1. the straightforward reference: a Python loop over seeds, clients and examples, one autograd
   backward pass per example, clip, accumulate (what per-example DP code without vectorisation does);
2. ``torch.func`` vmap(grad) over examples, clients and seeds, materializing every per-example
   gradient, then clipping (:func:`fedtheory.simulators.la_lora.dp_lora.per_example_grads_func`);
3. the simulator's path: closed-form per-example gradients as outer products, never materialized;
   norms as ‖u‖‖v‖ and the clipped sum as one contraction (:func:`fedtheory.simulators.la_lora.dp_lora.per_example_factors`).

All three must agree (the bench fails otherwise); it prints times and ratios against (1).
Run: ``python -m bench.dp_lora [--seeds 8] [--device cpu]``.
"""

from __future__ import annotations

import argparse

import torch
from bench.timing import best_time

from fedtheory.simulators.la_lora.dp_lora import (
    DPLoRAConfig,
    _loss,
    make_task,
    per_example_factors,
    per_example_grads_func,
)
from fedtheory.simulators.shared.dp import clip_per_example


def reference_loop(A, B, t, clip, scale, limit=None):
    """Per-example autograd loop; returns the clipped sums (S, P, r, d), (S, P, d, r)."""
    S, P, N = t["y"].shape
    sA, sB = torch.zeros_like(A), torch.zeros_like(B)
    for s in range(S):
        for p in range(P):
            for i in range(N if limit is None else min(N, limit)):
                a, b = A[s, p].clone().requires_grad_(), B[s, p].clone().requires_grad_()
                _loss(a, b, t["W0"][s], t["H"][s], t["X"][s, p, i], t["y"][s, p, i], scale).backward()
                f = min(1.0, clip / float(torch.sqrt(a.grad.pow(2).sum() + b.grad.pow(2).sum())))
                sA[s, p] += f * a.grad
                sB[s, p] += f * b.grad
    return sA, sB


def via_func(A, B, t, clip, scale):
    gA, gB = per_example_grads_func(A, B, t["W0"], t["H"], t["X"], t["y"], scale)
    cA, cB = clip_per_example([gA.flatten(0, 2), gB.flatten(0, 2)], clip)
    return cA.view(gA.shape).sum(2), cB.view(gB.shape).sum(2)


def via_factors(A, B, t, clip, scale):
    (uA, vA), (uB, vB) = per_example_factors(A, B, t["W0"], t["H"], t["X"], t["y"], scale)
    sq = uA.pow(2).sum(-1) * vA.pow(2).sum(-1) + uB.pow(2).sum(-1) * vB.pow(2).sum(-1)
    w = (clip / sq.sqrt().clamp_min(1e-12)).clamp(max=1.0)
    return torch.einsum("spn,spni,spnj->spij", w, uA, vA), torch.einsum("spn,spni,spnj->spij", w, uB, vB)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--loop-examples", type=int, default=32,
                   help="examples per client in the loop reference (its time is scaled to the full batch)")
    args = p.parse_args(argv)
    cfg = DPLoRAConfig()
    t = make_task(cfg, list(range(args.seeds)), args.device, torch.float64)
    g = torch.Generator().manual_seed(0)
    S, P = args.seeds, cfg.n
    A = torch.randn(S, P, cfg.r, cfg.d, generator=g, dtype=torch.float64).to(args.device) / cfg.d**0.5
    B = torch.randn(S, P, cfg.d, cfg.r, generator=g, dtype=torch.float64).to(args.device) / cfg.d**0.5
    C, s = 0.5, cfg.scale
    N = cfg.m
    t_loop, (rA, rB) = best_time(lambda: reference_loop(A, B, t, C, s, args.loop_examples), 1, args.device)
    t_loop *= N / min(N, args.loop_examples)
    t_func, (fA, fB) = best_time(lambda: via_func(A, B, t, C, s), args.repeats, args.device)
    t_fac, (cA, cB) = best_time(lambda: via_factors(A, B, t, C, s), args.repeats, args.device)
    # agreement: full sums for func vs factors; the loop on its subset of examples
    torch.testing.assert_close(fA, cA)
    torch.testing.assert_close(fB, cB)
    sub = {k: (v[:, :, : args.loop_examples] if k in ("X", "y") else v) for k, v in t.items()}
    sA, sB = via_factors(A, B, sub, C, s)
    torch.testing.assert_close(rA, sA)
    torch.testing.assert_close(rB, sB)
    n_ex = S * P * N
    print(f"clipped per-example gradient sum, {S} seeds × {P} clients × {N} examples, d = {cfg.d}, r = {cfg.r}, "
          f"device {args.device}")
    print(f"  per-example autograd loop (reference): {t_loop:9.3f} s  (scaled from {args.loop_examples} examples/client)")
    print(f"  torch.func vmap(grad), materialized:   {t_func:9.4f} s  ({t_loop / t_func:8.0f}× the reference)")
    print(f"  closed-form outer products (simulator): {t_fac:9.4f} s  ({t_loop / t_fac:8.0f}× the reference, "
          f"{t_func / t_fac:.1f}× torch.func)")
    print(f"  {n_ex} examples; all three agree (float64).")


if __name__ == "__main__":
    main()
