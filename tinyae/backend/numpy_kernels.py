"""Plain NumPy elementwise kernels: the specification every backend matches.

Each function is written for clarity and numerical stability, not speed.
A Numba or CuPy backend supplies functions with the same names and
signatures, and the test-suite checks that they agree with these.

All functions are stable for every finite input: they never evaluate
``exp`` of a large positive number, so they raise no overflow warning and
return no NaN at ``|x| = 1e4`` in float64 or ``|x| = 80`` in float32.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``.

    Notes
    -----
    With ``e = exp(-|x|)`` (always in ``(0, 1]``)::

        sigmoid(x) = 1 / (1 + e)   for x >= 0
                   = e / (1 + e)   for x <  0
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` computed as ``max(x, 0) + log1p(exp(-|x|))``."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))``."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def tanh_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient of ``tanh`` from its output: ``g * (1 - y**2)``."""
    return g * (1.0 - y * y)


def sigmoid_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient of ``sigmoid`` from its output: ``g * y * (1 - y)``."""
    return g * y * (1.0 - y)
