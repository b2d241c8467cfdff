"""Activations and losses, named as in ``torch.nn.functional``.

Most are compositions of the primitive ops in :mod:`tinyae.ops`. Four are
primitives of their own *for numerical stability only*: ``sigmoid``,
``tanh``, ``softplus`` and ``log_sigmoid``. Composed naively from ``exp``
and ``log`` they overflow for large ``|x|`` (``exp(1e4) = inf``) and return
``nan`` or ``inf``; as primitives they evaluate ``exp(-|x|)`` only, so every
finite input gives a finite value and gradient. ``binary_cross_entropy_with_logits``
is then a stable composition of ``softplus``.
"""

from __future__ import annotations

from typing import Any

from tinyae import ops
from tinyae.tensor import Tensor, as_tensor

__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "log_sigmoid", "identity",
    "mse_loss", "binary_cross_entropy_with_logits", "dense", "ACTIVATIONS", "get_activation",
]


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``; derivative ``y sigmoid(-x)`` with ``y`` the output.

    ``y (1 - y)`` is the same number in exact arithmetic, but for large ``x``
    ``1 - y`` rounds to 0 (at ``x = 80`` in float32 it gives 0 instead of
    ``exp(-80)``); ``sigmoid(-x)`` keeps full relative precision.
    """
    k = x.backend.kernels
    out = Tensor._from_op(k.sigmoid(x.data), (x,), "sigmoid")

    def backward(g):
        x._accumulate(g * out.data * k.sigmoid(-x.data))
    out._backward = backward
    return out


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; derivative ``1 - y**2 = 4 e**2 / (1 + e**2)**2`` with ``e = exp(-|x|)``.

    The second form keeps full relative precision where ``y`` rounds to
    ``+-1`` (``|x| > 9`` in float32), where ``1 - y**2`` would give 0.
    """
    xp = x.backend.xp
    out = Tensor._from_op(xp.tanh(x.data), (x,), "tanh")

    def backward(g):
        e2 = xp.exp(-xp.abs(x.data)) ** 2
        x._accumulate(g * (4.0 * e2 / (1.0 + e2) ** 2))
    out._backward = backward
    return out


def softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))``; derivative ``sigmoid(x)``."""
    k = x.backend.kernels
    out = Tensor._from_op(k.softplus(x.data), (x,), "softplus")

    def backward(g):
        x._accumulate(g * k.sigmoid(x.data))
    out._backward = backward
    return out


def log_sigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``; derivative ``sigmoid(-x)``."""
    k = x.backend.kernels
    out = Tensor._from_op(k.log_sigmoid(x.data), (x,), "log_sigmoid")

    def backward(g):
        x._accumulate(g * k.sigmoid(-x.data))
    out._backward = backward
    return out


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``; the gradient at 0 is 0, as in PyTorch."""
    return ops.where(x.data > 0, x, 0.0)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return ops.where(x.data > 0, x, x * negative_slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    The negative branch sees ``min(x, 0)`` so ``exp`` never overflows on the
    positive inputs that ``where`` discards anyway.
    """
    negative = (ops.exp(ops.clip(x, max=0.0)) - 1.0) * alpha
    return ops.where(x.data > 0, x, negative)


def identity(x: Tensor) -> Tensor:
    """Returns ``x`` unchanged (the ``"linear"`` activation)."""
    return x


