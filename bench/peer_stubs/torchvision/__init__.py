"""A stand-in for torchvision, on ``PYTHONPATH`` for the peer benchmark only (``make bench-peers``).

``import byzfl`` imports ``byzfl.benchmark.train``, which runs ``from torchvision import datasets,
transforms`` and builds a few ``transforms.Compose`` pipelines at import time. The peer benchmark uses
ByzFL's aggregators and attacks only, and torchvision from PyPI would pull a CUDA torch over the CPU
one. Every public name of the two submodules is a placeholder: it can be built (so the import
succeeds) but using what it builds raises.
"""

from . import datasets, transforms

__all__ = ["datasets", "transforms"]
