"""Weight initialisers for a weight matrix of shape ``(fan_in, fan_out)``.

Each takes ``(fan_in, fan_out, rng, dtype)`` and returns a NumPy array.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["glorot_uniform", "glorot_normal", "he_normal", "lecun_normal", "ufldl_uniform", "INITIALISERS", "get_initializer"]


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010): Var = 2 / (fan_in + fan_out)."""
    r = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-r, r, size=(fan_in, fan_out)).astype(dtype)


def glorot_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out))."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """N(0, 2 / fan_in) (He et al. 2015), for ReLU layers."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """N(0, 1 / fan_in) (LeCun et al. 1998)."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(1.0 / fan_in)).astype(dtype)


def ufldl_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """U(-r, r) with r = sqrt(6 / (fan_in + fan_out + 1)), as in the UFLDL sparse-autoencoder exercise."""
    r = np.sqrt(6.0 / (fan_in + fan_out + 1))
    return rng.uniform(-r, r, size=(fan_in, fan_out)).astype(dtype)


INITIALISERS: dict[str, Callable[..., np.ndarray]] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "lecun_normal": lecun_normal,
    "ufldl_uniform": ufldl_uniform,
}


def get_initializer(name: str) -> Callable[..., np.ndarray]:
    """Look up an initialiser by name."""
    try:
        return INITIALISERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"init: expected one of {sorted(INITIALISERS)}, got {name!r}") from None
