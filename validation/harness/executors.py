"""Executors: where units run. Serial (in this process), a local process pool, or Ray.

All three have one interface — :meth:`submit` a unit with its inputs, :meth:`wait` for the next one
to finish — and run every unit through :func:`fedtheory.validation.harness.units.execute`, which fixes torch's
thread count to the unit's ``num_cpus``, so the same seed gives the same numbers whichever runs it.
The driver process alone writes the results store; executors only compute.

- :class:`SerialExecutor`: one unit at a time, in this process.
- :class:`ProcessExecutor`: ``jobs`` worker processes (``spawn``: no state inherited from the
  driver); at most ``jobs`` CPUs' worth of units in flight. Workers are reused, so per-process caches
  (the tokenized reviews, MiniLM's frozen-prefix features) are built once per worker.
- :class:`RayExecutor`: every unit is a Ray task with the unit's ``num_cpus`` and ``num_gpus``, so
  Ray's scheduler places GPU units on GPU nodes; completion is read with ``ray.wait``. It connects to
  ``address`` (``auto``, or ``HOST:PORT``) or starts a local Ray instance with ``jobs`` CPUs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from fedtheory.validation.harness.units import Unit, execute

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor", "RayExecutor", "make_executor", "default_jobs",
           "timed_execute", "UnitCost"]

Inputs = Mapping[str, Mapping[str, np.ndarray]]


def default_jobs() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class UnitCost(NamedTuple):
    """What a unit cost: wall seconds, and the peak resident memory of its process while it ran (bytes).

    ``peak_rss`` is None where it cannot be measured (not Linux). On Linux the process's high-water mark
    is reset before the unit starts (``/proc/self/clear_refs``), so a reused worker reports this unit's
    peak, not an earlier unit's; it includes what the process held before the unit (the interpreter,
    imported libraries, per-process caches).
    """

    seconds: float
    peak_rss: int | None = None


_STATUS, _CLEAR_REFS = "/proc/self/status", "/proc/self/clear_refs"


def _reset_peak_rss() -> bool:
    try:
        with open(_CLEAR_REFS, "w") as fh:
            fh.write("5")  # 5: reset the peak RSS to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _peak_rss() -> int | None:
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return None


def timed_execute(u: Unit, inputs: Inputs | None) -> tuple[dict[str, np.ndarray], UnitCost]:
    """:func:`execute` and what it cost (:class:`UnitCost`; the store keeps it, benchmarks and ETAs read it)."""
    reset = _reset_peak_rss()
    t0 = time.perf_counter()
    out = execute(u, inputs)
    seconds = time.perf_counter() - t0
    return out, UnitCost(seconds, _peak_rss() if reset else None)


class Executor:
    """Interface: ``submit`` units, ``wait`` for finished ones; ``close`` when done."""

    name = "executor"

    def can_take(self, u: Unit) -> bool:
        """Whether ``u`` may be submitted now (more would only queue)."""
        return True

    def submit(self, u: Unit, inputs: Inputs | None = None) -> None:
        raise NotImplementedError

    def wait(self) -> tuple[Unit, dict[str, np.ndarray] | None, float, BaseException | None]:
        """Block until a submitted unit finishes: (unit, arrays or None, :class:`UnitCost`, error or None)."""
        raise NotImplementedError

    def running(self) -> list[Unit]:
        """Units submitted and not yet returned by :meth:`wait`."""
        raise NotImplementedError

    def resolve_device(self, device: str) -> str:
        """'cpu', 'cuda' or 'auto' (CUDA when this executor's machines have it)."""
        import torch

        return _check_device(device, torch.cuda.is_available())

    def close(self, cancel: bool = False) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(cancel=exc_type is not None)


def _check_device(device: str, has_cuda: bool) -> str:
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cuda" and not has_cuda:
        raise ValueError("device 'cuda' was asked for but no CUDA device is visible; use --device cpu")
    return device


class SerialExecutor(Executor):
    """Runs each unit in this process when it is waited for."""

    name = "serial"

    def __init__(self) -> None:
        self._queue: list[tuple[Unit, Inputs | None]] = []

    def can_take(self, u: Unit) -> bool:
        return not self._queue  # one at a time: inputs are loaded only for the unit about to run

    def submit(self, u: Unit, inputs: Inputs | None = None) -> None:
        self._queue.append((u, inputs))

    def running(self) -> list[Unit]:
        return [u for u, _ in self._queue[:1]]

    def wait(self):
        u, inputs = self._queue.pop(0)
        try:
            out, cost = timed_execute(u, inputs)
        except Exception as exc:  # noqa: BLE001 - reported to the runner with the unit's name
            return u, None, UnitCost(0.0), exc
        return u, out, cost, None

    def close(self, cancel: bool = False) -> None:
        self._queue.clear()


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops the workers
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class ProcessExecutor(Executor):
    """A pool of ``jobs`` spawned worker processes; at most ``jobs`` CPUs of units in flight."""

    name = "process"

    def __init__(self, jobs: int | None = None) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = default_jobs() if jobs is None else int(jobs)
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs!r}")
        self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                         initializer=_worker_init)
        self._futures: dict[Any, Unit] = {}

    def _busy(self) -> float:
        return sum(min(u.num_cpus, self.jobs) for u in self._futures.values())

    def can_take(self, u: Unit) -> bool:
        return not self._futures or self._busy() + min(u.num_cpus, self.jobs) <= self.jobs

    def submit(self, u: Unit, inputs: Inputs | None = None) -> None:
        self._futures[self._pool.submit(timed_execute, u, inputs)] = u

    def running(self) -> list[Unit]:
        return list(self._futures.values())

    def wait(self):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        fut = next(iter(done))
        u = self._futures.pop(fut)
        try:
            out, cost = fut.result()
        except Exception as exc:  # noqa: BLE001
            return u, None, UnitCost(0.0), exc
        return u, out, cost, None

    def close(self, cancel: bool = False) -> None:
        if cancel:
            procs = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # a unit may run for minutes: do not wait for it
                p.terminate()
            for p in procs:
                p.join(timeout=5)
        else:
            self._pool.shutdown(wait=True)
        self._futures.clear()


