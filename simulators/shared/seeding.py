"""Random streams: one named stream per purpose, derived from a run's seed.

Every random draw of a simulator comes from a generator made here — :func:`generator` (torch) or
:func:`rng` (numpy) — from the run's ``seed`` and a ``purpose`` naming what the stream is for
("partition", "init", "batches", "noise:B", …). Streams of different purposes are independent, so
switching one off (a diagnostic that drops one factor's noise, an attack that draws nothing) leaves
every other draw unchanged: common random numbers across methods and settings of one seed.

Batched simulators keep the seed as the leading tensor dimension: :func:`generators` gives one
generator per seed and :func:`draw` stacks one draw from each, so each seed's numbers do not
depend on which other seeds run beside it.

Derivation: NumPy's :class:`~numpy.random.SeedSequence` with the seed as entropy and the purpose's
CRC-32 as spawn key, so a stream depends on (seed, purpose) only — not on the process, the executor,
or what ran before it.
"""

from __future__ import annotations

import zlib

import numpy as np

from fedtheory.theory._checks import check_scalar

__all__ = ["stream_seed", "generator", "generators", "draw", "rng"]


def stream_seed(seed: int, purpose: str) -> int:
    """The 63-bit seed of the stream ``purpose`` of run ``seed`` (an integer ≥ 0)."""
    seed = check_scalar("seed", seed, int, low=0)
    if not isinstance(purpose, str):
        raise TypeError(f"purpose must be a string, got {purpose!r} of type {type(purpose).__name__}")
    if not purpose:
        raise ValueError("purpose must be a non-empty string, got ''")
    lo, hi = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(purpose.encode()),)).generate_state(2)
    return (int(hi) << 31) ^ int(lo)  # < 2**63: what torch.Generator.manual_seed accepts


def generator(seed: int, purpose: str, device="cpu"):
    """A ``torch.Generator`` on ``device`` for the stream ``purpose`` of run ``seed``.

    CPU and CUDA generators seeded alike give different numbers; a simulator whose numbers must
    not depend on the device draws on the CPU and moves the draws.
    """
    import torch  # here, so that the data layer (numpy streams only) imports no torch

    return torch.Generator(device=device).manual_seed(stream_seed(seed, purpose))


def generators(seeds, purpose: str, device="cpu") -> list:
    """One ``torch.Generator`` per seed of ``seeds`` for the stream ``purpose`` (see :func:`generator`)."""
    return [generator(int(s), purpose, device) for s in seeds]


def draw(gens, sampler, shape, **kwargs):
    """``(S, *shape)``: ``sampler(shape, generator=g, **kwargs)`` from each of the S generators, stacked.

    The seed dimension of a batched simulator: draw ``s`` comes from seed ``s``'s own stream alone,
    so a run of seeds [3, 4] and a run of seed [4] give seed 4 the same numbers.
    ``sampler`` is ``torch.randn``, ``torch.rand`` or any function with that signature.
    """
    import torch

    return torch.stack([sampler(shape, generator=g, **kwargs) for g in gens])


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A numpy generator for the stream ``purpose`` of run ``seed``."""
    return np.random.default_rng(stream_seed(seed, purpose))
