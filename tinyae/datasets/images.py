"""Image data: scikit-learn's handwritten digits and natural-image patches.

``load_digits`` wraps scikit-learn's bundled 8x8 digits (scikit-learn is an
optional dependency, imported only when the function is called).
``natural_image_patches`` samples UFLDL-style patches from the photograph
that ships inside matplotlib (``grace_hopper.jpg``), so the sparse
autoencoder exercise of the UFLDL tutorial runs without downloading
anything::

    X = natural_image_patches(10000, 8)          # (10000, 64) in [0.1, 0.9]
    ae = Autoencoder(n_components=25, activation="sigmoid", code_activation="sigmoid",
                     output_activation="sigmoid", sparsity=("kl", 0.01, 3.0),
                     weight_decay=1e-4).fit(X)
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from tinyae.base import check_random_state

__all__ = ["load_digits", "natural_image_patches", "zca_whiten", "sample_image"]

_WHITEN = ("ufldl", "zca", None)
_SAMPLE_IMAGE = "grace_hopper.jpg"


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__} {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


# -- digits ------------------------------------------------------------------------


def load_digits(scale: bool = True, return_X_y: bool = False) -> Any:
    """scikit-learn's 1797 handwritten digits (8x8 pixels, 16 grey levels).

    Parameters
    ----------
    scale : bool, default True
        Divide the pixel values (integers 0..16) by 16, giving floats in
        [0, 1] -- what a sigmoid output with a BCE loss expects.
    return_X_y : bool, default False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (1797, 64) float64, ``target`` (1797,) int, ``images``
        (1797, 8, 8) float64, ``target_names`` (10,), ``image_shape`` (8, 8)
        and ``DESCR``. With ``return_X_y=True``: ``(X, y)`` of shapes
        (1797, 64) and (1797,).

    Raises
    ------
    ImportError
        When scikit-learn is not installed.
    """
    if not isinstance(scale, (bool, np.bool_)):
        raise TypeError(f"scale: expected a bool, got {type(scale).__name__} {scale!r}")
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise TypeError(f"return_X_y: expected a bool, got {type(return_X_y).__name__} {return_X_y!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.utils import Bunch
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn (it reads scikit-learn's bundled digits): "
            "pip install 'tinyae[test]' or pip install scikit-learn"
        ) from exc
    raw = _sk_load_digits()
    X = np.asarray(raw.data, dtype=np.float64)
    if scale:
        X = X / 16.0
    y = np.asarray(raw.target)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, images=X.reshape(-1, 8, 8), target_names=np.asarray(raw.target_names),
                 image_shape=(8, 8), DESCR=raw.DESCR)


# -- natural images ----------------------------------------------------------------


def _to_gray(img: Any, name: str) -> np.ndarray:
    """A 2-D float64 grey-level image from a 2-D array or an RGB(A) array (H, W, 3|4)."""
    try:
        arr = np.asarray(img)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected an image array, got {type(img).__name__} ({exc})") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric image array, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 1:
        arr = arr / 255.0
    arr = arr.astype(np.float64)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D grey image or an (H, W, 3|4) colour image, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


@functools.lru_cache(maxsize=1)
def _cached_sample_image() -> np.ndarray:
    import matplotlib.cbook as cbook
    import matplotlib.image as mimage

    gray = _to_gray(mimage.imread(cbook.get_sample_data(_SAMPLE_IMAGE, asfileobj=False)), _SAMPLE_IMAGE)
    gray.setflags(write=False)
    return gray


def sample_image() -> np.ndarray:
    """The natural photograph bundled with matplotlib (``grace_hopper.jpg``) in grey levels.

    Returns
    -------
    image : ndarray, shape (600, 512), float64 in [0, 1]
        A fresh (writable) copy.
    """
    return _cached_sample_image().copy()


def _whiten_image(img: np.ndarray, pad: int = 16) -> np.ndarray:
    """Olshausen & Field's whitening of a whole image, scaled to unit variance.

    The filter ``f exp(-(f / f0)^4)`` (``f0`` = 0.4 cycles/pixel) flattens the
    1/f amplitude spectrum of natural images and cuts the highest
    frequencies; this is how the ``IMAGES.mat`` of the UFLDL sparse
    autoencoder exercise was made. The image is mirror-padded first so the
    FFT's wrap-around does not put false edges at its borders.
    """
    pad = min(pad, img.shape[0] - 1, img.shape[1] - 1)
    padded = np.pad(img - img.mean(), pad, mode="reflect")
    fy = np.fft.fftfreq(padded.shape[0])[:, None]
    fx = np.fft.fftfreq(padded.shape[1])[None, :]
    rho = np.hypot(fx, fy)
    out = np.real(np.fft.ifft2(np.fft.fft2(padded) * (rho * np.exp(-((rho / 0.4) ** 4)))))
    out = out[pad:pad + img.shape[0], pad:pad + img.shape[1]]
    std = out.std()
    return out / std if std > 0 else out


def zca_whiten(X: Any, epsilon: float = 1e-2, return_transform: bool = False) -> Any:
    """ZCA-whiten the rows of ``X``: decorrelate while staying close to the input.

    ``X_white = (X - mean) @ W`` with ``W = U diag(1 / sqrt(S + eps)) U^T``,
    where ``U S U^T`` is the covariance of ``X``. ``eps`` regularises the
    small-variance (noisy) directions; here it is ``epsilon`` times the mean
    eigenvalue (the average per-feature variance), so the result does not
    depend on the scale of ``X``.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
    epsilon : float, default 1e-2
        Regulariser relative to the mean eigenvalue; small values give a
        covariance closer to the identity (directions with variance far below
        ``epsilon`` times the average are damped rather than amplified).
    return_transform : bool, default False
        Also return ``W`` and the mean, to whiten new data the same way.

    Returns
    -------
    X_white : ndarray, shape (n_samples, n_features), float64
    W : ndarray, shape (n_features, n_features)
        Only with ``return_transform=True``; symmetric.
    mean : ndarray, shape (n_features,)
        Only with ``return_transform=True``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X: expected a 2-D array with at least 2 rows, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X: contains NaN or inf")
    epsilon = _positive_float(epsilon, "epsilon")
    mean = X.mean(axis=0)
    Xc = X - mean
    S, U = np.linalg.eigh(Xc.T @ Xc / len(Xc))
    S = np.clip(S, 0.0, None)
    eps = epsilon * max(S.mean(), np.finfo(np.float64).tiny)
    W = (U / np.sqrt(S + eps)) @ U.T
    X_white = Xc @ W
    return (X_white, W, mean) if return_transform else X_white