def _ray_execute(u: Unit, inputs: Inputs | None):
    return timed_execute(u, inputs)


class RayExecutor(Executor):
    """Each unit a Ray task with its ``num_cpus``/``num_gpus``; Ray's scheduler places it."""

    name = "ray"

    def __init__(self, address: str | None = None, jobs: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError("the Ray executor needs Ray: pip install -e '.[ray]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=default_jobs() if jobs is None else int(jobs), **kw)
        self._remote = ray.remote(_ray_execute)
        self._refs: dict[Any, Unit] = {}

    def resolve_device(self, device: str) -> str:
        return _check_device(device, self._ray.cluster_resources().get("GPU", 0) > 0)

    def submit(self, u: Unit, inputs: Inputs | None = None) -> None:
        ref = self._remote.options(num_cpus=u.num_cpus, num_gpus=u.num_gpus, name=u.label[:100],
                                   max_retries=0).remote(u, inputs)
        self._refs[ref] = u

    def running(self) -> list[Unit]:
        return list(self._refs.values())

    def wait(self):
        (ref,), _ = self._ray.wait(list(self._refs), num_returns=1)
        u = self._refs.pop(ref)
        try:
            out, cost = self._ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - RayTaskError wraps the unit's exception
            return u, None, UnitCost(0.0), getattr(exc, "cause", None) or exc
        return u, out, UnitCost(*cost), None

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._refs:
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()


def make_executor(executor: str = "local", jobs: int | None = None, ray_address: str | None = None) -> Executor:
    """``local`` (a process pool of ``jobs`` workers; in this process when ``jobs`` is 1), ``serial``, or ``ray``."""
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if executor == "serial" or (executor == "local" and (jobs or default_jobs()) == 1):
        return SerialExecutor()
    if executor == "local":
        return ProcessExecutor(jobs)
    if executor == "ray":
        return RayExecutor(ray_address, jobs)
    raise ValueError(f"executor must be 'local', 'serial' or 'ray', got {executor!r}")
