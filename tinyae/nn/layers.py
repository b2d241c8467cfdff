"""Layers: ``Dense``, ``TiedDense``, ``Activation`` and ``Sequential``.

Weights are stored as ``W`` of shape ``(n_in, n_out)`` so a layer computes
``a = X @ W + b`` on a batch ``X`` of shape ``(n_samples, n_in)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyae.functional import dense, get_activation
from tinyae.nn.init import get_initializer
from tinyae.nn.module import Module, Parameter
from tinyae.tensor import Tensor

__all__ = ["Dense", "TiedDense", "Activation", "Sequential", "default_init"]


def default_init(activation: str) -> str:
    """He initialisation for ReLU-like units, Glorot otherwise."""
    return "he_normal" if activation in ("relu", "leaky_relu", "elu") else "glorot_uniform"


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _rng(rng: Any) -> np.random.Generator:
    if rng is not None and not isinstance(rng, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)) and (
            isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)) or rng < 0):
        raise TypeError(f"rng: expected None, a non-negative int seed or a numpy Generator, got {rng!r}")
    return np.random.default_rng(rng)


def _check_input(X: Any, n_in: int, layer: str) -> None:
    """``X`` must be a 2-D Tensor with ``n_in`` columns (a clear error before the matmul's)."""
    if not isinstance(X, Tensor):
        raise TypeError(f"X: expected a Tensor of shape (n_samples, {n_in}), got {type(X).__name__}; "
                        "wrap arrays with tinyae.Tensor(X)")
    shape = X.data.shape
    if len(shape) != 2 or shape[1] != n_in:
        raise ValueError(f"X: expected shape (n_samples, {n_in}) for {layer} with n_in={n_in}, got shape {X.shape}")


class Dense(Module):
    """Fully connected layer ``h = activation(X @ W + b)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    activation : str, default "linear"
        A name from :data:`tinyae.functional.ACTIVATIONS`.
    init : str, optional
        A name from :data:`tinyae.nn.init.INITIALISERS`; default He for
        ReLU-like activations, Glorot-uniform otherwise.
    bias : bool, default True
    rng : numpy.random.Generator or int, optional
        Source of the initial weights. ``None`` draws fresh entropy (not
        reproducible); pass a Generator or a seed for repeatable weights.
    dtype : {'float64', 'float32'}

    Attributes
    ----------
    W : Parameter, shape (n_in, n_out)
    b : Parameter, shape (n_out,), or None
    """

    def __init__(self, n_in: int, n_out: int, activation: str = "linear", init: str | None = None,
                 bias: bool = True, rng: np.random.Generator | int | None = None, dtype: Any = np.float64) -> None:
        self.n_in = _positive_int(n_in, "n_in")
        self.n_out = _positive_int(n_out, "n_out")
        self.activation = activation
        self._act = get_activation(activation)
        rng = _rng(rng)
        bias = _flag(bias, "bias")
        self.init = init or default_init(activation)
        self.W = Parameter(get_initializer(self.init)(self.n_in, self.n_out, rng), dtype=dtype)
        self.b = Parameter(np.zeros(self.n_out), dtype=dtype) if bias else None

    def pre_activation(self, X: Tensor) -> Tensor:
        """``X @ W + b``, shape (n_samples, n_out)."""
        a = X @ self.W
        return a + self.b if self.b is not None else a

    def forward(self, X: Tensor) -> Tensor:
        _check_input(X, self.n_in, "Dense")
        return dense(X, self.W, self.b, self.activation)

    def extra_repr(self) -> str:
        return f"{self.n_in} -> {self.n_out}, activation={self.activation!r}, init={self.init!r}"


class TiedDense(Module):
    """A decoder layer that reuses an encoder layer's weights transposed.

    Computes ``activation(X @ encoder.W.T + b)``. ``W`` *is* the encoder's
    Parameter, so ``parameters()`` lists it once and the gradients from the
    encoder and the decoder use add up in ``W.grad``.

    Parameters
    ----------
    encoder : Dense
        The layer whose ``W`` (shape ``(n_in, n_out)``) is shared.
    activation : str, default "linear"
    bias : bool, default True
        The decoder's own bias, shape ``(encoder.n_in,)``.
    """

    def __init__(self, encoder: Dense, activation: str = "linear", bias: bool = True) -> None:
        if not isinstance(encoder, Dense):
            raise TypeError(f"encoder: expected a Dense layer, got {type(encoder).__name__}")
        self.W = encoder.W
        self.n_in, self.n_out = encoder.n_out, encoder.n_in
        self.activation = activation
        self._act = get_activation(activation)
        self.b = Parameter(np.zeros(self.n_out), dtype=encoder.W.dtype) if _flag(bias, "bias") else None

    def pre_activation(self, X: Tensor) -> Tensor:
        a = X @ self.W.T
        return a + self.b if self.b is not None else a

    def forward(self, X: Tensor) -> Tensor:
        _check_input(X, self.n_in, "TiedDense")
        return dense(X, self.W.T, self.b, self.activation)

    def extra_repr(self) -> str:
        return f"{self.n_in} -> {self.n_out}, tied, activation={self.activation!r}"


class Activation(Module):
    """An activation function as a layer, e.g. ``Activation("tanh")``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._act = get_activation(name)

    def forward(self, X: Tensor) -> Tensor:
        return self._act(X)

    def extra_repr(self) -> str:
        return repr(self.name)


class Sequential(Module):
    """Layers applied in order: ``Sequential(Dense(...), Dense(...))``."""

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"layers[{i}]: expected a Module, got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, X: Tensor) -> Tensor:
        for layer in self.layers:
            X = layer.forward(X)  # Module.__call__ only forwards; skipping it saves a frame per layer
        return X

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)
