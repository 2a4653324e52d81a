"""Benchmark: one federated LoRA training step on MiniLM against a plain transformers + peft step.

Same batch (default 32 reviews × 64 tokens), same model (LoRA r = 8 on query/value of all six layers,
eval mode), same optimizer (AdamW):

1. reference: the plain transformers + peft step — ``model(input_ids, attention_mask)``, cross-entropy,
   backward, ``optimizer.step()``;
2. ours without DP: :func:`fedtheory.simulators.la_lora.federated_lora._local_step` on the cached embedding output
   (LoRA on every layer, so only the embeddings are cached) and the same optimizer step;
3. ours with DP: per-example gradients (torch.func), clipping and noise — the per-example cost, reported apart,
   and split into its parts (per-example gradients with the loss from the same forward, clipping,
   noise) next to the cost of evaluating the same number of reviews (one no-grad forward);
4. ours without DP with LoRA on the last layer only (the quick budgets' configuration, prefix cached).

It also measures peak resident memory of a short federated run for K clients (separate processes),
which must not grow with K beyond K copies of the trainable state (0.3 MB at r = 8).
Run: ``python -m bench.lora_transformer [--batch 32] [--repeats 5] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

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
    sub = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    gen = torch.Generator().manual_seed(0)
    g, _ = lt.per_example_grads(top, sub, h, m, y, with_loss=True)

    def clip():
        sq = sum(v.flatten(1).pow(2).sum(1) for v in g.values())
        factor = clip_factor(sq, 1.0)
        return {k: torch.einsum("b,b...->...", factor, v) for k, v in g.items()}

    summed = clip()

    def noise():
        return {k: noisy_mean(v, torch.randn(v.shape, generator=gen).to(v), 1.0, batch) for k, v in summed.items()}

    pos = torch.arange(batch, device=h.device)
    return {"per-example grads + loss": _time(lambda: lt.per_example_grads(top, sub, h, m, y, with_loss=True), repeats),
            "clipping": _time(clip, repeats), "noise": _time(noise, repeats),
            f"evaluation of {batch} reviews": _time(lambda: lt.correct(top, data, pos), repeats)}


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clients", type=int, nargs="*", default=[2, 8, 32])
    args = ap.parse_args(argv)
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
    mem = {k: peak_memory(k) for k in args.clients}
    print("peak RSS of a 1-round run by clients: " + ", ".join(f"K = {k}: {v:.0f} MB" for k, v in mem.items()))
    ks = sorted(mem)
    slope = (mem[ks[-1]] - mem[ks[0]]) / (ks[-1] - ks[0])
    print(f"growth {slope:.2f} MB per client (trainable state 74,498 floats = 0.30 MB per client)")
    print(json.dumps({"step_seconds": t, "dp_split_seconds": split, "peak_rss_mb": mem}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
