"""The placeholders behind :mod:`torchvision.datasets` and :mod:`torchvision.transforms` (the stand-in)."""

from __future__ import annotations

from typing import Any, Callable


class Placeholder:
    """What ``torchvision.<module>.<name>(...)`` builds in the stand-in: an object that raises when used."""

    def __init__(self, qualname: str, *args: Any, **kwargs: Any) -> None:
        self._qualname = qualname

    def _fail(self) -> RuntimeError:
        return RuntimeError(f"{self._qualname} is a stand-in (bench/peer_stubs): torchvision is not installed")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._fail()


def module_getattr(module: str) -> Callable[[str], Callable[..., Placeholder]]:
    """A PEP 562 ``__getattr__`` for ``module``: public names give a factory of :class:`Placeholder`."""

    def __getattr__(name: str) -> Callable[..., Placeholder]:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return lambda *args, **kwargs: Placeholder(f"{module}.{name}", *args, **kwargs)

    return __getattr__
