"""Units of work: plain, picklable data that an executor runs and the results store keys by hash.

A :class:`Unit` names a module-level function (``"package.module:function"``), its keyword
arguments (plain JSON data), its own seeds, what it needs to run (``device``: ``any``, ``cpu`` or
``cuda``; ``num_cpus``; ``num_gpus``), a version, and the units whose results it takes as inputs.
Its :attr:`Unit.key` is a hash of exactly those — the function's qualified name, the arguments, the
seeds, the device where the result depends on it, the version and the keys of its inputs — so two
claims that need the same measurement share one stored result, and changing one claim does not
invalidate another's units.

:func:`execute` runs a unit anywhere (the driver, a pool worker, a Ray worker) with the same
numbers: it imports the function, runs it with the unit's ``num_cpus`` threads in torch and in the
BLAS/OpenMP pools of numpy and scipy (:func:`thread_limits`: the thread count changes the order of
floating-point reductions, so it is part of what a unit is), and converts the returned mapping to
numpy arrays.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["DEVICES", "Unit", "unit", "execute", "plain", "thread_limits", "topological"]

DEVICES = ("any", "cpu", "cuda")


def plain(x: Any, name: str = "value") -> Any:
    """``x`` as plain JSON data (dicts with str keys, lists, str, int, float, bool, None).

    Tuples become lists and numpy scalars and arrays Python numbers and lists, so that equal
    arguments hash equally however they were written. Anything else is a TypeError naming ``name``.
    """
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if not math.isfinite(v):
            raise TypeError(f"{name} must be finite plain data, got {v!r}")
        return v
    if isinstance(x, np.ndarray):
        return plain(x.tolist(), name)
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise TypeError(f"{name} must have str keys, got {k!r}")
            out[k] = plain(v, f"{name}[{k!r}]")
        return out
    if isinstance(x, (list, tuple)):
        return [plain(v, f"{name}[{i}]") for i, v in enumerate(x)]
    raise TypeError(f"{name} must be plain data (numbers, strings, lists, dicts), got {type(x).__name__}")


def _qualname(fn: Callable) -> str:
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not mod or "<" in qual or "." in qual:
        raise ValueError(f"a unit's function must be a module-level function, got {fn!r}")
    return f"{mod}:{qual}"


def _resolve(path: str) -> Callable:
    mod, _, qual = path.partition(":")
    return getattr(importlib.import_module(mod), qual)


@dataclass(frozen=True, eq=False)
class Unit:
    """One measurement: ``fn(**kwargs, seeds=..., device=..., **inputs)`` → dict of arrays.

    ``seeds`` and ``device`` are passed only to functions that take them; ``deps`` maps argument
    names to the units whose results (dicts of arrays) are passed under those names.
    """

    fn: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    device: str = "any"
    num_cpus: float = 1
    num_gpus: float = 0
    version: int = 1
    deps: tuple[tuple[str, "Unit"], ...] = ()
    label: str = ""
    cost: float = 1.0  # rough seconds on one core: the runner starts costly units first; not part of the key

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if not (self.num_cpus > 0 and self.num_gpus >= 0):
            raise ValueError(f"num_cpus must be > 0 and num_gpus >= 0, got {self.num_cpus}, {self.num_gpus}")
        if self.device == "cuda" and self.num_gpus == 0:
            object.__setattr__(self, "num_gpus", 1)

    @cached_property
    def key(self) -> str:
        """Hash of the function, arguments, seeds, device (where the result depends on it), version, inputs."""
        if self.device == "any":
            raise ValueError(f"unit {self.label or self.fn}: resolve its device before asking for its key")
        spec = {"fn": self.fn, "kwargs": self.kwargs, "seeds": list(self.seeds), "device": self.device,
                "version": self.version, "deps": [[n, u.key] for n, u in self.deps]}
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def spec(self) -> dict:
        """What the key hashes, as JSON data (stored beside the result)."""
        return {"fn": self.fn, "kwargs": self.kwargs, "seeds": list(self.seeds), "device": self.device,
                "version": self.version, "deps": {n: u.key for n, u in self.deps}, "label": self.label}

    def on(self, device: str) -> "Unit":
        """This unit (and its inputs) with ``any`` resolved to the run's ``device``."""
        deps = tuple((n, u.on(device)) for n, u in self.deps)
        dev = device if self.device == "any" else self.device
        return replace(self, device=dev, deps=deps)  # __post_init__ gives a CUDA unit its GPU

    def __repr__(self) -> str:
        return f"Unit({self.label or self.fn}, seeds={len(self.seeds)}, device={self.device})"


