"""Random streams: one named stream per purpose, derived from a run's seed.

Every random draw of a simulator comes from a generator made here — :func:`generator` (torch) or
:func:`rng` (numpy) — from the run's ``seed`` and a ``purpose`` naming what the stream is for
("partition", "init", "batches", "noise:B", …). Streams of different purposes are independent, so
switching one off (a diagnostic that drops one factor's noise, an attack that draws nothing) leaves
every other draw unchanged: common random numbers across methods and settings of one seed.

Derivation: NumPy's :class:`~numpy.random.SeedSequence` with the seed as entropy and the purpose's
CRC-32 as spawn key, so a stream depends on (seed, purpose) only — not on the process, the executor,
or what ran before it.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["stream_seed", "generator", "rng"]


def stream_seed(seed: int, purpose: str) -> int:
    """The 63-bit seed of the stream ``purpose`` of run ``seed`` (an integer ≥ 0)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not isinstance(purpose, str) or not purpose:
        raise ValueError(f"purpose must be a non-empty string, got {purpose!r}")
    lo, hi = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(purpose.encode()),)).generate_state(2)
    return (int(hi) << 31) ^ int(lo)  # < 2**63: what torch.Generator.manual_seed accepts


def generator(seed: int, purpose: str, device="cpu"):
    """A ``torch.Generator`` on ``device`` for the stream ``purpose`` of run ``seed``.

    CPU and CUDA generators seeded alike give different numbers; a simulator whose numbers must
    not depend on the device draws on the CPU and moves the draws.
    """
    import torch  # here, so that the data layer (numpy streams only) imports no torch

    return torch.Generator(device=device).manual_seed(stream_seed(seed, purpose))


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A numpy generator for the stream ``purpose`` of run ``seed``."""
    return np.random.default_rng(stream_seed(seed, purpose))
