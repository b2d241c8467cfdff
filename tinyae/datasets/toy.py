"""Small toy data sets with a known low-dimensional structure.

Every generator takes ``random_state`` (None, an int seed or a
``numpy.random.Generator``) and returns ``(X, t)``: the data of shape
(n_samples, n_features) and the intrinsic coordinate or label of each
sample, to colour a latent scatter plot with::

    X, t = circles_in_high_dim(500, n_features=20, noise=0.02, random_state=0)
    # PCA needs 2 components for X; the circle itself is 1-dimensional.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyae.base import check_random_state

__all__ = ["swiss_roll", "s_curve", "circles_in_high_dim", "gaussian_blobs", "random_orthogonal"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _nonneg_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a non-negative number, got {type(value).__name__} {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a non-negative finite number, got {value!r}")
    return float(value)


def _add_noise(X: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return X + noise * rng.standard_normal(X.shape) if noise > 0 else X


def random_orthogonal(n: int, random_state: Any = None) -> np.ndarray:
    """A Haar-distributed random orthogonal matrix, shape (n, n).

    The QR decomposition of a Gaussian matrix, with the signs of ``R``'s
    diagonal moved into ``Q`` so the distribution is uniform.
    """
    n = _positive_int(n, "n")
    rng = check_random_state(random_state)
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.where(np.diag(R) == 0, 1.0, np.diag(R)))


def swiss_roll(n_samples: int = 1000, noise: float = 0.0, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Points on a rolled-up rectangle in 3-D (a 2-D manifold).

    ``t ~ U(1.5π, 4.5π)``, height ``v ~ U(0, 21)``;
    ``X = (t cos t, v, t sin t) + noise · N(0, I)`` (scikit-learn's convention).

    Parameters
    ----------
    n_samples : int, default 1000
    noise : float, default 0
        Standard deviation of the Gaussian noise added to every coordinate.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    X : ndarray, shape (n_samples, 3), float64
    t : ndarray, shape (n_samples,)
        Position along the roll (the coordinate a good 1-D embedding recovers).
    """
    n_samples = _positive_int(n_samples, "n_samples")
    noise = _nonneg_float(noise, "noise")
    rng = check_random_state(random_state)
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.random(n_samples))
    v = 21.0 * rng.random(n_samples)
    X = np.column_stack([t * np.cos(t), v, t * np.sin(t)])
    return _add_noise(X, noise, rng), t


