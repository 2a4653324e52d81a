"""Benchmark: one federated LoRA step through FedPFT's proxy against one on the full model, same batch, one run.

Both models are all-MiniLM-L6-v2 with LoRA r = 8 on the four attention matrices of every layer (FedPFT's
attention-only LoRA); the proxy's FFNs of layers 1–4 keep 384 of 1,536 neurons by saliency
(:func:`fedtheory.simulators.fedpft.proxy_model.load_proxy`). A step: forward on a batch of fine-food
reviews, cross-entropy, backward, AdamW. The paper claims about half the computation (§3.6.1); the bench
prints the measured time ratio next to the FLOP ratio of the same step (``torch.utils.flop_counter``).
Run: ``python -m bench.fedpft [--batch 32] [--tokens 64] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from fedtheory.simulators.fedpft.proxy_model import load_proxy
from fedtheory.simulators.shared.minilm import tokenized


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    tok = tokenized(args.tokens)
    ids, mask = (torch.as_tensor(tok[k][: args.batch]) for k in ("input_ids", "attention_mask"))
    labels = torch.as_tensor(tok["labels"][: args.batch])
    models = {"full": load_proxy("full"), "proxy": load_proxy("saliency")}
    opts = {k: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3) for k, m in models.items()}

    def step(name: str) -> None:
        opts[name].zero_grad()
        torch.nn.functional.cross_entropy(models[name](input_ids=ids, attention_mask=mask).logits, labels).backward()
        opts[name].step()

    flops = {}
    for name in models:
        step(name)  # warm-up
        with FlopCounterMode(display=False) as fc:
            step(name)
        flops[name] = fc.get_total_flops()
    times = {name: [] for name in models}
    for _ in range(args.repeats):  # interleaved, so that drifts of the machine hit both alike
        for name in models:
            t = time.perf_counter()
            step(name)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"One LoRA step (r = 8, attention), batch {args.batch} × {args.tokens} tokens, median of {args.repeats}:")
    for name in models:
        print(f"  {name:6s} {med[name] * 1e3:8.1f} ms   {flops[name] / 1e9:8.2f} GFLOP")
    print(f"  proxy / full: time {med['proxy'] / med['full']:.3f}, FLOPs {flops['proxy'] / flops['full']:.3f} "
          "(the paper: about half with every middle layer compressed; here 4 of 6 layers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
