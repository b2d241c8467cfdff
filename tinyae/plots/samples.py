"""Samples next to their reconstructions: ``reconstruction_grid`` and ``denoising_triplets``."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from tinyae.plots import _draw
from tinyae.plots._common import (
    E_LABEL, Q_LABEL, as_samples, axis_values, check_kind, check_same, check_titles, finish, mse, new_figure, pick,
)

__all__ = ["reconstruction_grid", "denoising_triplets"]

_DEFAULT_N = {"image": 8, "spectrum1d": 4, "map2d": 3}


def _axes_for(kind: str, stack: Any, q_axis: Any, e_axis: Any) -> tuple[Any, Any]:
    if kind == "spectrum1d":
        return None, axis_values(e_axis, stack.shape[1], "e_axis")
    if kind == "map2d":
        return axis_values(q_axis, stack.shape[1], "q_axis"), axis_values(e_axis, stack.shape[2], "e_axis")
    return None, None


def _figsize(kind: str, count: int, rows: int) -> tuple[float, float]:
    if kind == "image":
        return max(1.3 * count, 4.0), 1.5 * rows + 0.4
    if kind == "spectrum1d":
        cols = min(count, 4)
        return 3.6 * cols + 0.6, 2.8 * -(-count // cols)
    return 4.6 * rows, 3.4 * count


def reconstruction_grid(X: Any, X_hat: Any, kind: str = "image", image_shape: Any = None, n: int | None = None, *,
                        indices: Any = None, titles: Any = None, q_axis: Any = None, e_axis: Any = None,
                        q_label: str = Q_LABEL, e_label: str = E_LABEL, y_label: str = "intensity",
                        cmap: str | None = None, norm: str | None = None, fig: Any = None, path: Any = None,
                        dpi: Any = None) -> Figure:
    """Samples beside their reconstructions.

    * ``kind="image"``: originals (top row) over reconstructions (bottom
      row); each column shares one grey scale, the original's range; the
      per-sample MSE is written under each reconstruction.
    * ``kind="spectrum1d"``: one panel per spectrum, original and
      reconstruction overlaid against ``e_axis``.
    * ``kind="map2d"``: one row per S(|Q|, E) map: original | reconstruction
      | error (reconstruction - original), each with a colour bar; the first
      two share the original's colour range, the error a symmetric one.

    Parameters
    ----------
    X, X_hat : array_like
        Originals and reconstructions, same shape: (n_samples, n_bins) for
        spectra; (n_samples, h, w) or flat (n_samples, h*w) with
        ``image_shape`` for images and maps (maps are (n_q, n_e)). Tensors are
        accepted.
    kind : {"image", "spectrum1d", "map2d"}
    image_shape : (int, int), optional
        Shape of one flat sample; inferred for square images.
    n : int, optional
        Show the first ``n`` samples (default 8 images, 4 spectra, 3 maps).
    indices : sequence of int, optional
        Show these samples instead.
    titles : sequence of str, optional
        One per sample shown (default ``"sample i"`` for spectra and maps,
        none for images).
    q_axis : array_like, shape (n_q,), optional
        |Q| bin centres of the maps (default: bin numbers).
    e_axis : array_like, shape (n_bins,) or (n_e,), optional
        Energy bin centres of the spectra or maps.
    q_label, e_label, y_label : str
        Axis labels (|Q|, energy, intensity).
    cmap : str, optional
        Default "gray" for images, "viridis" for maps.
    norm : {None, "linear", "sqrt", "log"}, optional
        Colour scale of the maps (not of the error map): "sqrt" or "log"
        (three decades below the maximum) show weak features next to strong
        peaks, as S(|Q|, E) usually needs.
    fig : Figure or SubFigure, optional
        An empty figure to draw in (default: a new pyplot figure).
    path : str or os.PathLike, optional
        Save the figure there (format from the extension).
    dpi : float, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    kind = check_kind(kind)
    _draw.check_norm(norm)
    A = as_samples(X, "X", kind, image_shape)
    B = as_samples(X_hat, "X_hat", kind, A.shape[1:] if A.ndim == 3 else None)  # may come flat
    check_same(A, B, "X_hat", "X")
    q, e = _axes_for(kind, A, q_axis, e_axis)
    idx = pick(len(A), n, indices, _DEFAULT_N[kind])
    shown = check_titles(titles, len(idx))
    if kind == "image":
        fig = new_figure(fig, _figsize(kind, len(idx), 2))
        _draw.image_rows(fig, [A, B], ["original", "reconstruction"], idx, shown,
                         [f"mse {mse(A[i], B[i]):.2g}" for i in idx], cmap or "gray")
    elif kind == "spectrum1d":
        fig = new_figure(fig, _figsize(kind, len(idx), 1))
        shown = shown or [f"sample {i}  (mse {mse(A[i], B[i]):.2g})" for i in idx]
        series = [("original", A, dict(color="k", lw=1.2)), ("reconstruction", B, dict(color="C1", lw=1.2, ls="--"))]
        _draw.spectra_panels(fig, series, idx, shown, e, e_label, y_label)
    else:
        fig = new_figure(fig, _figsize(kind, len(idx), 3))
        _draw.map_rows(fig, [A, B], ["original", "reconstruction"], idx, shown or [f"sample {i}" for i in idx],
                       q, e, q_label, e_label, cmap or "viridis", error=True, norm=norm)
    return finish(fig, path, dpi)