def dense(X: Tensor, W: Tensor, b: Tensor | None = None, activation: str = "linear") -> Tensor:
    """A fully connected layer ``activation(X @ W + b)`` as one fused op.

    Parameters
    ----------
    X : Tensor, shape (n_samples, n_in)
    W : Tensor, shape (n_in, n_out)
    b : Tensor, shape (n_out,), optional
    activation : str
        One of ``"linear"``, ``"relu"``, ``"sigmoid"``, ``"tanh"``,
        ``"leaky_relu"``, ``"elu"``, ``"softplus"`` (default parameters).

    Notes
    -----
    Equal to the composition ``act(X @ W + b)`` (the tests check it), but a
    primitive *for speed*: the backend adds the bias and applies the
    activation in one pass (``kernels.bias_act``), and the backward computes
    ``ga = g * act'(a)`` and the bias gradient ``sum_n ga`` in one pass
    (``kernels.act_grad_bias``) from the saved output ``y``. Then
    ``dX = ga W^T`` and ``dW = X^T ga`` go to BLAS.
    """
    Xd, Wd, bd = X.data, W.data, None if b is None else b.data
    if Xd.ndim != 2 or Wd.ndim != 2 or Xd.shape[1] != Wd.shape[0]:
        raise ValueError(f"dense: expected X (n, n_in) and W (n_in, n_out), got shapes {X.shape} and {W.shape}")
    if bd is not None and bd.shape != (Wd.shape[1],):
        raise ValueError(f"b: expected shape ({Wd.shape[1]},), got {bd.shape}")
    backend = X._backend
    if W._backend is not backend or (b is not None and b._backend is not backend):
        other = W if W._backend is not backend else b
        raise TypeError(f"operands: expected Tensors on one backend, got {X.backend.name} and {other.backend.name}")
    k = backend.kernels
    y = k.bias_act(Xd @ Wd, bd, activation)
    out = Tensor._from_op(y, (X, W) if b is None else (X, W, b), f"dense[{activation}]")

    def backward(g):
        ga, gb = k.act_grad_bias(y, g, activation)
        if X.requires_grad: X._accumulate(ga @ W.data.T, fresh=True)
        if W.requires_grad: W._accumulate(X.data.T @ ga, fresh=True)
        if b is not None and b.requires_grad: b._accumulate(gb, fresh=True)
    out._backward = backward
    return out


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")


def _check_input(input: Any) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"input: expected a Tensor, got {type(input).__name__}")


def _check_same_shape(input: Tensor, target: Tensor) -> None:
    # Broadcasting a (n, 1) prediction against an (n,) target silently builds an
    # (n, n) loss; refuse it rather than compute something else.
    if input.data.shape != target.data.shape:
        raise ValueError(f"target: expected shape {input.shape} (the input's), got {target.shape}")


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((input - target)**2)``.

    Parameters
    ----------
    input, target : Tensor of the same shape, e.g. ``(n_samples, n_features)``
    reduction : {'mean', 'sum', 'none'}
    """
    _check_input(input)
    target = as_tensor(target, like=input)
    _check_same_shape(input, target)
    if reduction == "mean" and input.data.dtype == target.data.dtype and not target.requires_grad:
        return _fused_loss(input, target, "mse_loss", input._backend.kernels.mse_value_grad)
    diff = input - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` in [0, 1].

    Notes
    -----
    ``-[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z``, which is exact
    and finite for every finite logit ``z``; its gradient is ``s(z) - y``.
    """
    _check_input(input)
    target = as_tensor(target, like=input)
    _check_same_shape(input, target)
    if reduction == "mean" and input.dtype == target.dtype and not target.requires_grad:
        return _fused_loss(input, target, "bce_with_logits", input.backend.kernels.bce_logits_value_grad)
    return _reduce(softplus(input) - target * input, reduction)


def _fused_loss(input: Tensor, target: Tensor, name: str, value_grad) -> Tensor:
    """A mean loss whose value and input-gradient one kernel computes together.

    The composite (e.g. ``mean((x - t)**2)``) takes four ops and four passes;
    the kernel takes one, and the backward only scales the saved gradient.
    Used only when the target needs no gradient (it is data); otherwise the
    callers compose the loss from primitives.
    """
    if target._backend is not input._backend:  # as ops._pair does for the composite path
        raise TypeError(
            f"operands: expected Tensors on one backend, got {input.backend.name} and {target.backend.name}; "
            "move one explicitly (e.g. Tensor(x.to_numpy()))"
        )
    return kernel_scalar(input, name, *value_grad(input.data, target.data))


def kernel_scalar(input: Tensor, name: str, value: float, grad: Any) -> Tensor:
    """A 0-d op on ``input`` whose value and input-gradient a kernel computed together.

    The fused losses above and the fused activity penalties
    (:mod:`tinyae.nn.penalties`) end here: the result holds ``value`` in
    ``input``'s dtype, and its backward scales the saved ``grad`` (same shape
    as ``input``) by the upstream gradient.
    """
    out = Tensor._from_op(input._backend.xp.asarray(value, dtype=input.data.dtype), (input,), name)

    def backward(g):
        input._accumulate(grad * g, fresh=True)
    out._backward = backward
    return out


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "softplus": softplus,
    "linear": identity,
    "identity": identity,
}


def get_activation(name: str):
    """Look up an activation function by name (``"linear"`` is the identity)."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}") from None
