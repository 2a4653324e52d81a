"""Stand-in for ``torchvision.datasets``: every public name is a placeholder (see the package docstring)."""

from ._placeholder import module_getattr

__getattr__ = module_getattr("torchvision.datasets")
