"""Drawing of sample stacks by kind: image grids, 1-D spectra panels, 2-D S(|Q|, E) maps."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib import colors

from tinyae.plots._common import edges, grid_shape, strip_ticks

NORMS = (None, "linear", "sqrt", "log")


def check_norm(norm: Any) -> Any:
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    return norm


def map_style(norm: Any, cmap: str, vmin: float, vmax: float) -> dict:
    """imshow keywords for a colour scale: linear, square-root or log (over 3 decades below ``vmax``).

    Under a log scale, values <= 0 (e.g. noise in a reconstruction) get the
    colour of the lowest value instead of the blank "bad" colour.
    """
    cm = matplotlib.colormaps[cmap]
    if norm == "log":
        top = vmax if vmax > 0 else 1.0
        low = max(vmin, top * 1e-3) if vmin > 0 else top * 1e-3
        return {"norm": colors.LogNorm(low, top, clip=True), "cmap": cm.with_extremes(bad=cm(0.0))}
    if norm == "sqrt":
        return {"norm": colors.PowerNorm(0.5, vmin, vmax, clip=True), "cmap": cm}
    return {"vmin": vmin, "vmax": vmax, "cmap": cm}


def _range(a: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def image_rows(fig: Any, stacks: Sequence[np.ndarray], row_labels: Sequence[str], idx: np.ndarray,
               titles: Sequence[str] | None, footers: Sequence[str] | None, cmap: str, ref: int = 0) -> np.ndarray:
    """One row per stack, one column per sample; each column uses the grey range of ``stacks[ref]``."""
    axes = fig.subplots(len(stacks), len(idx), squeeze=False)
    for j, i in enumerate(idx):
        vmin, vmax = _range(stacks[ref][i])
        for r, stack in enumerate(stacks):
            ax = axes[r, j]
            ax.imshow(stack[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            strip_ticks(ax)
            if j == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=9)
        if footers is not None:
            axes[-1, j].set_xlabel(footers[j], fontsize=8)
    return axes


def spectra_panels(fig: Any, series: Sequence[tuple[str, np.ndarray, dict]], idx: np.ndarray,
                   titles: Sequence[str], x: np.ndarray | None, x_label: str, y_label: str,
                   max_cols: int = 4) -> np.ndarray:
    """One panel per sample, overlaying each ``(label, stack, line style)`` of ``series``."""
    rows, cols = grid_shape(len(idx), max_cols)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    n_bins = series[0][1].shape[1]
    xs = np.arange(n_bins) if x is None else x
    for j, i in enumerate(idx):
        ax = axes.flat[j]
        for label, stack, style in series:
            ax.plot(xs, stack[i], label=label, **style)
        ax.set_title(titles[j], fontsize=9)
        if j % cols == 0:
            ax.set_ylabel(y_label)
        if j == 0:
            ax.legend(fontsize=8)
    for j in range(len(idx), rows * cols):
        axes.flat[j].remove()
    for j in range(len(idx)):
        if j + cols >= len(idx):  # the lowest panel of its column
            axes.flat[j].set_xlabel(x_label)
            axes.flat[j].xaxis.set_tick_params(labelbottom=True)
    return axes


def map_rows(fig: Any, stacks: Sequence[np.ndarray], col_labels: Sequence[str], idx: np.ndarray,
             titles: Sequence[str], q: np.ndarray | None, e: np.ndarray | None, q_label: str, e_label: str,
             cmap: str, error: bool, ref: int = 0, norm: Any = None) -> np.ndarray:
    """One row per sample: a map per stack (one colour scale per row, from ``stacks[ref]``),
    then, with ``error=True``, ``stacks[1] - stacks[0]`` on a symmetric diverging scale.

    Maps of shape (n_q, n_e) are drawn with |Q| across and E up, over the bin
    edges of the ``q``/``e`` axes.
    """
    n_q, n_e = stacks[0].shape[1:]
    extent = (*edges(q, n_q), *edges(e, n_e))
    axes = fig.subplots(len(idx), len(stacks) + int(error), squeeze=False)
    for r, i in enumerate(idx):
        vmin, vmax = _range(stacks[ref][i])
        for c, stack in enumerate(stacks):
            ax = axes[r, c]
            im = ax.imshow(stack[i].T, origin="lower", aspect="auto", extent=extent, interpolation="nearest",
                           **map_style(norm, cmap, vmin, vmax))
            fig.colorbar(im, ax=ax)
            ax.set_title(f"{titles[r]}: {col_labels[c]}", fontsize=9)
        if error:
            diff = stacks[1][i] - stacks[0][i]
            lim = float(np.nanmax(np.abs(diff))) or 1.0
            ax = axes[r, -1]
            im = ax.imshow(diff.T, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r",
                           vmin=-lim, vmax=lim, interpolation="nearest")
            fig.colorbar(im, ax=ax)
            ax.set_title(f"{titles[r]}: error (mse {np.mean(diff ** 2):.3g})", fontsize=9)
        for ax in axes[r]:
            ax.set_ylabel(e_label)
            ax.set_xlabel(q_label)
    return axes
