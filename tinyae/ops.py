"""Primitive ops: each forward and its backward side by side.

Every op follows one pattern::

    def op(a, b):
        out = Tensor._from_op(<forward on arrays>, (a, b), "op")
        def backward(g):                      # g = d(loss)/d(out)
            if a.requires_grad: a._accumulate(<d(loss)/d(a)>)
            ...
        out._backward = backward
        return out

The backward closure uses only ``g`` and arrays the forward saved (by
closing over them); operands that were broadcast get their gradient summed
back with :func:`tinyae.tensor.unbroadcast`. The math behind every backward
is derived in ``docs/autodiff.md``.

This module installs the ops as Tensor operators and methods at import.
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from tinyae.tensor import Tensor, as_tensor, unbroadcast

__all__ = [
    "add", "sub", "mul", "div", "neg", "matmul", "pow",
    "sum", "mean", "max", "reshape", "transpose", "getitem", "concatenate",
    "exp", "log", "sqrt", "abs", "clip", "maximum", "minimum", "where",
]


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Coerce two operands to Tensors; numbers take the other operand's dtype."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"operands: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    if a._backend is not b._backend:
        raise TypeError(
            f"operands: expected Tensors on one backend, got {a.backend.name} and {b.backend.name}; "
            "move one explicitly (e.g. Tensor(x.to_numpy()))"
        )
    return a, b


def _axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Normalise ``axis`` to a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or not -ndim <= ax < builtins.max(ndim, 1):
            raise ValueError(f"axis: expected integers in [{-ndim}, {ndim}), got {axis!r}")
        out.append(int(ax) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis: expected distinct axes, got {axis!r}")
    return tuple(sorted(out))


# -- arithmetic ---------------------------------------------------------

def add(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    out = Tensor._from_op(a.data + b.data, (a, b), "add")

    def backward(g):
        if a.requires_grad: a._accumulate(unbroadcast(g, a.shape))
        if b.requires_grad: b._accumulate(unbroadcast(g, b.shape))
    out._backward = backward
    return out


def sub(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    out = Tensor._from_op(a.data - b.data, (a, b), "sub")

    def backward(g):
        if a.requires_grad: a._accumulate(unbroadcast(g, a.shape))
        if b.requires_grad: b._accumulate(unbroadcast(-g, b.shape))
    out._backward = backward
    return out


def mul(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    out = Tensor._from_op(a.data * b.data, (a, b), "mul")

    def backward(g):
        if a.requires_grad: a._accumulate(unbroadcast(g * b.data, a.shape), fresh=True)
        if b.requires_grad: b._accumulate(unbroadcast(g * a.data, b.shape), fresh=True)
    out._backward = backward
    return out


def div(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    out = Tensor._from_op(a.data / b.data, (a, b), "div")

    def backward(g):
        if a.requires_grad: a._accumulate(unbroadcast(g / b.data, a.shape))
        if b.requires_grad: b._accumulate(unbroadcast(-g * out.data / b.data, b.shape))
    out._backward = backward
    return out


def neg(a: Tensor) -> Tensor:
    out = Tensor._from_op(-a.data, (a,), "neg")

    def backward(g):
        a._accumulate(-g)
    out._backward = backward
    return out


def pow(a: Tensor, p: float) -> Tensor:
    """``a ** p`` for a real scalar exponent ``p``."""
    if isinstance(p, Tensor) or not isinstance(p, (int, float, np.integer, np.floating)) or isinstance(p, bool):
        raise TypeError(f"exponent: expected a real number, got {type(p).__name__}")
    p = float(p)
    out = Tensor._from_op(a.data ** p, (a,), "pow")

    def backward(g):
        if p == 0.0:  # d/dx x**0 = 0 everywhere, also at x = 0 where x**-1 is inf
            a._accumulate(a.backend.xp.zeros_like(a.data), fresh=True)
            return
        a._accumulate(g * p * a.data ** (p - 1.0), fresh=True)
    out._backward = backward
    return out


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batched stacks)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: expected operands with at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: inner dimensions differ, got shapes {a.shape} and {b.shape}")
    out = Tensor._from_op(a.data @ b.data, (a, b), "matmul")

    def backward(g):
        # Promote 1-D operands to matrices so one pair of formulas covers all cases.
        A = a.data if a.ndim > 1 else a.data[None, :]
        B = b.data if b.ndim > 1 else b.data[:, None]
        G = g
        if b.ndim == 1: G = G[..., None]  # first, so a 0-d g (1-D @ 1-D) gains an axis before [..., None, :]
        if a.ndim == 1: G = G[..., None, :]
        if a.requires_grad:
            a._accumulate(unbroadcast(G @ B.swapaxes(-1, -2), A.shape).reshape(a.shape), fresh=True)
        if b.requires_grad:
            b._accumulate(unbroadcast(A.swapaxes(-1, -2) @ G, B.shape).reshape(b.shape), fresh=True)
    out._backward = backward
    return out


# -- reductions ---------------------------------------------------------

def _expand(g: Any, axes: tuple[int, ...], keepdims: bool, shape: tuple[int, ...]) -> Any:
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return g


def sum(a: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    axes = _axes(axis, a.ndim)
    out = Tensor._from_op(a.data.sum(axis=axes, keepdims=keepdims), (a,), "sum")

    def backward(g):
        a._accumulate(a.backend.xp.broadcast_to(_expand(g, axes, keepdims, a.shape), a.shape))
    out._backward = backward
    return out


def mean(a: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Composite: ``sum / count``."""
    axes = _axes(axis, a.ndim)
    count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
    if count == 0:
        raise ValueError(f"mean: expected a non-empty reduction, got shape {a.shape} with axis={axis!r}")
    return sum(a, axes, keepdims) * (1.0 / count)


