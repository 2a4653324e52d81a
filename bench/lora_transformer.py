"""Benchmark: one federated LoRA training step on MiniLM against a plain transformers + peft step.

Same batch (default 32 reviews × 64 tokens), same model (LoRA r = 8 on query/value of all six layers,
eval mode), same optimizer (AdamW):

1. reference: the plain transformers + peft step — ``model(input_ids, attention_mask)``, cross-entropy,
   backward, ``optimizer.step()``;
2. ours without DP: :func:`fedtheory.simulators.la_lora.federated_lora._local_step` on the cached embedding output
   (LoRA on every layer, so only the embeddings are cached) and the same optimizer step;
3. ours with DP: per-example gradients (opacus' hooks, the library's DP step), clipping and noise — the
   per-example cost, reported apart, and split into its parts (per-example gradients with the loss from
   the same forward, clipping, noise) next to the cost of evaluating the same number of reviews (one
   no-grad forward);
4. ours without DP with LoRA on the last layer only (the quick budgets' configuration, prefix cached);
5. the DP step's per-example gradients against their reference (:func:`hook_peer`): the same trainable
   set (LoRA A and B of all six layers and the head), by
   :func:`~fedtheory.simulators.shared.minilm.hooked_per_example_grads` (``opacus.GradSampleModule``
   around the :class:`~fedtheory.simulators.shared.minilm.TopModel`, never opacus' PrivacyEngine around
   peft) and by ``torch.func`` (:func:`~fedtheory.simulators.shared.minilm.per_example_grads`), checked
   equal before any time is printed, then timed against a plain non-private forward/backward.

It also measures peak resident memory of a short federated run for K clients (separate processes),
which must not grow with K beyond K copies of the trainable state (0.3 MB at r = 8).
Run: ``python -m bench.lora_transformer [--batch 32] [--repeats 5] [--device cpu] [--only-hooks]``
(``--only-hooks``: row 5 alone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def steps(batch: int, repeats: int, device: str) -> dict[str, float]:
    from fedtheory.simulators.la_lora import federated_lora as fl
    from fedtheory.simulators.shared import minilm as lt

    tok = lt.tokenized(64)
    ids = torch.as_tensor(tok["input_ids"][:batch], device=device)
    mask = torch.as_tensor(tok["attention_mask"][:batch], device=device)
    y = torch.as_tensor(tok["labels"][:batch], device=device)
    out = {}

    plain = lt.load_lora_model(8, 16, seed=0, device=device)
    opt = torch.optim.AdamW([p for p in plain.parameters() if p.requires_grad], lr=1e-3)

    def plain_step():
        loss = torch.nn.functional.cross_entropy(plain(input_ids=ids, attention_mask=mask).logits, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    out["plain transformers+peft"] = _time(plain_step, repeats)

    for label, layers, private in (("ours, no DP", None, False), ("ours, DP (per-example grads)", None, True),
                                   ("ours, no DP, LoRA on layer 5 only", (5,), False)):
        model = lt.load_lora_model(8, 16, layers=layers, seed=0, device=device)
        top = lt.TopModel(model, lt.first_adapted_layer(model))
        data = lt.prefix_features(model, top.start, batch, 1, 64)  # the batch is the first `batch` pool examples
        cfg = fl.FedLoRAConfig(method="dp_lora" if private else "lora", batch_size=batch, layers=layers,
                               noise_multiplier=1.0 if private else 0.0, train_examples=batch, test_examples=1)
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        names = list(params)
        o = torch.optim.AdamW(params.values(), lr=1e-3)
        gen = torch.Generator().manual_seed(0)
        part = list(range(batch))

        def our_step():
            fl._local_step(top, params, names, data, part, cfg, cfg.noise_multiplier, gen)
            o.step()
            o.zero_grad(set_to_none=True)

        out[label] = _time(our_step, repeats)
    return out


def dp_split(batch: int, repeats: int, device: str) -> dict[str, float]:
    """Median seconds of each part of one DP step (LoRA on all layers), and of evaluating ``batch`` reviews."""
    from fedtheory.simulators.shared import minilm as lt
    from fedtheory.simulators.shared.dp import clip_factor, noisy_mean

    model = lt.load_lora_model(8, 16, seed=0, device=device)
    top = lt.TopModel(model, lt.first_adapted_layer(model))
    data = lt.prefix_features(model, top.start, batch, 1, 64)
    h, m, y = data["hidden"][:batch], data["mask"][:batch], data["labels"][:batch]
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    gen = torch.Generator().manual_seed(0)
    g, _ = lt.hooked_per_example_grads(top, params, h, m, y)

    def clip():
        sq = sum(v.flatten(1).pow(2).sum(1) for v in g.values())
        factor = clip_factor(sq, 1.0)
        return {k: torch.einsum("b,b...->...", factor, v) for k, v in g.items()}

    summed = clip()

    def noise():
        return {k: noisy_mean(v, torch.randn(v.shape, generator=gen).to(v), 1.0, batch) for k, v in summed.items()}

    pos = torch.arange(batch, device=h.device)
    return {"per-example grads + loss": _time(lambda: lt.hooked_per_example_grads(top, params, h, m, y), repeats),
            "clipping": _time(clip, repeats), "noise": _time(noise, repeats),
            f"evaluation of {batch} reviews": _time(lambda: lt.correct(top, data, pos), repeats)}


# the peer row's timings (:func:`hook_peer`)
OURS_DP = "ours, DP (opacus hooks: per-example grads + loss)"
REF_DP = "torch.func reference (per-example grads + loss)"
PLAIN = "plain step (forward, loss, backward)"


def _time_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each of ``fns``, run in turn within every repeat (after one warm-up each).

    Interleaving exposes every method to the same background load, which on a shared machine moves
    more than the methods differ; their ratios are what the row reports.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def hook_tolerance(model, max_length: int) -> float:
    """Relative tolerance of the hooks-vs-torch.func check: float32 ε times the longest reduction.

    Both methods compute the same float32 numbers in different summation orders (vmap's batched
    matrix products against opacus' einsum over tokens, and different fused kernels on the way back).
    A sum of n float32 terms is off by at most n·ε relative to the sum of their magnitudes; the longest
    sum on the backward path is the feed-forward width (1,536 for MiniLM), or the token count if longer,
    so ε·n = 1.8e-4 for MiniLM, applied to each example's gradient of each tensor relative to its norm
    (the bound holds for one sum, not for six layers of them nor under cancellation, but rounding
    errors add like a random walk, ~√n·ε; measured: 2.7e-6 at batch 32). A real disagreement (a
    missing token sum, a 1/B scale, a parameter without hooks) is of relative size 1.
    """
    from fedtheory.simulators.shared.minilm import backbone

    cfg = backbone(model).config
    return torch.finfo(torch.float32).eps * max(cfg.intermediate_size, cfg.hidden_size, max_length)


def _perturb_lora_b(model, seed: int = 0) -> None:
    """LoRA B ~ 0.05·N(0, 1): at peft's B = 0 every per-example gradient of A is exactly 0, which checks nothing."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen).to(p))


def hook_peer(batch: int, repeats: int, device: str) -> dict:
    """Our DP step's per-example gradients (opacus' hooks) against the torch.func reference and a plain step.

    One model (seed 0, LoRA B perturbed; LoRA on all six layers and the head trainable). First checks
    that :func:`~fedtheory.simulators.shared.minilm.hooked_per_example_grads` and
    :func:`~fedtheory.simulators.shared.minilm.per_example_grads` agree within :func:`hook_tolerance`,
    per example and per parameter tensor, relative to the norm of that example's tensor gradient, and
    raises SystemExit if not. Then times both against a plain non-private forward/backward (no optimizer
    step in any of the three), interleaved. Returns the check's numbers and the median seconds.
    """
    from fedtheory.simulators.shared import minilm as lt

    model = lt.load_lora_model(8, 16, seed=0, device=device)
    _perturb_lora_b(model)
    top = lt.TopModel(model, lt.first_adapted_layer(model))
    data = lt.prefix_features(model, top.start, batch, 1, 64)
    h, m, y = data["hidden"][:batch], data["mask"][:batch], data["labels"][:batch]
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    sub = {n: p.detach() for n, p in params.items()}
    tol = hook_tolerance(model, h.shape[1])

    ours, our_loss = lt.hooked_per_example_grads(top, params, h, m, y)
    ref, ref_loss = lt.per_example_grads(top, sub, h, m, y, with_loss=True)
    missing = [k for k in ref if ours.get(k) is None or ours[k].shape != ref[k].shape]
    if missing:
        raise SystemExit(f"opacus hooks gave no per-example gradient (or a wrong shape) for {missing}")
    max_abs, max_rel = 0.0, 0.0
    for k in ref:
        diff = (ours[k] - ref[k]).flatten(1).norm(dim=1)
        scale = ref[k].flatten(1).norm(dim=1).clamp_min(torch.finfo(torch.float32).tiny)
        max_rel = max(max_rel, float((diff / scale).max()))
        max_abs = max(max_abs, float((ours[k] - ref[k]).abs().max()))
    loss_rel = float(((our_loss - ref_loss).abs() / ref_loss.abs()).max())
    if not max_rel <= tol or not loss_rel <= tol:
        raise SystemExit(f"opacus hooks and torch.func disagree: per-example gradients off by {max_rel:.2e} and "
                         f"losses by {loss_rel:.2e} relative (tolerance {tol:.2e})")

    def plain():
        for p in params.values():
            p.grad = None
        loss = torch.nn.functional.cross_entropy(top(h, lt.mask4d(m, h.dtype)).float(), y)
        loss.backward()

    seconds = _time_interleaved({OURS_DP: lambda: lt.hooked_per_example_grads(top, params, h, m, y),
                                 REF_DP: lambda: lt.per_example_grads(top, sub, h, m, y, with_loss=True),
                                 PLAIN: plain}, repeats)
    return {"max_abs_diff": max_abs, "max_rel_diff": max_rel, "loss_max_rel_diff": loss_rel, "tolerance": tol,
            "seconds": seconds}


def peak_memory(clients: int) -> float:
    """Peak RSS (MB) of a 1-round federated run with ``clients`` clients, in a fresh process."""
    code = (
        "import resource, json;"
        "from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig, run_federated_lora;"
        f"run_federated_lora(FedLoRAConfig(n={clients}, rounds=1, local_steps=1, batch_size=8, max_length=64,"
        " train_examples=400, test_examples=50), seed=0);"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def hook_row(args: argparse.Namespace) -> dict:
    """Run :func:`hook_peer` and print its check, times and ratios; returns its numbers."""
    peer = hook_peer(args.batch, args.repeats, args.device)
    sec = peer["seconds"]
    plain, ours, ref = sec[PLAIN], sec[OURS_DP], sec[REF_DP]
    print(f"per-example gradients of LoRA (6 layers) + head, batch {args.batch} × 64 tokens, ours (opacus hooks) "
          f"against the torch.func reference: max |Δ| {peer['max_abs_diff']:.2e}, max relative "
          f"{peer['max_rel_diff']:.2e} per example and tensor, losses {peer['loss_max_rel_diff']:.2e} "
          f"(tolerance {peer['tolerance']:.2e})")
    print(f"median of {args.repeats}, interleaved ({args.device}):")
    for k, v in sec.items():
        print(f"  {k:48s} {v * 1000:8.1f} ms   ×{v / plain:5.2f} of plain")
    print(f"DP/plain: ours (hooks) ×{ours / plain:.2f} (aim ≤ 1.10), torch.func ×{ref / plain:.2f}; "
          f"ours take ×{ours / ref:.2f} the time of torch.func")
    return peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clients", type=int, nargs="*", default=[2, 8, 32])
    ap.add_argument("--only-hooks", action="store_true", help="only row 5: hooks against torch.func and a plain step")
    args = ap.parse_args(argv)
    if args.only_hooks:
        print(json.dumps({"hooks_peer": hook_row(args)}))
        return 0
    t = steps(args.batch, args.repeats, args.device)
    ref = t["plain transformers+peft"]
    print(f"one training step, batch {args.batch} × 64 tokens, median of {args.repeats} ({args.device}):")
    for k, v in t.items():
        print(f"  {k:38s} {v * 1000:8.1f} ms   ×{v / ref:5.2f} of plain")
    overhead = t["ours, no DP"] / ref - 1
    print(f"overhead of our step without DP: {overhead:+.1%} (aim ≤ +10%); per-example gradients cost "
          f"×{t['ours, DP (per-example grads)'] / t['ours, no DP']:.2f} of our non-private step")
    split = dp_split(args.batch, args.repeats, args.device)
    dp = t["ours, DP (per-example grads)"]
    print("the DP step's parts (and an evaluation of as many reviews):")
    for k, v in split.items():
        print(f"  {k:38s} {v * 1000:8.1f} ms   {v / dp:6.1%} of the DP step")
    peer = hook_row(args)
    mem = {k: peak_memory(k) for k in args.clients}
    print("peak RSS of a 1-round run by clients: " + ", ".join(f"K = {k}: {v:.0f} MB" for k, v in mem.items()))
    ks = sorted(mem)
    slope = (mem[ks[-1]] - mem[ks[0]]) / (ks[-1] - ks[0])
    print(f"growth {slope:.2f} MB per client (trainable state 74,498 floats = 0.30 MB per client)")
    print(json.dumps({"step_seconds": t, "dp_split_seconds": split, "peak_rss_mb": mem, "hooks_peer": peer}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
