"""The reverse-mode autodiff ``Tensor``.

A Tensor wraps an array (``.data``) and, when it was produced by an op on
Tensors that require gradients, remembers its parents and a ``_backward``
closure. ``backward()`` visits the graph in reverse topological order and
calls each closure with the gradient of the node's output; the closure adds
its contribution to its parents' gradients (``+=``).

The primitive ops live in :mod:`tinyae.ops`, which installs them as Tensor
methods and operators, so this module stays about the graph itself.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

from tinyae.backend import Backend, backend_of

__all__ = ["Tensor", "no_grad", "enable_grad", "is_grad_enabled", "unbroadcast", "as_tensor"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """Whether new ops record the graph (False inside :func:`no_grad`)."""
    return _GradMode.enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context in which ops record no graph: results never require grad.

    Use it for inference and for parameter updates.
    """
    previous = _GradMode.enabled
    _GradMode.enabled = False
    try:
        yield
    finally:
        _GradMode.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context that turns graph recording back on inside :func:`no_grad`."""
    previous = _GradMode.enabled
    _GradMode.enabled = True
    try:
        yield
    finally:
        _GradMode.enabled = previous


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    Broadcasting prepends length-1 axes and repeats length-1 axes. The
    gradient of a repeated value is the sum over its copies, so we sum the
    prepended axes away and sum (keeping the axis) wherever ``shape`` has 1.

    Parameters
    ----------
    grad : array
        Gradient with the broadcast (output) shape.
    shape : tuple of int
        Shape of the operand before broadcasting.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _to_array(data: Any, dtype: Any, name: str) -> Any:
    """Validate and convert ``data`` to a float32/float64 array."""
    if isinstance(data, Tensor):
        raise TypeError(f"{name}: expected an array or number, got a Tensor (use .detach())")
    try:
        backend = backend_of(data)
        array = data
    except TypeError:
        backend = None
        if isinstance(data, (bool, np.bool_)) or (
            isinstance(data, (list, tuple)) and _has_bool(data)
        ):
            raise TypeError(f"{name}: expected numbers, got booleans") from None
        try:
            array = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name}: expected a numeric array-like, got {type(data).__name__}: {exc}") from None
    xp = (backend.xp if backend is not None else np)
    kind = array.dtype.kind
    if kind not in "fiu":
        raise TypeError(
            f"{name}: expected a real numeric dtype (float32/float64 or integer), got dtype {array.dtype}"
        )
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except (TypeError, ValueError):
            raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        return xp.asarray(array, dtype=dtype)
    if kind == "f":
        if array.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"{name}: expected float32 or float64, got {array.dtype}; pass dtype= to convert explicitly"
            )
        return array
    # Integers become float64: gradients need a float type, and float64 holds every int32 exactly.
    return xp.asarray(array, dtype=np.float64)


def _has_bool(seq: Any) -> bool:
    for item in seq:
        if isinstance(item, (list, tuple)):
            if _has_bool(item):
                return True
        elif isinstance(item, (bool, np.bool_)):
            return True
    return False


class Tensor:
    """An n-d float array that records the ops applied to it.

    Parameters
    ----------
    data : array_like
        Numbers. Float32 and float64 arrays are kept as they are (no copy);
        Python numbers, lists and integer arrays become float64. Anything
        else (bool, complex, strings, objects, float16) raises ``TypeError``.
        NaN and inf are accepted: they are values an array may hold (data are
        checked for them where they enter, in the estimators, the dataset
        generators and the command line; see docs/reliability.md).
    requires_grad : bool, default False
        Whether ``backward()`` should compute ``.grad`` for this Tensor.
    dtype : {None, 'float32', 'float64'}
        Convert to this dtype explicitly.

    Attributes
    ----------
    data : array
        The values (a NumPy array on the NumPy backend).
    grad : array or None
        The accumulated gradient, same shape and dtype as ``data``; set by
        ``backward()`` on leaves (and on any Tensor after ``retain_grad()``).
    requires_grad : bool
    op : str
        Name of the op that produced this Tensor ("" for leaves).

    Notes
    -----
    ``backward()`` *accumulates* into ``.grad``, as in PyTorch: call it twice
    and the gradients add. Clear them with ``zero_grad()``. After a backward
    pass the graph's saved arrays are released unless ``retain_graph=True``;
    a second backward through a released graph raises ``RuntimeError``.
    """

    __slots__ = (
        "data", "grad", "requires_grad", "op",
        "_parents", "_bw", "_retain", "_released", "_gbuf", "_backend", "__weakref__",
    )
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad: expected bool, got {type(requires_grad).__name__}")
        self.data = _to_array(data, dtype, "data")
        self._backend = backend_of(self.data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.op = ""
        self._parents: tuple[Tensor, ...] = ()
        self._bw: Callable[[Any], None] | None = None
        self._retain = False
        self._released = False
        self._gbuf = None

    # -- construction of op outputs ------------------------------------
    @classmethod
    def _from_op(cls, data: Any, parents: tuple[Tensor, ...], op: str) -> Tensor:
        """Wrap an op's result; record the graph only if some parent needs grad."""
        out = cls.__new__(cls)
        # NumPy ufuncs return scalars for 0-d inputs; keep .data an array.
        out.data = np.asarray(data) if isinstance(data, np.generic) else data
        out.grad = None
        out.op = op
        out._backend = parents[0]._backend
        out._retain = False
        out._released = False
        out._bw = None
        out._gbuf = None
        out.requires_grad = False
        out._parents = ()
        if _GradMode.enabled:
            for parent in parents:
                if parent.requires_grad:
                    out.requires_grad = True
                    out._parents = parents
                    break
        return out

    def _accumulate(self, grad: Any, fresh: bool = False) -> None:
        """Add ``grad`` to the gradient flowing into this node in the current pass.

        ``fresh=True`` promises that nothing else references ``grad`` (it was
        just computed), so the first contribution is adopted without a copy.
        """
        assert grad.shape == self.data.shape, (self.op, grad.shape, self.data.shape)
        if self._gbuf is None:
            if isinstance(grad, np.generic):  # NumPy reductions to 0-d return scalars
                grad, fresh = np.asarray(grad), True
            fresh = fresh and grad.dtype == self.data.dtype and grad.flags.writeable
            self._gbuf = grad if fresh else grad.astype(self.data.dtype, copy=True)
        else:
            self._gbuf += grad

    @property
    def _backward(self) -> Callable[[Any], None] | None:
        """The closure that pushes this node's gradient to its parents."""
        return self._bw

    @_backward.setter
    def _backward(self, fn: Callable[[Any], None] | None) -> None:
        # Ops attach a closure unconditionally; keep it only when a graph is
        # recorded, so results computed under no_grad do not keep inputs alive.
        self._bw = fn if self._parents else None

    # -- basic properties ------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def backend(self) -> Backend:
        """The backend this Tensor's ops run on (see :mod:`tinyae.backend`)."""
        return self._backend

    @property
    def is_leaf(self) -> bool:
        return not self._parents

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The Tensors this one was computed from (empty for leaves)."""
        return self._parents

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.to_numpy(), precision=4, threshold=8, edgeitems=2, separator=", ")
        body = body.replace("\n", "\n       ")
        extra = f", op={self.op!r}" if self.op else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.dtype}{extra}{grad})"

    # -- leaving the graph ------------------------------------------------
    def to_numpy(self) -> np.ndarray:
        """The values as a NumPy array (copies from the GPU if needed)."""
        data = self.data
        return data.get() if hasattr(data, "get") and not isinstance(data, np.ndarray) else np.asarray(data)

    def item(self) -> float:
        """The value of a one-element Tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item(): expected a Tensor with one element, got shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A new leaf sharing ``data`` that records no graph."""
        out = Tensor(self.data)
        out._backend = self._backend
        return out

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad = None``)."""
        self.grad = None

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf Tensor after ``backward()``."""
        self._retain = True
        return self

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf Tensors can change requires_grad")
        self.requires_grad = bool(flag)
        return self

    # -- the backward walk ------------------------------------------------
    def topological_order(self) -> list[Tensor]:
        """Nodes of the graph behind ``self``, each after all its parents."""
        return self._order(grad_only=False)

    def _order(self, grad_only: bool) -> list[Tensor]:
        """Post-order depth-first walk from ``self``; with ``grad_only`` it
        skips nodes that need no gradient (data, constants), which backward
        never visits. Each stack entry resumes its node's parent iterator, so
        a chain of any length works without touching Python's recursion limit.
        """
        order: list[Tensor] = []
        seen = {id(self)}
        stack = [(self, iter(self._parents))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if (parent.requires_grad or not grad_only) and id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append((parent, iter(parent._parents)))
                    break
            else:
                stack.pop()
                order.append(node)
        return order

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        Parameters
        ----------
        grad : array_like, optional
            The gradient of some scalar with respect to ``self``, same shape as
            ``self``. May be omitted only when ``self`` has one element (then 1).
        retain_graph : bool, default False
            Keep the saved arrays so ``backward()`` can run through this graph
            again. Otherwise they are released.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this Tensor does not require grad (no input had requires_grad=True)")
        xp = self._backend.xp
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"grad: expected an array of shape {self.shape} for a non-scalar output, got None"
                )
            grad = xp.ones(self.data.shape, dtype=self.data.dtype)  # not ones_like: a Python-level wrapper
        else:
            grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"grad: expected shape {self.shape}, got {grad.shape}")
        order = self._order(grad_only=True)
        try:
            self._accumulate(grad)
            self._sweep(order, retain_graph)
        except BaseException:
            # A backward closure raised: drop half-filled buffers so the next
            # backward does not add them in (a completed sweep leaves none).
            for node in order:
                node._gbuf = None
            raise

    @staticmethod
    def _sweep(order: list[Tensor], retain_graph: bool) -> None:
        # Each node's in-flight gradient (_gbuf) is complete once every node
        # after it in topological order has run, so one reverse sweep suffices.
        # Attributes are read directly (not through the is_leaf/_backward
        # properties): this loop is most of the engine's per-step overhead on
        # small models.
        for node in reversed(order):
            g, node._gbuf = node._gbuf, None
            if g is None:
                continue
            leaf = not node._parents
            if leaf or node._retain:
                if node.grad is None:
                    node.grad = g
                else:
                    node.grad += g
            if leaf:
                continue
            if node._released:
                raise RuntimeError(
                    "backward(): the graph was already released by an earlier backward(); "
                    "pass retain_graph=True to the first call to backward twice"
                )
            fn = node._bw
            if fn is None:
                raise RuntimeError(f"backward(): op {node.op!r} recorded no backward function")
            fn(g)
            if not retain_graph:
                node._bw = None
                node._released = True


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """Return ``value`` as a Tensor; numbers take ``like``'s dtype and backend."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    ):
        out = Tensor(like._backend.xp.asarray(value, dtype=like.dtype))
        out._backend = like._backend  # a constant joins its partner's backend
        return out
    out = Tensor(value)
    if like is not None and like._backend.owns(out.data):
        out._backend = like._backend
    return out