def s_curve(n_samples: int = 1000, noise: float = 0.0, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Points on an S-shaped sheet in 3-D (a 2-D manifold).

    ``t ~ U(-1.5π, 1.5π)``, ``X = (sin t, 2u, sign(t)(cos t - 1)) + noise · N(0, I)``
    with ``u ~ U(0, 1)`` (scikit-learn's convention).

    Parameters
    ----------
    n_samples : int, default 1000
    noise : float, default 0
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    X : ndarray, shape (n_samples, 3), float64
    t : ndarray, shape (n_samples,)
        Position along the S.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    noise = _nonneg_float(noise, "noise")
    rng = check_random_state(random_state)
    t = 3.0 * np.pi * (rng.random(n_samples) - 0.5)
    u = 2.0 * rng.random(n_samples)
    X = np.column_stack([np.sin(t), u, np.sign(t) * (np.cos(t) - 1.0)])
    return _add_noise(X, noise, rng), t


def circles_in_high_dim(n_samples: int = 500, n_features: int = 20, noise: float = 0.05,
                        manifold: str = "circle", embedding: str = "linear",
                        random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """A circle (1-D) or a torus (2-D) hidden in ``n_features`` dimensions.

    The intrinsic points are ``z = (cos t, sin t)`` for ``manifold="circle"``
    or ``z = (cos t1, sin t1, cos t2, sin t2)`` (a flat torus) for
    ``manifold="torus"``. Then:

    * ``embedding="linear"``: ``X = z @ Q[:k]`` with ``Q`` a random
      orthogonal matrix: the data span exactly ``k`` = 2 (circle) or 4
      (torus) directions, so PCA needs ``k`` components while the manifold
      has 1 (or 2) intrinsic dimensions. (A circle cannot be mapped
      continuously and one-to-one onto a line, so a 1-unit code must cut it
      somewhere: a nonlinear autoencoder reconstructs it well except near
      the cut.)
    * ``embedding="nonlinear"``: ``X = tanh(z @ A)`` with ``A`` Gaussian,
      variance ``2 / k``: a curved embedding that spreads over more principal
      directions.

    Gaussian noise of std ``noise`` is added to ``X`` in the ambient space.

    Parameters
    ----------
    n_samples : int, default 500
    n_features : int, default 20
        Ambient dimension; at least 2 (circle) or 4 (torus).
    noise : float, default 0.05
    manifold : {"circle", "torus"}, default "circle"
    embedding : {"linear", "nonlinear"}, default "linear"
    random_state : None, int or numpy.random.Generator
        Seeds the angles, the embedding map and the noise.

    Returns
    -------
    X : ndarray, shape (n_samples, n_features), float64
    t : ndarray, shape (n_samples,) for a circle, (n_samples, 2) for a torus
        The angles in [0, 2π).
    """
    n_samples = _positive_int(n_samples, "n_samples")
    n_features = _positive_int(n_features, "n_features")
    noise = _nonneg_float(noise, "noise")
    if manifold not in ("circle", "torus"):
        raise ValueError(f"manifold: expected 'circle' or 'torus', got {manifold!r}")
    if embedding not in ("linear", "nonlinear"):
        raise ValueError(f"embedding: expected 'linear' or 'nonlinear', got {embedding!r}")
    k = 2 if manifold == "circle" else 4
    if n_features < k:
        raise ValueError(f"n_features: a {manifold} needs at least {k} features, got {n_features}")
    rng = check_random_state(random_state)
    t = 2.0 * np.pi * rng.random((n_samples, k // 2))
    z = np.column_stack([f(t[:, i]) for i in range(k // 2) for f in (np.cos, np.sin)])
    if embedding == "linear":
        X = z @ random_orthogonal(n_features, rng)[:k]
    else:
        X = np.tanh(z @ (rng.standard_normal((k, n_features)) * np.sqrt(2.0 / k)))
    return _add_noise(X, noise, rng), (t[:, 0] if k == 2 else t)


def gaussian_blobs(n_samples: int = 300, n_features: int = 2, centers: Any = 3, cluster_std: Any = 1.0,
                   center_box: tuple[float, float] = (-10.0, 10.0),
                   random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters.

    Parameters
    ----------
    n_samples : int, default 300
        Split as evenly as possible between the clusters.
    n_features : int, default 2
    centers : int or array_like of shape (n_centers, n_features), default 3
        The number of clusters (centres drawn uniformly in ``center_box``) or
        the centres themselves.
    cluster_std : float or array_like of shape (n_centers,), default 1.0
    center_box : (float, float), default (-10, 10)
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    X : ndarray, shape (n_samples, n_features), float64
    labels : ndarray, shape (n_samples,), int
        The cluster of each sample (samples are shuffled).
    """
    n_samples = _positive_int(n_samples, "n_samples")
    n_features = _positive_int(n_features, "n_features")
    rng = check_random_state(random_state)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        n_centers = _positive_int(centers, "centers")
        try:
            lo, hi = (float(v) for v in center_box)
        except (TypeError, ValueError):
            lo = hi = np.nan
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"center_box: expected finite (low, high) with low < high, got {center_box!r}")
        C = rng.uniform(lo, hi, size=(n_centers, n_features))
    else:
        try:
            C = np.asarray(centers, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"centers: expected an int or a numeric array, got {centers!r}") from None
        if not np.isfinite(C).all():
            raise ValueError("centers: contains NaN or inf")
        if C.ndim != 2 or C.shape[1] != n_features or len(C) == 0:
            raise ValueError(f"centers: expected an int or an array of shape (n_centers, {n_features}), got shape {C.shape}")
        n_centers = len(C)
    try:
        std = np.asarray(cluster_std, dtype=np.float64)
    except (TypeError, ValueError):
        std = np.array([np.nan])
    if std.ndim == 0:
        std = np.full(n_centers, float(std))
    if std.shape != (n_centers,) or not (np.isfinite(std).all() and (std >= 0).all()):
        raise ValueError(f"cluster_std: expected a non-negative number or one per centre, got {cluster_std!r}")
    labels = np.arange(n_samples) % n_centers
    rng.shuffle(labels)
    X = C[labels] + std[labels, None] * rng.standard_normal((n_samples, n_features))
    return X, labels
