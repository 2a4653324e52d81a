"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], repeats: int, device: str = "cpu") -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls of ``fn`` (seconds; the least disturbed by other work) and the last
    call's result. On a CUDA ``device`` each call is timed to the end of its kernels."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if str(device).startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out
