"""``Module`` and ``Parameter``: the containers every layer and model builds on.

A Module finds its parameters by looking at its attributes: ``Parameter``
attributes are its own, ``Module`` attributes (and lists of Modules) are
children. ``state_dict()`` names each parameter by its attribute path, e.g.
``"encoder.layers.0.W"``. A parameter reachable by two paths (a tied weight)
is listed once, under the first path.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from tinyae.backend import current_backend
from tinyae.tensor import Tensor

__all__ = ["Parameter", "Module"]


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad`` is always True.

    A Parameter is created on the *current* backend: under
    ``use_backend("cupy")`` its initial values (drawn on the CPU from the
    layer's rng, so every backend starts from the same weights) are copied to
    the GPU once, at construction -- the user asked for that backend.
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype)
        backend = current_backend()
        if not backend.owns(self.data):
            self.data = backend.xp.asarray(self.data)
            self._backend = backend

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


class Module:
    """Base class: subclasses set Parameters and sub-Modules in ``__init__``
    and compute their output in ``forward``.

    Attributes
    ----------
    training : bool
        True in training mode (noise is applied), False in eval mode.
    """

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- traversal --------------------------------------------------------
    def _children(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(path, parameter)`` pairs, each parameter once, in a fixed order."""
        seen: set[int] = set()
        stack: list[tuple[str, Any]] = [(prefix.rstrip("."), self)]
        order: list[tuple[str, Parameter]] = []
        while stack:
            path, node = stack.pop(0)
            for name, child in node._children():
                full = f"{path}.{name}" if path else name
                if isinstance(child, Parameter):
                    if id(child) not in seen:
                        seen.add(id(child))
                        order.append((full, child))
                else:
                    stack.append((full, child))
        return iter(order)

    def parameters(self) -> list[Parameter]:
        """Every trainable Parameter once (tied weights are not repeated)."""
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator[Module]:
        """This module and all sub-modules, depth first."""
        yield self
        for _, child in self._children():
            if isinstance(child, Module):
                yield from child.modules()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every sub-module."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (no input noise)."""
        return self.train(False)

    def n_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(p.size for p in self.parameters()))

    # -- state ------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter as NumPy arrays, keyed by attribute path."""
        return {name: p.to_numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays into this module's parameters (in place).

        Raises
        ------
        KeyError
            If a parameter is missing from ``state`` or ``state`` has extra keys.
        ValueError
            If an array's shape differs from the parameter's (nothing is copied then).
        """
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            raise KeyError(f"state: expected keys {sorted(own)}, missing {missing}, unexpected {extra}")
        values = {name: np.asarray(state[name]) for name in own}
        # Check every shape before copying anything, so a bad state leaves the module as it was.
        for name, p in own.items():
            if values[name].shape != p.shape:
                raise ValueError(f"state[{name!r}]: expected shape {p.shape}, got {values[name].shape}")
        for name, p in own.items():
            p.data[...] = p.backend.xp.asarray(values[name], dtype=p.dtype)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for name, child in self._children():
            if isinstance(child, Module):
                body = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {body}")
        if len(lines) == 1:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines.append(")")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return ""
