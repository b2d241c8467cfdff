"""Shared argument checks, figure creation and saving for :mod:`tinyae.plots`."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

KINDS = ("image", "spectrum1d", "map2d")
Q_LABEL = "|Q| (Å⁻¹)"
E_LABEL = "E (meV)"


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use.

    Without a display matplotlib picks the non-interactive "Agg" backend by
    itself, so the plots work on headless machines; nothing here calls
    ``plt.show()``.
    """
    import matplotlib.pyplot as plt

    return plt


def as_array(X: Any, name: str, ndim: Sequence[int] | None = None) -> np.ndarray:
    """``X`` (array_like or a tinyae Tensor/Parameter) as a float64 array, checked."""
    if hasattr(X, "to_numpy") and callable(X.to_numpy):
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a numeric array, got {type(X).__name__} ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim not in ndim:
        raise ValueError(f"{name}: expected a {' or '.join(f'{d}-D' for d in ndim)} array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
    return arr


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    return kind


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def as_samples(X: Any, name: str, kind: str, image_shape: Any = None) -> np.ndarray:
    """A stack of samples: (n, n_bins) for ``"spectrum1d"``, (n, h, w) for images and maps.

    Images and maps may come flat, shape (n, h*w) with ``image_shape=(h, w)``
    (inferred for square images), or as (n, h, w). A 1-D array is one spectrum.
    """
    arr = as_array(X, name, ndim=(1, 2) if kind == "spectrum1d" else (2, 3))
    if kind == "spectrum1d":
        return arr[None, :] if arr.ndim == 1 else arr
    if image_shape is not None:
        try:
            shape = tuple(positive_int(v, "image_shape") for v in image_shape)
        except TypeError:
            raise TypeError(f"image_shape: expected a pair of positive integers, got {image_shape!r}") from None
        if len(shape) != 2:
            raise ValueError(f"image_shape: expected a pair of positive integers, got {image_shape!r}")
    if arr.ndim == 3:
        if image_shape is not None and arr.shape[1:] != shape:
            raise ValueError(f"{name}: samples of shape {arr.shape[1:]} do not match the expected shape {shape}")
        return arr
    n_features = arr.shape[1]
    if image_shape is None:
        side = math.isqrt(n_features)
        if kind == "map2d" or side * side != n_features:
            what = "(n_q, n_e)" if kind == "map2d" else "(height, width)"
            raise ValueError(f"image_shape: needed to reshape {name} of shape {arr.shape}; pass image_shape={what}")
        shape = (side, side)
    if shape[0] * shape[1] != n_features:
        raise ValueError(f"image_shape: {shape} has {shape[0] * shape[1]} pixels but {name} has {n_features} features")
    return arr.reshape(len(arr), *shape)


def check_same(ref: np.ndarray, other: np.ndarray, name: str, ref_name: str) -> None:
    if other.shape != ref.shape:
        raise ValueError(f"{name}: shape {other.shape} does not match {ref_name} {ref.shape}")


def pick(n_samples: int, n: Any, indices: Any, default: int) -> np.ndarray:
    """The rows to show: ``indices`` if given, else the first ``n`` (``default`` when None)."""
    if indices is not None:
        idx = np.asarray(indices)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise ValueError(f"indices: expected a non-empty 1-D sequence of integers, got {indices!r}")
        if idx.min() < -n_samples or idx.max() >= n_samples:
            raise ValueError(f"indices: out of range for {n_samples} samples: {indices!r}")
        return idx % n_samples
    n = default if n is None else positive_int(n, "n")
    return np.arange(min(n, n_samples))


def check_titles(titles: Any, count: int) -> list[str] | None:
    if titles is None:
        return None
    if isinstance(titles, str) or not isinstance(titles, Sequence) or len(titles) != count:
        raise ValueError(f"titles: expected a sequence of {count} strings (one per sample shown), got {titles!r}")
    return [str(t) for t in titles]


def axis_values(axis: Any, length: int, name: str) -> np.ndarray | None:
    """A checked coordinate axis (bin centres) of ``length`` points, or None."""
    if axis is None:
        return None
    arr = as_array(axis, name, ndim=(1,))
    if len(arr) != length:
        raise ValueError(f"{name}: expected {length} values (one per bin), got {len(arr)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


def edges(centres: np.ndarray | None, length: int) -> tuple[float, float]:
    """The outer edges of bins with these centres (bin indices when None)."""
    if centres is None:
        return -0.5, length - 0.5
    if length == 1:
        return centres[0] - 0.5, centres[0] + 0.5
    return centres[0] - (centres[1] - centres[0]) / 2, centres[-1] + (centres[-1] - centres[-2]) / 2


def new_figure(fig: Any, figsize: tuple[float, float]) -> Figure | SubFigure:
    """``fig`` checked (an empty Figure or SubFigure), or a new constrained-layout pyplot figure."""
    if fig is None:
        return pyplot().figure(figsize=figsize, layout="constrained")
    if not isinstance(fig, (Figure, SubFigure)):
        raise TypeError(f"fig: expected a matplotlib Figure or SubFigure, got {type(fig).__name__}")
    if fig.axes:
        raise ValueError(f"fig: expected an empty figure, it already has {len(fig.axes)} axes; "
                         "pass a new plt.figure() or one of fig.subfigures()")
    return fig


def new_axes(ax: Any, figsize: tuple[float, float]) -> Axes:
    """``ax`` checked, or the axes of a new figure."""
    if ax is None:
        return pyplot().figure(figsize=figsize, layout="constrained").add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes, got {type(ax).__name__}")
    return ax


def root_figure(fig: Figure | SubFigure) -> Figure:
    return fig.figure if isinstance(fig, SubFigure) else fig  # a SubFigure's .figure is the root


def finish(fig: Figure | SubFigure, path: Any, dpi: Any = None) -> Figure:
    """Save the (root) figure to ``path`` when given and return it."""
    root = root_figure(fig)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or os.PathLike file name, got {type(path).__name__}")
        root.savefig(path, dpi=dpi, bbox_inches="tight")
    return root


def grid_shape(count: int, max_cols: int) -> tuple[int, int]:
    cols = min(count, max_cols)
    return math.ceil(count / cols), cols


def strip_ticks(ax: Axes) -> None:
    """No ticks, but keep the frame and room for a y-label (unlike ``axis("off")``)."""
    ax.set_xticks([])
    ax.set_yticks([])


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))