def max(a: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    if a.size == 0:
        raise ValueError(f"max: expected a non-empty Tensor, got shape {a.shape}")
    axes = _axes(axis, a.ndim)
    m = a.data.max(axis=axes, keepdims=True)
    out = Tensor._from_op(m if keepdims else m.reshape([n for i, n in enumerate(a.shape) if i not in axes]), (a,), "max")

    def backward(g):
        hit = a.data == m
        a._accumulate(_expand(g, axes, keepdims, a.shape) * (hit / hit.sum(axis=axes, keepdims=True)).astype(a.dtype))
    out._backward = backward
    return out


# -- shape ops ----------------------------------------------------------

def reshape(a: Tensor, *shape: Any) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        data = a.data.reshape(shape)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"shape: cannot reshape {a.shape} to {shape}: {exc}") from None
    out = Tensor._from_op(data, (a,), "reshape")

    def backward(g):
        a._accumulate(g.reshape(a.shape))
    out._backward = backward
    return out


def transpose(a: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them when none are given)."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if any(not isinstance(x, (int, np.integer)) or not -a.ndim <= x < a.ndim for x in axes):
        raise ValueError(f"axes: expected integers in [{-a.ndim}, {a.ndim}), got {axes!r}")
    perm = tuple(range(a.ndim))[::-1] if not axes else tuple(int(x) % a.ndim for x in axes)
    if sorted(perm) != list(range(a.ndim)):
        raise ValueError(f"axes: expected a permutation of {list(range(a.ndim))}, got {axes!r}")
    out = Tensor._from_op(a.data.transpose(perm), (a,), "transpose")

    def backward(g):
        a._accumulate(g.transpose(np.argsort(perm)))
    out._backward = backward
    return out


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def getitem(a: Tensor, index: Any) -> Tensor:
    """Indexing and slicing; advanced (array) indices may repeat elements."""
    if isinstance(index, Tensor):
        index = index.data
    out = Tensor._from_op(a.data[index], (a,), "getitem")

    def backward(g):
        xp = a.backend.xp
        full = xp.zeros_like(a.data)
        if _is_basic_index(index):
            full[index] = g  # basic slices select each element at most once
        else:
            xp.add.at(full, index, g)  # advanced indices may repeat: sum the copies
        a._accumulate(full)
    out._backward = backward
    return out


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise ValueError(f"tensors: expected a non-empty list of Tensors, got {tensors!r}")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    ts = [as_tensor(t, like=like) for t in tensors]  # arrays join the Tensors' backend, as in _pair
    for t in ts[1:]:
        if t._backend is not ts[0]._backend:
            raise TypeError(
                f"tensors: expected Tensors on one backend, got {ts[0].backend.name} and {t.backend.name}; "
                "move one explicitly (e.g. Tensor(x.to_numpy()))"
            )
    xp = ts[0].backend.xp
    data = xp.concatenate([t.data for t in ts], axis=axis)
    out = Tensor._from_op(data, tuple(ts), "concatenate")
    ax = axis % data.ndim
    bounds = np.cumsum([t.shape[ax] for t in ts])[:-1]

    def backward(g):
        for t, piece in zip(ts, xp.split(g, bounds, axis=ax)):
            if t.requires_grad: t._accumulate(piece)
    out._backward = backward
    return out


