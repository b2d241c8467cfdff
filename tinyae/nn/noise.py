"""Input corruption for denoising autoencoders.

A denoising autoencoder sees a corrupted input ``noise(X, rng)`` and is
trained to reconstruct the clean ``X`` (Vincent et al. 2008, 2010). The noise
acts on the *data*, outside the graph, so these are functions on arrays, not
Tensors. Each returns a new array of the same shape and dtype and never
modifies ``X``; all randomness comes from the ``rng`` passed in.

Random choices are drawn with the NumPy ``Generator`` on the host and moved
to ``X``'s array module, so a GPU array gets GPU results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Callable, Mapping

import numpy as np

from tinyae.backend import backend_of

__all__ = [
    "gaussian_noise", "masking_noise", "salt_and_pepper_noise",
    "Noise", "NOISE_KINDS", "make_noise",
]

NoiseFn = Callable[[Any, np.random.Generator], Any]


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def _check_X(X: Any, floating: bool) -> Any:
    """The backend of ``X`` (which supplies ``xp`` and the noise kernels), after checking ``X``."""
    try:
        backend = backend_of(X)
    except TypeError:
        raise TypeError(f"X: expected an array of shape (n_samples, n_features), got {type(X).__name__}") from None
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-d array (n_samples, n_features), got shape {X.shape}")
    kinds = "f" if floating else "fiu"
    if X.dtype.kind not in kinds:
        expected = "a floating dtype" if floating else "a real numeric dtype"
        raise TypeError(f"X: expected {expected}, got dtype {X.dtype}")
    return backend


def _level(name: str, value: Any, fraction: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if fraction and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a fraction in [0, 1], got {value}")
    if not fraction and not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


def _n_corrupted(fraction: float, n_features: int) -> int:
    # Round half up (not Python's round-half-even): 0.5 of 3 features corrupts 2.
    return min(n_features, int(math.floor(fraction * n_features + 0.5)))


def _keys(n_samples: int, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """i.i.d. uniform keys, one per element: the ``k`` smallest of a row form a
    uniformly random k-subset of its columns (the kernels pick them per row
    in linear time)."""
    return rng.random((n_samples, n_features))


def gaussian_noise(X: Any, sigma: float, rng: np.random.Generator) -> Any:
    """Additive isotropic Gaussian noise ``X + sigma * N(0, 1)``.

    Parameters
    ----------
    X : array, shape (n_samples, n_features), float32 or float64
    sigma : float >= 0
        Standard deviation of the noise; 0 returns a copy of ``X``.
    rng : numpy.random.Generator

    Returns
    -------
    array, shape (n_samples, n_features), dtype of ``X``

    Notes
    -----
    :math:`\\tilde x = x + \\sigma \\varepsilon`, :math:`\\varepsilon \\sim \\mathcal N(0, I)`.
    The normal draws are made in ``X``'s dtype so float32 data stays float32.
    """
    sigma = _level("sigma", sigma, fraction=False)
    xp = _check_X(X, floating=True).xp
    _check_rng(rng)
    if sigma == 0.0:
        return X.copy()
    eps = xp.asarray(rng.standard_normal(X.shape, dtype=X.dtype))
    eps *= sigma
    eps += X
    return eps


def masking_noise(X: Any, fraction: float, rng: np.random.Generator) -> Any:
    """Set a random ``fraction`` of the features of every sample to 0.

    Parameters
    ----------
    X : array, shape (n_samples, n_features), real numeric dtype
    fraction : float in [0, 1]
        Share of features zeroed per sample.
    rng : numpy.random.Generator

    Returns
    -------
    array, shape (n_samples, n_features), dtype of ``X``

    Notes
    -----
    Exactly :math:`k = \\lfloor \\nu d + 1/2 \\rfloor` features (``nu`` the
    fraction, ``d = n_features``), chosen uniformly at random and
    independently for each sample, are set to 0: the "masking noise" of
    Vincent et al. (2010, sec. 4.1), which fixes the number of destroyed
    components per example. Independent Bernoulli masking (each element
    zeroed with probability ``nu``) has the same mean but a sample-to-sample
    spread in the count; the fixed count makes the corruption level exact.
    """
    fraction = _level("fraction", fraction, fraction=True)
    backend = _check_X(X, floating=False)
    _check_rng(rng)
    n, d = X.shape
    k = _n_corrupted(fraction, d)
    if k == 0 or n == 0:
        return X.copy()
    return backend.kernels.mask_noise(X, backend.xp.asarray(_keys(n, d, rng)), k)


def salt_and_pepper_noise(X: Any, fraction: float, rng: np.random.Generator,
                          low: float | None = None, high: float | None = None) -> Any:
    """Set a random ``fraction`` of the features of every sample to ``low`` or ``high``.

    Parameters
    ----------
    X : array, shape (n_samples, n_features), real numeric dtype
    fraction : float in [0, 1]
        Share of features corrupted per sample.
    rng : numpy.random.Generator
    low, high : float, optional
        The "pepper" and "salt" values; default ``X.min()`` and ``X.max()``
        of the whole given array. ``low <= high``.

    Returns
    -------
    array, shape (n_samples, n_features), dtype of ``X``

    Notes
    -----
    As for :func:`masking_noise`, exactly :math:`\\lfloor \\nu d + 1/2 \\rfloor`
    features per sample are chosen uniformly at random; each chosen one is
    set to ``low`` or ``high`` with probability 1/2 (Vincent et al. 2010,
    sec. 4.1).
    """
    fraction = _level("fraction", fraction, fraction=True)
    backend = _check_X(X, floating=False)
    _check_rng(rng)
    low = None if low is None else _finite("low", low)
    high = None if high is None else _finite("high", high)
    if low is not None and high is not None and low > high:
        raise ValueError(f"low: expected low <= high, got low={low} > high={high}")
    n, d = X.shape
    k = _n_corrupted(fraction, d)
    if k == 0 or n == 0:
        return X.copy()
    low = float(X.min()) if low is None else low
    high = float(X.max()) if high is None else high
    if low > high:
        raise ValueError(f"low: expected low <= high (high defaults to X.max()), got low={low} > high={high}")
    keys = _keys(n, d, rng)
    salt = rng.random((n, k)) < 0.5
    xp = backend.xp
    return backend.kernels.salt_pepper_noise(X, xp.asarray(keys), xp.asarray(salt), k, low, high)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


NOISE_KINDS: dict[str, NoiseFn] = {
    "gaussian": gaussian_noise,
    "masking": masking_noise,
    "salt_and_pepper": salt_and_pepper_noise,
}
_OPTIONS = {"gaussian": (), "masking": (), "salt_and_pepper": ("low", "high")}


@dataclass(frozen=True)
class Noise:
    """A parsed noise spec: ``Noise("masking", 0.3)(X, rng)`` corrupts ``X``.

    Parameters
    ----------
    kind : {'gaussian', 'masking', 'salt_and_pepper'}
    level : float
        ``sigma`` for Gaussian noise, ``fraction`` (in [0, 1]) otherwise.
    options : dict
        Extra keyword arguments (``low``/``high`` for salt and pepper).
    """

    kind: str
    level: float
    options: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"kind: expected one of {sorted(NOISE_KINDS)}, got {self.kind!r}")
        name = "sigma" if self.kind == "gaussian" else "fraction"
        object.__setattr__(self, "level", _level(f"level ({name})", self.level, fraction=self.kind != "gaussian"))
        extra = set(self.options) - set(_OPTIONS[self.kind])
        if extra:
            raise ValueError(
                f"options: {self.kind!r} noise accepts {list(_OPTIONS[self.kind]) or 'no options'}, "
                f"got {sorted(extra)}"
            )
        object.__setattr__(self, "options", {k: _finite(k, v) for k, v in self.options.items()})

    def __call__(self, X: Any, rng: np.random.Generator) -> Any:
        return NOISE_KINDS[self.kind](X, self.level, rng, **self.options)


def _kind(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"kind: expected a str, one of {sorted(NOISE_KINDS)}, got {type(value).__name__}")
    kind = value.strip().lower().replace("-", "_").replace(" ", "_")
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind: expected one of {sorted(NOISE_KINDS)}, got {value!r}")
    return kind


def make_noise(spec: Any) -> NoiseFn | None:
    """Turn a user's noise spec into a callable ``noise(X, rng) -> array`` (or None).

    Parameters
    ----------
    spec : None, (kind, level), dict or callable
        * ``None``: no noise; returns None.
        * ``("gaussian", sigma)``, ``("masking", fraction)``,
          ``("salt_and_pepper", fraction)``.
        * ``{"kind": ..., "level": ...}``, plus ``"low"``/``"high"`` for salt
          and pepper.
        * a callable ``f(X, rng) -> array``, returned unchanged; it must not
          modify ``X``.

    Returns
    -------
    Noise, callable or None

    Raises
    ------
    ValueError
        Unknown kind, a fraction outside [0, 1], a negative sigma, or a
        malformed tuple/dict.
    TypeError
        A spec of another type.
    """
    if spec is None or isinstance(spec, Noise):
        return spec
    if isinstance(spec, Mapping):
        missing = {"kind", "level"} - set(spec)
        if missing:
            raise ValueError(f"spec: expected a dict with keys 'kind' and 'level', missing {sorted(missing)}")
        options = {k: v for k, v in spec.items() if k not in ("kind", "level")}
        return Noise(_kind(spec["kind"]), spec["level"], options)
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(f"spec: expected a pair (kind, level), got {spec!r}")
        return Noise(_kind(spec[0]), spec[1])
    if callable(spec):
        return spec
    raise TypeError(
        "spec: expected None, (kind, level), {'kind': ..., 'level': ...} or a callable f(X, rng), "
        f"got {type(spec).__name__}"
    )
