"""Array backends: where ops get their array module (``xp``) and kernels.

Every op asks the backend of its operands for two things:

* ``xp`` -- the NumPy-compatible array module (``numpy`` or ``cupy``),
* ``kernels`` -- elementwise and fused functions whose plain NumPy versions
  in :mod:`tinyae.backend.numpy_kernels` are the specification that the
  Numba and CuPy kernels must match.

Three backends exist: ``"numpy"`` (the readable reference), ``"numba"``
(NumPy arrays, compiled CPU kernels) and ``"cupy"`` (GPU arrays). Choose one
with :func:`set_backend`, the :func:`use_backend` context or the
``TINYAE_BACKEND`` environment variable; the default is Numba where it
imports, else NumPy. CuPy is used only when asked for.

A Tensor remembers its backend. A CuPy array always belongs to the CuPy
backend; a NumPy array to the current backend if that runs on the CPU, else
to the default CPU backend -- the engine never copies between CPU and GPU
behind the user's back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterator

import numpy as np

from tinyae.backend import numpy_kernels

__all__ = [
    "Backend", "backend_of", "get_backend", "set_backend", "use_backend", "current_backend",
    "available_backends", "default_backend_name", "BACKEND_NAMES",
]

BACKEND_NAMES = ("numpy", "numba", "cupy")


@dataclass(frozen=True)
class Backend:
    """A named pair of array module and kernel namespace.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"numba"`` or ``"cupy"``.
    xp : module
        The array module.
    kernels : module
        Functions with the names and signatures of :mod:`tinyae.backend.numpy_kernels`.
    device : str
        ``"cpu"`` or ``"gpu"``.
    """

    name: str
    xp: ModuleType
    kernels: Any
    device: str

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    def __reduce__(self):
        # Pickle (used by scikit-learn's clone/joblib, never by tinyae's own
        # checkpoints) stores the name; unpickling looks the backend up again.
        return (_load, (self.name,))

    def owns(self, array: Any) -> bool:
        """Whether ``array`` lives where this backend computes."""
        if self.device == "gpu":
            return type(array).__module__.startswith("cupy")
        return isinstance(array, (np.ndarray, np.generic))


_LOADED: dict[str, Backend] = {"numpy": Backend("numpy", np, numpy_kernels, "cpu")}
_FAILED: dict[str, str] = {}


class _State:
    current: Backend | None = None


def _load(name: str) -> Backend:
    if name in _LOADED:
        return _LOADED[name]
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend: expected one of {list(BACKEND_NAMES)}, got {name!r}")
    if name in _FAILED:
        raise RuntimeError(f"backend {name!r} is not available: {_FAILED[name]}")
    try:
        if name == "numba":
            kernels = importlib.import_module("tinyae.backend.numba_kernels")
            backend = Backend("numba", np, kernels, "cpu")
        else:
            import cupy  # noqa: F401  (fails here without CUDA)

            cupy.cuda.runtime.getDeviceCount()
            kernels = importlib.import_module("tinyae.backend.cupy_kernels")
            backend = Backend("cupy", cupy, kernels, "gpu")
    except Exception as exc:  # ImportError, CUDA errors: report them by name
        _FAILED[name] = f"{type(exc).__name__}: {exc}"
        raise RuntimeError(f"backend {name!r} is not available: {_FAILED[name]}") from exc
    _LOADED[name] = backend
    return backend


def available_backends() -> list[str]:
    """Names of the backends that load on this machine (tries each once)."""
    names = []
    for name in BACKEND_NAMES:
        try:
            _load(name)
            names.append(name)
        except RuntimeError:
            pass
    return names


def default_backend_name() -> str:
    """``TINYAE_BACKEND`` if set, else ``"numba"`` where it imports, else ``"numpy"``."""
    env = os.environ.get("TINYAE_BACKEND", "").strip().lower()
    if env:
        if env not in BACKEND_NAMES:
            raise ValueError(f"TINYAE_BACKEND: expected one of {list(BACKEND_NAMES)}, got {env!r}")
        return env
    try:
        _load("numba")
        return "numba"
    except RuntimeError:
        return "numpy"


def current_backend() -> Backend:
    """The backend new Tensors use (set on first use from :func:`default_backend_name`)."""
    if _State.current is None:
        _State.current = _load(default_backend_name())
    return _State.current


def get_backend(name: str | None = None) -> Backend:
    """The backend called ``name`` (the current one when ``name`` is None)."""
    return current_backend() if name is None else _load(name)


def set_backend(name: str) -> Backend:
    """Make ``name`` the backend of new Tensors and return it.

    Raises
    ------
    ValueError
        For an unknown name.
    RuntimeError
        When the backend cannot load here (e.g. CuPy without a CUDA GPU).
    """
    _State.current = _load(name)
    return _State.current


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """``with use_backend("numpy"): ...`` -- the backend for the block only."""
    previous = _State.current
    backend = set_backend(name)
    try:
        yield backend
    finally:
        _State.current = previous


def backend_of(array: Any) -> Backend:
    """The backend a new Tensor holding ``array`` belongs to.

    CuPy arrays belong to the CuPy backend; NumPy arrays to the current
    backend if it is a CPU one, else to the default CPU backend.
    """
    if isinstance(array, (np.ndarray, np.generic)):
        current = current_backend()
        if current.device == "cpu":
            return current
        return _load("numba") if "numba" in _LOADED else _LOADED["numpy"]
    if type(array).__module__.startswith("cupy"):
        return _load("cupy")
    raise TypeError(f"array: expected a NumPy or CuPy array, got {type(array).__name__}")