def denoising_triplets(noisy: Any, reconstructed: Any, clean: Any, kind: str = "image", image_shape: Any = None,
                       n: int | None = None, *, indices: Any = None, titles: Any = None, q_axis: Any = None,
                       e_axis: Any = None, q_label: str = Q_LABEL, e_label: str = E_LABEL,
                       y_label: str = "intensity", cmap: str | None = None, norm: str | None = None,
                       fig: Any = None, path: Any = None, dpi: Any = None) -> Figure:
    """Noisy input, the denoising autoencoder's output, and the clean target.

    * ``kind="image"``: three rows (noisy / denoised / clean), one column per
      sample, each column on the clean image's grey range.
    * ``kind="spectrum1d"``: one panel per spectrum with the three overlaid.
    * ``kind="map2d"``: one row per map: noisy | denoised | clean, on the
      clean map's colour range, each with a colour bar.

    Parameters
    ----------
    noisy, reconstructed, clean : array_like
        Same shapes, as ``X`` of :func:`reconstruction_grid`.
    kind, image_shape, n, indices, titles, q_axis, e_axis, q_label, e_label, y_label, cmap, norm, fig, path, dpi
        As for :func:`reconstruction_grid`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    kind = check_kind(kind)
    _draw.check_norm(norm)
    C = as_samples(clean, "clean", kind, image_shape)
    shape = C.shape[1:] if C.ndim == 3 else None  # the others may come flat
    N = as_samples(noisy, "noisy", kind, shape)
    R = as_samples(reconstructed, "reconstructed", kind, shape)
    check_same(C, N, "noisy", "clean")
    check_same(C, R, "reconstructed", "clean")
    q, e = _axes_for(kind, C, q_axis, e_axis)
    idx = pick(len(C), n, indices, _DEFAULT_N[kind])
    shown = check_titles(titles, len(idx))
    if kind == "image":
        fig = new_figure(fig, _figsize(kind, len(idx), 3))
        _draw.image_rows(fig, [N, R, C], ["noisy", "denoised", "clean"], idx, shown,
                         [f"mse {mse(R[i], C[i]):.2g}" for i in idx], cmap or "gray", ref=2)
    elif kind == "spectrum1d":
        fig = new_figure(fig, _figsize(kind, len(idx), 1))
        shown = shown or [f"sample {i}  (mse {mse(R[i], C[i]):.2g} vs {mse(N[i], C[i]):.2g} noisy)" for i in idx]
        series = [("noisy", N, dict(color="0.6", lw=0.8)), ("clean", C, dict(color="k", lw=1.2)),
                  ("denoised", R, dict(color="C1", lw=1.2, ls="--"))]
        _draw.spectra_panels(fig, series, idx, shown, e, e_label, y_label)
    else:
        fig = new_figure(fig, _figsize(kind, len(idx), 3))
        _draw.map_rows(fig, [N, R, C], ["noisy", "denoised", "clean"], idx, shown or [f"sample {i}" for i in idx],
                       q, e, q_label, e_label, cmap or "viridis", error=False, ref=2, norm=norm)
    return finish(fig, path, dpi)
