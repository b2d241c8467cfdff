"""Learned weights: ``filter_mosaic`` (encoder filters as images) and
``decoder_basis_1d`` (decoder rows as 1-D basis functions)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tinyae.plots._common import E_LABEL, as_array, axis_values, finish, new_axes, positive_int

__all__ = ["filter_mosaic", "decoder_basis_1d"]


def layer_weights(W: Any, name: str) -> np.ndarray:
    """A weight matrix of shape (n_in, n_out) from an array, a Tensor, or a layer.

    A ``Dense`` or ``TiedDense`` layer gives its matrix oriented
    (n_in, n_out) -- the tied layer's shared ``W`` transposed.
    """
    if hasattr(W, "W") and hasattr(W, "n_in") and hasattr(W, "n_out"):
        n_in, n_out = W.n_in, W.n_out
        arr = as_array(W.W, f"{name}.W", ndim=(2,))
        return arr if arr.shape == (n_in, n_out) else arr.T
    return as_array(W, name, ndim=(2,))


def filter_mosaic(W: Any, image_shape: Any = None, *, n_cols: int | None = None, normalize: str | None = "each",
                  border: int = 1, cmap: str = "gray", title: str | None = None, ax: Any = None,
                  path: Any = None, dpi: Any = None) -> Figure:
    """Encoder filters as a mosaic of small images (UFLDL's ``display_network``).

    Column ``j`` of ``W`` holds the weights from every input pixel to hidden
    unit ``j``; reshaped to ``image_shape`` it is the input pattern that
    excites the unit most (for inputs of fixed norm). As in UFLDL, the global
    mean is removed and each filter is scaled by its largest absolute weight,
    so every tile spans [-1, 1] (black to white, mid-grey = 0); tiles are
    separated by black borders.

    Parameters
    ----------
    W : array_like, shape (n_in, n_out), Tensor, or a Dense layer
        Encoder weights (``ae.model_.encoder[0]`` or its ``.W``); ``n_in``
        must equal the number of pixels.
    image_shape : (int, int), optional
        Shape of one input image; inferred when ``n_in`` is a square.
    n_cols : int, optional
        Tiles per row (default ``ceil(sqrt(n_out))``).
    normalize : {"each", "global", None}, default "each"
        "each": every tile scaled by its own max |w|; "global": one scale
        for all (compare filter strengths); None: raw weights, colour range of
        the data.
    border : int, default 1
        Pixels between tiles.
    cmap : str, default "gray"
    title : str, optional
        Default "encoder filters (n_out units)".
    ax : Axes, optional
    path : str or os.PathLike, optional
    dpi : float, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding one image.
    """
    W = layer_weights(W, "W")
    n_in, n_out = W.shape
    if image_shape is None:
        side = math.isqrt(n_in)
        if side * side != n_in:
            raise ValueError(f"image_shape: needed, W has {n_in} inputs, not a square number; pass (height, width)")
        image_shape = (side, side)
    try:
        h, w = (positive_int(v, "image_shape") for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape: expected a pair of positive integers, got {image_shape!r}") from None
    if h * w != n_in:
        raise ValueError(f"image_shape: {(h, w)} has {h * w} pixels but W has {n_in} inputs (rows)")
    if normalize not in ("each", "global", None):
        raise ValueError(f"normalize: expected 'each', 'global' or None, got {normalize!r}")
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"border: expected a non-negative integer, got {border!r}")
    cols = math.ceil(math.sqrt(n_out)) if n_cols is None else positive_int(n_cols, "n_cols")
    rows = math.ceil(n_out / cols)
    tiles = W.T.reshape(n_out, h, w)
    if normalize is None:
        vmin, vmax = float(tiles.min()), float(tiles.max())
        fill = vmin
    else:
        tiles = tiles - tiles.mean()
        scale = np.abs(tiles).max(axis=(1, 2), keepdims=True) if normalize == "each" else np.abs(tiles).max()
        tiles = tiles / np.where(scale > 0, scale, 1.0)
        vmin, vmax, fill = -1.0, 1.0, -1.0
    mosaic = np.full((border + rows * (h + border), border + cols * (w + border)), fill)
    for k in range(n_out):
        r, c = divmod(k, cols)
        y, x = border + r * (h + border), border + c * (w + border)
        mosaic[y:y + h, x:x + w] = tiles[k]
    ax = new_axes(ax, (min(0.5 * cols + 1, 10), min(0.5 * rows + 1, 10) + 0.3))
    ax.imshow(mosaic, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"encoder filters ({n_out} units, {h}x{w})" if title is None else title)
    return finish(ax.figure, path, dpi)


def decoder_basis_1d(W_dec: Any, e_axis: Any = None, *, n: int | None = None, stacked: bool = True,
                     e_label: str = E_LABEL, title: str | None = None, ax: Any = None, path: Any = None,
                     dpi: Any = None) -> Figure:
    """Rows of a decoder weight matrix as 1-D basis functions of a spectrum.

    A linear last layer reconstructs ``x_hat = h @ W_dec + b``: each
    spectrum is ``b`` plus a combination of the rows of ``W_dec`` weighted by
    the code (or, for a deep decoder, by the last hidden layer).

    Parameters
    ----------
    W_dec : array_like, shape (n_code, n_bins), Tensor, or a Dense/TiedDense layer
        E.g. ``ae.model_.decoder[-1]``.
    e_axis : array_like, shape (n_bins,), optional
        Energy bin centres (default: bin numbers).
    n : int, optional
        Plot only the first ``n`` rows.
    stacked : bool, default True
        Offset the curves vertically, one per row labelled ``h1, h2, ...``
        (clearest for many units); False overlays them with a legend.
    e_label : str
    title : str, optional
    ax : Axes, optional
    path : str or os.PathLike, optional
    dpi : float, optional

    Returns
    -------
    matplotlib.figure.Figure
        The axes has one line per row plotted (plus dotted zero lines when stacked).
    """
    W = layer_weights(W_dec, "W_dec")
    if n is not None:
        W = W[:positive_int(n, "n")]
    k, n_bins = W.shape
    e = axis_values(e_axis, n_bins, "e_axis")
    x = np.arange(n_bins) if e is None else e
    ax = new_axes(ax, (6.4, min(1.0 + 0.55 * k, 12.0) if stacked else 4.0))
    spacing = 1.1 * float(np.ptp(W, axis=1).max()) or 1.0
    for j in range(k):
        offset = -j * spacing if stacked else 0.0
        if stacked:
            ax.axhline(offset, color="0.8", lw=0.6, ls=":")
        ax.plot(x, W[j] + offset, color=f"C{j % 10}", lw=1.2, label=f"h{j + 1}")
    if stacked:
        ax.set_yticks([-j * spacing for j in range(k)], [f"h{j + 1}" for j in range(k)])
        ax.set_ylabel("decoder row (offset)")
    else:
        ax.set_ylabel("weight")
        ax.legend(fontsize=8, ncol=max(1, k // 8))
    ax.set_xlabel(e_label if e is not None else "bin")
    ax.set_title(f"decoder basis functions ({k} rows)" if title is None else title)
    return finish(ax.figure, path, dpi)
