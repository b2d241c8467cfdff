"""The code space: ``latent_scatter`` and ``latent_traversal``."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from tinyae.plots import _draw
from tinyae.plots._common import (
    E_LABEL, Q_LABEL, as_array, as_samples, axis_values, check_kind, edges, finish, new_axes, new_figure,
    strip_ticks,
)

__all__ = ["latent_scatter", "latent_traversal"]

_MAX_CATEGORIES = 20


def _is_categorical(labels: np.ndarray, categorical: Any) -> bool:
    if categorical is not None:
        return bool(categorical)
    if labels.dtype.kind in "biuUSO":
        return len(np.unique(labels)) <= _MAX_CATEGORIES
    return False


def latent_scatter(codes: Any, labels: Any = None, *, projection: str = "pca", categorical: bool | None = None,
                   label_name: str | None = None, cmap: str | None = None, s: float = 8.0, alpha: float = 0.8,
                   title: str | None = None, ax: Any = None, path: Any = None, dpi: Any = None) -> Figure:
    """Scatter plot of codes, coloured by a label or an intrinsic coordinate.

    Two-dimensional codes are plotted as they are. Wider codes are projected
    on their first two principal components (``projection="pca"``, the
    explained variance in the axis labels) or cut to the first two units
    (``"first"``). One-dimensional codes are plotted against ``labels`` (or
    the sample index).

    Parameters
    ----------
    codes : array_like, shape (n_samples, n_components)
    labels : array_like, shape (n_samples,), optional
        Integer or string classes (a legend) or a continuous value (a colour bar).
    projection : {"pca", "first"}, default "pca"
    categorical : bool, optional
        Force the label type; default: integer, bool or string labels with at
        most 20 distinct values are classes.
    label_name : str, optional
        Legend title or colour bar label.
    cmap : str, optional
        "tab10"/"tab20" for classes, "viridis" for continuous labels.
    s, alpha : float
        Marker size and opacity.
    title : str, optional
    ax : Axes, optional
    path : str or os.PathLike, optional
    dpi : float, optional

    Returns
    -------
    matplotlib.figure.Figure
        One PathCollection per class (categorical) or one in all.
    """
    Z = as_array(codes, "codes", ndim=(2,))
    if projection not in ("pca", "first"):
        raise ValueError(f"projection: expected 'pca' or 'first', got {projection!r}")
    y = None
    if labels is not None:
        y = np.asarray(labels.to_numpy() if hasattr(labels, "to_numpy") else labels)
        if y.shape != (len(Z),):
            raise ValueError(f"labels: expected shape ({len(Z)},), one per code, got {y.shape}")
    k = Z.shape[1]
    if k == 1:
        if y is not None and y.dtype.kind not in "biuf":
            _, y_num = np.unique(y, return_inverse=True)
        else:
            y_num = y
        P = np.column_stack([Z[:, 0], np.arange(len(Z)) if y is None else y_num])
        x_label, y_label = "z[0]", "sample" if y is None else (label_name or "label")
    elif k == 2 or projection == "first":
        P, x_label, y_label = Z[:, :2], "z[0]", "z[1]"
    else:
        Zc = Z - Z.mean(axis=0)
        _, sv, Vt = np.linalg.svd(Zc, full_matrices=False)
        P = Zc @ Vt[:2].T
        ratio = sv ** 2 / max(float(np.sum(sv ** 2)), np.finfo(float).tiny)
        x_label, y_label = (f"PC{i + 1} of the codes ({100 * ratio[i]:.0f}% var.)" for i in range(2))
    ax = new_axes(ax, (5.6, 4.6))
    if y is None:
        ax.scatter(P[:, 0], P[:, 1], s=s, alpha=alpha, color="C0", linewidths=0)
    elif _is_categorical(y, categorical):
        classes = np.unique(y)
        cm = matplotlib.colormaps[cmap or ("tab10" if len(classes) <= 10 else "tab20")]
        for c, value in enumerate(classes):
            mask = y == value
            ax.scatter(P[mask, 0], P[mask, 1], s=s, alpha=alpha, color=cm(c % cm.N), linewidths=0, label=str(value))
        ax.legend(title=label_name, fontsize=8, markerscale=2, loc="best", ncol=1 + len(classes) // 11)
    else:
        sc = ax.scatter(P[:, 0], P[:, 1], s=s, alpha=alpha, c=y.astype(float), cmap=cmap or "viridis", linewidths=0)
        ax.figure.colorbar(sc, ax=ax, label=label_name or "label")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(f"codes ({k}-D, {len(Z)} samples)" if title is None else title)
    return finish(ax.figure, path, dpi)


def latent_traversal(decode_fn: Any, base_code: Any, dim: int, values: Any, kind: str = "image",
                     image_shape: Any = None, *, q_axis: Any = None, e_axis: Any = None, q_label: str = Q_LABEL,
                     e_label: str = E_LABEL, y_label: str = "intensity", cmap: str | None = None,
                     norm: str | None = None, fig: Any = None, path: Any = None, dpi: Any = None) -> Figure:
    """Decode a code while one unit sweeps through ``values``, the others fixed.

    Parameters
    ----------
    decode_fn : callable or fitted estimator
        Maps codes (m, n_components) to outputs (m, n_features) (or (m, h, w));
        an estimator's ``inverse_transform`` is used when given the estimator.
    base_code : array_like, shape (n_components,)
        The code to start from (e.g. ``ae.transform(X[:1])[0]`` or zeros for a VAE).
    dim : int
        The unit to vary, ``0 <= dim < n_components``.
    values : array_like, shape (m,)
        The values it takes.
    kind : {"image", "spectrum1d", "map2d"}
        "image": one row of m images on one grey scale. "spectrum1d": the m
        spectra overlaid in one axes, coloured by the value (with a colour
        bar). "map2d": one row of m maps on one colour scale, one colour bar.
    image_shape, q_axis, e_axis, q_label, e_label, y_label, cmap, norm, fig, path, dpi
        As for :func:`tinyae.plots.reconstruction_grid`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    kind = check_kind(kind)
    _draw.check_norm(norm)
    decode = getattr(decode_fn, "inverse_transform", decode_fn)
    if not callable(decode):
        raise TypeError(f"decode_fn: expected a callable or an estimator with inverse_transform, got "
                        f"{type(decode_fn).__name__}")
    base = as_array(base_code, "base_code", ndim=(1, 2))
    if base.ndim == 2:
        if base.shape[0] != 1:
            raise ValueError(f"base_code: expected one code, shape (n_components,), got {base.shape}")
        base = base[0]
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < len(base):
        raise ValueError(f"dim: expected an integer in [0, {len(base)}), got {dim!r}")
    vals = as_array(values, "values", ndim=(1,))
    if not np.isfinite(vals).all():
        raise ValueError("values: contains NaN or inf")
    codes = np.tile(base, (len(vals), 1))
    codes[:, dim] = vals
    out = as_samples(decode(codes), "decode_fn(codes)", kind, image_shape)
    if len(out) != len(vals):
        raise ValueError(f"decode_fn: returned {len(out)} samples for {len(vals)} codes")
    m = len(vals)
    names = [f"z[{dim}] = {v:.3g}" for v in vals]
    if kind == "spectrum1d":
        ax = new_axes(None, (6.4, 4.2)) if fig is None else new_figure(fig, (6.4, 4.2)).add_subplot()
        e = axis_values(e_axis, out.shape[1], "e_axis")
        x = np.arange(out.shape[1]) if e is None else e
        cm = matplotlib.colormaps[cmap or "viridis"]
        scale = Normalize(vals.min(), vals.max() if vals.max() > vals.min() else vals.min() + 1)
        for j in range(m):
            ax.plot(x, out[j], color=cm(scale(vals[j])), lw=1.2)
        ax.figure.colorbar(ScalarMappable(scale, cm), ax=ax, label=f"z[{dim}]")
        ax.set_xlabel(e_label if e is not None else "bin")
        ax.set_ylabel(y_label)
        ax.set_title(f"traversal of latent unit {dim}")
        return finish(ax.figure, path, dpi)
    vmin, vmax = _draw._range(out)
    if kind == "image":
        fig = new_figure(fig, (max(1.3 * m, 4.0), 2.0))
        axes = fig.subplots(1, m, squeeze=False)[0]
        for j, ax in enumerate(axes):
            ax.imshow(out[j], cmap=cmap or "gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            strip_ticks(ax)
            ax.set_title(names[j], fontsize=8)
    else:
        fig = new_figure(fig, (3.0 * m + 1.0, 3.2))
        q = axis_values(q_axis, out.shape[1], "q_axis")
        e = axis_values(e_axis, out.shape[2], "e_axis")
        extent = (*edges(q, out.shape[1]), *edges(e, out.shape[2]))
        axes = fig.subplots(1, m, squeeze=False, sharey=True)[0]
        for j, ax in enumerate(axes):
            im = ax.imshow(out[j].T, origin="lower", aspect="auto", extent=extent, interpolation="nearest",
                           **_draw.map_style(norm, cmap or "viridis", vmin, vmax))
            ax.set_title(names[j], fontsize=9)
            ax.set_xlabel(q_label)
        axes[0].set_ylabel(e_label)
        fig.colorbar(im, ax=list(axes), label=y_label)
    fig.suptitle(f"traversal of latent unit {dim}")
    return finish(fig, path, dpi)
