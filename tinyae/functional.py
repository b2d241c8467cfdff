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
    "mse_loss", "binary_cross_entropy_with_logits", "ACTIVATIONS", "get_activation",
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
    """Hyperbolic tangent; derivative ``1 - y**2`` from the output ``y``."""
    k = x.backend.kernels
    out = Tensor._from_op(x.backend.xp.tanh(x.data), (x,), "tanh")

    def backward(g):
        x._accumulate(k.tanh_backward(out.data, g))
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


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(input: Tensor, target: Tensor) -> None:
    # Broadcasting a (n, 1) prediction against an (n,) target silently builds an
    # (n, n) loss; refuse it rather than compute something else.
    if input.shape != target.shape:
        raise ValueError(f"target: expected shape {input.shape} (the input's), got {target.shape}")


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((input - target)**2)``.

    Parameters
    ----------
    input, target : Tensor of the same shape, e.g. ``(n_samples, n_features)``
    reduction : {'mean', 'sum', 'none'}
    """
    target = as_tensor(target, like=input)
    _check_same_shape(input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` in [0, 1].

    Notes
    -----
    ``-[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z``, which is exact
    and finite for every finite logit ``z``; its gradient is ``s(z) - y``.
    """
    target = as_tensor(target, like=input)
    _check_same_shape(input, target)
    return _reduce(softplus(input) - target * input, reduction)


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