def natural_image_patches(n_patches: int = 10000, patch_size: int = 8, whiten: Any = "ufldl",
                          random_state: Any = 0, *, images: Sequence[Any] | None = None,
                          prewhiten: bool | None = None, zca_epsilon: float = 1e-2) -> np.ndarray:
    """Random square patches of natural images, preprocessed as in UFLDL.

    Patches are drawn uniformly at random positions (an image is chosen with
    probability proportional to its number of positions) from grey-level
    images. Then, by ``whiten``:

    * ``"ufldl"`` -- the UFLDL sparse autoencoder exercise's
      ``normalizeData``: remove each patch's mean, clip to ±3 standard
      deviations (one std over all pixels) and rescale linearly to
      [0.1, 0.9], a range a sigmoid output can reach. The setting of that
      exercise is a 64-25-64 sparse autoencoder with ρ = 0.01, β = 3,
      λ = 1e-4.
    * ``"zca"`` -- remove each patch's mean, then :func:`zca_whiten`. The
      constant (DC) direction has zero variance after the mean removal, so
      the covariance is the identity on the other ``patch_size² - 1``
      directions (up to the ``zca_epsilon`` damping) and ~0 along it.
    * ``None`` -- the sampled grey levels as they are (in [0, 1] unless
      ``prewhiten``).

    Parameters
    ----------
    n_patches : int, default 10000
    patch_size : int, default 8
        Side of the square patches (at least 2).
    whiten : {"ufldl", "zca", None}, default "ufldl"
        ``True`` means ``"ufldl"`` and ``False`` means ``None``.
    random_state : None, int or numpy.random.Generator, default 0
        Seeds the patch positions; the same seed gives the same patches.
    images : sequence of array_like, optional
        Images to sample from: 2-D grey arrays or (H, W, 3|4) colour arrays
        (uint8 is divided by 255). Default: matplotlib's bundled photograph
        ``grace_hopper.jpg`` (600 x 512), see :func:`sample_image`.
    prewhiten : bool, optional
        Whiten each whole image with Olshausen & Field's 1/f filter before
        sampling, as the images of the UFLDL exercise were (this is what makes
        a sparse autoencoder learn localised, oriented edge filters). Default:
        True for ``"ufldl"``, False otherwise (ZCA whitens already).
    zca_epsilon : float, default 1e-2
        ``epsilon`` of :func:`zca_whiten`, relative to the mean eigenvalue.

    Returns
    -------
    X : ndarray, shape (n_patches, patch_size ** 2), float64
        Each row a patch flattened in row-major (C) order: reshape a row to
        ``(patch_size, patch_size)`` to view it.
    """
    n_patches = _positive_int(n_patches, "n_patches")
    patch_size = _positive_int(patch_size, "patch_size")
    if patch_size < 2:
        raise ValueError(f"patch_size: expected an integer >= 2, got {patch_size}")
    if whiten is True:
        whiten = "ufldl"
    elif whiten is False:
        whiten = None
    if whiten not in _WHITEN:
        raise ValueError(f"whiten: expected one of {_WHITEN}, got {whiten!r}")
    if prewhiten is None:
        prewhiten = whiten == "ufldl"
    elif not isinstance(prewhiten, (bool, np.bool_)):
        raise TypeError(f"prewhiten: expected a bool or None, got {type(prewhiten).__name__} {prewhiten!r}")
    zca_epsilon = _positive_float(zca_epsilon, "zca_epsilon")
    rng = check_random_state(random_state)

    if images is None:
        grays = [_cached_sample_image()]
    else:
        if isinstance(images, np.ndarray) and images.ndim in (2, 3) and (images.ndim == 2 or images.shape[2] in (3, 4)):
            images = [images]  # one image given bare
        if not isinstance(images, (list, tuple, np.ndarray)) or len(images) == 0:
            raise ValueError(f"images: expected a non-empty sequence of image arrays, got {type(images).__name__}")
        grays = [_to_gray(img, f"images[{i}]") for i, img in enumerate(images)]
    for i, g in enumerate(grays):
        if min(g.shape) < patch_size:
            raise ValueError(f"patch_size: {patch_size} exceeds image {i} of shape {g.shape}")
    if prewhiten:
        grays = [_whiten_image(g) for g in grays]

    positions = np.array([(g.shape[0] - patch_size + 1) * (g.shape[1] - patch_size + 1) for g in grays], float)
    which = rng.choice(len(grays), size=n_patches, p=positions / positions.sum())
    X = np.empty((n_patches, patch_size * patch_size), dtype=np.float64)
    for i, g in enumerate(grays):
        rows = np.flatnonzero(which == i)
        if len(rows) == 0:
            continue
        r = rng.integers(0, g.shape[0] - patch_size + 1, size=len(rows))
        c = rng.integers(0, g.shape[1] - patch_size + 1, size=len(rows))
        windows = np.lib.stride_tricks.sliding_window_view(g, (patch_size, patch_size))
        X[rows] = windows[r, c].reshape(len(rows), -1)

    if whiten is None:
        return X
    X = X - X.mean(axis=1, keepdims=True)
    if whiten == "zca":
        return zca_whiten(X, epsilon=zca_epsilon)
    pstd = 3.0 * X.std()
    if pstd == 0:  # constant images: every patch is its own mean
        return np.full_like(X, 0.5)
    return (np.clip(X, -pstd, pstd) / pstd + 1.0) * 0.4 + 0.1
