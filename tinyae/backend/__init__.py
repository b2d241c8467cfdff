"""Array backends: where ops get their array module (``xp``) and kernels.

Every op asks the backend of its operands for two things:

* ``xp`` -- the NumPy-compatible array module (``numpy`` today; ``cupy`` later),
* ``kernels`` -- a namespace of elementwise functions whose plain NumPy versions
  in :mod:`tinyae.backend.numpy_kernels` are the specification that faster
  backends (Numba, CuPy) must match.

A backend is looked up from the *type of an array*, so a Tensor always knows
its backend and the engine never moves data between devices on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from tinyae.backend import numpy_kernels

__all__ = ["Backend", "backend_of", "get_backend", "register_backend", "available_backends"]


@dataclass(frozen=True)
class Backend:
    """A named pair of array module and kernel namespace.

    Parameters
    ----------
    name : str
        Short name, e.g. ``"numpy"``.
    xp : module
        The array module (``numpy`` or a NumPy-compatible module).
    kernels : module or object
        Elementwise kernels with the same signatures as
        :mod:`tinyae.backend.numpy_kernels`.
    array_type : type
        The array class this backend owns; used to find a Tensor's backend.
    """

    name: str
    xp: ModuleType
    kernels: Any
    array_type: type

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


_REGISTRY: dict[str, Backend] = {}
_BY_TYPE: dict[type, Backend] = {}


def register_backend(backend: Backend) -> None:
    """Make ``backend`` known by name and by the array type it owns."""
    _REGISTRY[backend.name] = backend
    _BY_TYPE[backend.array_type] = backend


register_backend(Backend("numpy", np, numpy_kernels, np.ndarray))


def available_backends() -> list[str]:
    """Names of the registered backends."""
    return list(_REGISTRY)


def get_backend(name: str = "numpy") -> Backend:
    """Return the registered backend called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"backend: expected one of {sorted(_REGISTRY)}, got {name!r}"
        ) from None


def backend_of(array: Any) -> Backend:
    """Return the backend that owns ``array`` (by its type)."""
    backend = _BY_TYPE.get(type(array))
    if backend is None:  # subclasses such as np.memmap
        backend = next((_BY_TYPE[t] for t in type(array).__mro__ if t in _BY_TYPE), None)
    if backend is None:
        raise TypeError(
            f"array: expected one of {[t.__name__ for t in _BY_TYPE]}, "
            f"got {type(array).__name__}"
        )
    return backend