def unit(fn: Callable, *, seeds: Sequence[int] = (), device: str = "any", num_cpus: float = 1,
         num_gpus: float = 0, version: int = 1, deps: Mapping[str, Unit] | None = None, label: str = "",
         cost: float = 1.0, **kwargs: Any) -> Unit:
    """Declare a :class:`Unit` of the module-level function ``fn`` with plain-data ``kwargs``.

    Checks at declaration time that ``fn`` takes ``seeds`` when seeds are given, ``device`` when the
    unit may run on a GPU, and every input name of ``deps``; so a mistake fails before anything runs.
    """
    path = _qualname(fn)
    params = inspect.signature(fn).parameters
    deps = dict(deps or {})
    for name in [*kwargs, *deps]:
        if name not in params or params[name].kind not in (params[name].KEYWORD_ONLY,
                                                            params[name].POSITIONAL_OR_KEYWORD):
            raise TypeError(f"{path} takes no keyword argument {name!r}")
    seeds = tuple(int(s) for s in seeds)
    if seeds and "seeds" not in params:
        raise TypeError(f"{path} takes no 'seeds' but the unit has seeds")
    if device != "cpu" and "device" not in params:
        raise TypeError(f"{path} takes no 'device': declare the unit with device='cpu'")
    return Unit(fn=path, kwargs=plain(kwargs, f"{path} arguments"), seeds=seeds, device=device,
                num_cpus=num_cpus, num_gpus=num_gpus, version=int(version),
                deps=tuple(sorted(deps.items())), label=label or path.split(":")[1], cost=float(cost))


@contextlib.contextmanager
def thread_limits(n: int):
    """Run the block with ``n`` threads in torch's intra-op pool and in every native pool numpy and scipy use.

    The thread count changes the order of floating-point reductions (BLAS, FFTs, torch's reductions),
    so it is part of what a unit is: a pool worker, a Ray worker (which sets ``OMP_NUM_THREADS``) and
    the driver give the same bits only when all of them run the unit with the same count.
    """
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(old)


def execute(u: Unit, inputs: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> dict[str, np.ndarray]:
    """Run ``u`` here and return its arrays; ``inputs`` holds its dependencies' results by argument name."""
    fn = _resolve(u.fn)
    params = inspect.signature(fn).parameters
    kwargs = dict(u.kwargs)
    if "seeds" in params and u.seeds:
        kwargs["seeds"] = list(u.seeds)
    if "device" in params:
        kwargs["device"] = "cpu" if u.device == "any" else u.device
    for name, _ in u.deps:
        if inputs is None or name not in inputs:
            raise ValueError(f"unit {u.label}: its input {name!r} was not given")
        kwargs[name] = inputs[name]
    with thread_limits(max(1, int(u.num_cpus))):
        out = fn(**kwargs)
    if not isinstance(out, Mapping):
        raise TypeError(f"unit {u.label}: {u.fn} must return a dict of arrays, got {type(out).__name__}")
    arrays = {}
    for k, v in out.items():
        a = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        if not isinstance(k, str) or a.dtype == object:
            raise TypeError(f"unit {u.label}: {u.fn} returned {k!r} that is not a numeric or string array")
        arrays[k] = a
    return arrays


def topological(units: Sequence[Unit]) -> list[Unit]:
    """``units`` and all their inputs, each once (by key), every unit after the units it depends on."""
    order: list[Unit] = []
    seen: dict[str, int] = {}  # key -> 1 while visiting, 2 when placed

    def visit(u: Unit) -> None:
        state = seen.get(u.key)
        if state == 2:
            return
        if state == 1:  # pragma: no cover - keys hash their inputs, so a cycle cannot be built
            raise ValueError(f"dependency cycle through unit {u.label}")
        seen[u.key] = 1
        for _, d in u.deps:
            visit(d)
        seen[u.key] = 2
        order.append(u)

    for u in units:
        visit(u)
    return order