# -- elementwise math ---------------------------------------------------

def exp(a: Tensor) -> Tensor:
    out = Tensor._from_op(a.backend.xp.exp(a.data), (a,), "exp")

    def backward(g):
        a._accumulate(g * out.data)
    out._backward = backward
    return out


def log(a: Tensor) -> Tensor:
    out = Tensor._from_op(a.backend.xp.log(a.data), (a,), "log")

    def backward(g):
        a._accumulate(g / a.data)
    out._backward = backward
    return out


def sqrt(a: Tensor) -> Tensor:
    out = Tensor._from_op(a.backend.xp.sqrt(a.data), (a,), "sqrt")

    def backward(g):
        a._accumulate(g * 0.5 / out.data)
    out._backward = backward
    return out


def abs(a: Tensor) -> Tensor:
    """``|a|``; the gradient at 0 is 0 (the subgradient PyTorch uses)."""
    xp = a.backend.xp
    out = Tensor._from_op(xp.abs(a.data), (a,), "abs")

    def backward(g):
        a._accumulate(g * xp.sign(a.data))
    out._backward = backward
    return out


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp to ``[min, max]``; the gradient passes where ``min <= a <= max``."""
    if min is None and max is None:
        raise ValueError("clip: expected at least one of min, max, got neither")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: expected min <= max, got min={min}, max={max}")
    xp = a.backend.xp
    out = Tensor._from_op(xp.clip(a.data, min, max), (a,), "clip")

    def backward(g):
        inside = xp.ones(a.shape, dtype=bool)
        if min is not None: inside &= a.data >= min
        if max is not None: inside &= a.data <= max
        a._accumulate(g * inside)
    out._backward = backward
    return out


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; where ``a == b`` each operand gets half the gradient."""
    a, b = _pair(a, b)
    xp = a.backend.xp
    out = Tensor._from_op(xp.maximum(a.data, b.data), (a, b), "maximum")

    def backward(g):
        share = ((a.data > b.data) + 0.5 * (a.data == b.data)).astype(g.dtype)  # weight of a
        if a.requires_grad: a._accumulate(unbroadcast(g * share, a.shape))
        if b.requires_grad: b._accumulate(unbroadcast(g * (1.0 - share), b.shape))
    out._backward = backward
    return out


def minimum(a: Any, b: Any) -> Tensor:
    """Composite: ``-maximum(-a, -b)``."""
    a, b = _pair(a, b)
    return neg(maximum(neg(a), neg(b)))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick ``a`` where ``condition`` is true, else ``b`` (condition gets no gradient)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    a, b = _pair(a, b)
    xp = a.backend.xp
    condition = xp.asarray(condition)
    if condition.dtype != bool:
        raise TypeError(f"condition: expected a boolean array, got dtype {condition.dtype}")
    out = Tensor._from_op(xp.where(condition, a.data, b.data), (a, b), "where")

    def backward(g):
        if a.requires_grad: a._accumulate(unbroadcast(xp.where(condition, g, 0), a.shape))
        if b.requires_grad: b._accumulate(unbroadcast(xp.where(condition, 0, g), b.shape))
    out._backward = backward
    return out


# -- install as operators and methods -----------------------------------

def _install() -> None:
    T = Tensor
    T.__add__ = add
    T.__radd__ = lambda self, other: add(other, self)
    T.__sub__ = sub
    T.__rsub__ = lambda self, other: sub(other, self)
    T.__mul__ = mul
    T.__rmul__ = lambda self, other: mul(other, self)
    T.__truediv__ = div
    T.__rtruediv__ = lambda self, other: div(other, self)
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__pow__ = pow
    T.__neg__ = neg
    T.__getitem__ = getitem
    # Comparisons give plain boolean arrays: masks for where(), never differentiated.
    T.__lt__ = lambda self, other: self.data < (other.data if isinstance(other, Tensor) else other)
    T.__le__ = lambda self, other: self.data <= (other.data if isinstance(other, Tensor) else other)
    T.__gt__ = lambda self, other: self.data > (other.data if isinstance(other, Tensor) else other)
    T.__ge__ = lambda self, other: self.data >= (other.data if isinstance(other, Tensor) else other)
    for name in ("sum", "mean", "max", "reshape", "transpose", "exp", "log", "sqrt", "abs", "clip"):
        setattr(T, name, globals()[name])
    T.T = property(lambda self: transpose(self))


_install()
