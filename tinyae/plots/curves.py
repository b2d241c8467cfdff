"""Curves: ``loss_curves`` (training history) and ``error_vs_code_size`` (AE vs PCA)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from tinyae.plots._common import as_array, finish, new_axes, new_figure

__all__ = ["loss_curves", "error_vs_code_size"]


def _history(history: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None, int | None]:
    """(series by name, epoch numbers or None, best epoch or None) from a History, estimator or mapping."""
    if hasattr(history, "history_") and not isinstance(history, Mapping):
        history = history.history_  # a fitted estimator
    best = getattr(history, "best_epoch", None)
    epochs = getattr(history, "epochs", None)
    records = getattr(history, "history", history)
    if not isinstance(records, Mapping):
        raise TypeError(f"history: expected a History, a fitted estimator or a dict of lists, "
                        f"got {type(history).__name__}")
    if not records:
        raise ValueError("history: no recorded terms (was the model trained?)")
    series = {str(k): as_array(v, f"history[{k!r}]", ndim=(1,)) for k, v in records.items()}
    return series, (np.asarray(epochs) if epochs else None), best


class _PlainLogFormatter(ticker.LogFormatter):
    """Log-axis labels as plain numbers (``0.3``, ``30``), labelling minor ticks when the span is short."""

    def __call__(self, x: float, pos: Any = None) -> str:
        return f"{x:.3g}" if super().__call__(x, pos) else ""


def _log_y(ax: Any) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False))


def _positive(arrays: Sequence[np.ndarray]) -> bool:
    values = np.concatenate([a[np.isfinite(a)] for a in arrays]) if arrays else np.array([])
    return values.size > 0 and bool((values > 0).all())


def loss_curves(history: Any, *, keys: Sequence[str] | None = None, logy: bool | None = None,
                separate: bool = False, title: str | None = None, ax: Any = None, fig: Any = None,
                path: Any = None, dpi: Any = None) -> Figure:
    """Every loss term of a training history against the epoch.

    Each term (``"loss"`` -- the total -- first, then ``"reconstruction"``,
    ``"sparsity"``, ``"kl"``, ...) gets one colour: solid for training,
    dashed for its ``"val_"`` version. The epoch whose weights early stopping
    kept is marked by a dotted vertical line.

    Parameters
    ----------
    history : History, fitted estimator, or dict of str to sequence of float
        ``ae.history_``, ``ae`` itself, or ``{"loss": [...], ...}``.
    keys : sequence of str, optional
        Training terms to plot (their ``val_`` versions come along);
        default: all.
    logy : bool, optional
        Log-scale the y axis; default: when every plotted value is positive
        (per axes with ``separate=True``).
    separate : bool, default False
        One axes per term (in ``fig``) instead of all in one (``ax``).
    title : str, optional
    ax : Axes, optional
        With ``separate=False``.
    fig : Figure or SubFigure, optional
        With ``separate=True``.
    path : str or os.PathLike, optional
    dpi : float, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line per plotted series (plus the best-epoch line).
    """
    series, epochs, best = _history(history)
    base = [k for k in series if not k.startswith("val_")]
    base += [k[4:] for k in series if k.startswith("val_") and k[4:] not in series]  # validation-only terms
    base.sort(key=lambda k: (k != "loss",))  # the total first, the rest in recorded order
    if keys is not None:
        if isinstance(keys, str):
            keys = [keys]
        unknown = [k for k in keys if k not in base]
        if unknown:
            raise ValueError(f"keys: {unknown} not in the history; recorded terms: {base}")
        base = list(keys)
    if separate and ax is not None:
        raise ValueError("ax: one axes cannot hold separate=True panels; pass fig= instead")
    if separate:
        cols = min(len(base), 3)
        fig = new_figure(fig, (4.2 * cols, 3.2 * math.ceil(len(base) / cols)))
        axes = list(fig.subplots(math.ceil(len(base) / cols), cols, squeeze=False).flat)
        for extra in axes[len(base):]:
            extra.remove()
        groups = [(axes[i], [k]) for i, k in enumerate(base)]
    else:
        if fig is not None:
            raise ValueError("fig: only used with separate=True; pass ax= for a single axes")
        groups = [(new_axes(ax, (6.4, 4.2)), base)]
    for gi, (a, names) in enumerate(groups):
        plotted = []
        for j, name in enumerate(names):
            # The total in black, wider and underneath, so a single term lying on it stays visible.
            total = name == "loss"
            colour = "k" if total else f"C{(gi if separate else j - int('loss' in names)) % 10}"
            for key, style in ((name, "-"), (f"val_{name}", "--")):
                if key in series:
                    y = series[key]
                    x = epochs if epochs is not None and len(epochs) == len(y) else np.arange(len(y))
                    a.plot(x, y, ls=style, color=colour, lw=2.4 if total else 1.4, alpha=0.55 if total else 1.0,
                           zorder=1 if total else 2, label=key)
                    plotted.append(y)
        if logy if logy is not None else _positive(plotted):
            _log_y(a)
        if best is not None:
            a.axvline(best, color="0.4", ls=":", lw=1.0, label=f"best epoch ({best})")
        a.set_xlabel("epoch")
        a.set_ylabel("loss term" if not separate else names[0])
        a.legend(fontsize=8)
        a.grid(alpha=0.3, which="both" if a.get_yscale() == "log" else "major")
    if title is not None:
        (groups[0][0].figure if not separate else fig).suptitle(title)
    return finish(groups[0][0].figure, path, dpi)


def _errors(values: Any, name: str, n_sizes: int) -> tuple[np.ndarray, np.ndarray | None]:
    arr = as_array(values, name, ndim=(1, 2))
    if arr.shape[0] != n_sizes:
        raise ValueError(f"{name}: expected {n_sizes} rows (one per code size), got shape {arr.shape}")
    if arr.ndim == 1:
        return arr, None
    return arr.mean(axis=1), (arr.std(axis=1) if arr.shape[1] > 1 else None)


def error_vs_code_size(sizes: Any, ae_errors: Any, pca_errors: Any = None, *,
                       labels: Sequence[str] = ("autoencoder", "PCA"), ylabel: str = "reconstruction MSE",
                       logy: bool | None = None, logx: bool | None = None, title: str | None = None,
                       ax: Any = None, path: Any = None, dpi: Any = None) -> Figure:
    """Reconstruction error against code size, autoencoder(s) versus PCA.

    Parameters
    ----------
    sizes : array_like, shape (n_sizes,)
        Code sizes (number of latent units / principal components).
    ae_errors : array_like, shape (n_sizes,) or (n_sizes, n_repeats), or dict
        Errors of the autoencoder; with repeats (e.g. seeds) the mean is
        drawn with ±1 std error bars. A dict ``{label: errors}`` draws several
        models.
    pca_errors : array_like, shape (n_sizes,) or (n_sizes, n_repeats), optional
    labels : (str, str), default ("autoencoder", "PCA")
        Legend entries of ``ae_errors`` (when not a dict) and ``pca_errors``.
    ylabel : str
    logy : bool, optional
        Default: log scale when every error is positive and they span more
        than a factor of 10.
    logx : bool, optional
        Base-2 log scale for the code sizes; default: when they span more
        than a factor of 8 (e.g. 1, 2, 4, ..., 64).
    title : str, optional
    ax : Axes, optional
    path : str or os.PathLike, optional
    dpi : float, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line (or error bar container) per model.
    """
    k = as_array(sizes, "sizes", ndim=(1,))
    if not (np.isfinite(k).all() and (k > 0).all()):
        raise ValueError(f"sizes: expected positive code sizes, got {sizes!r}")
    if isinstance(labels, str) or len(labels) != 2:
        raise ValueError(f"labels: expected two strings (autoencoder, PCA), got {labels!r}")
    models = dict(ae_errors) if isinstance(ae_errors, Mapping) else {labels[0]: ae_errors}
    if not models:
        raise ValueError("ae_errors: expected errors or a non-empty dict of them")
    curves = [(str(name), *_errors(v, f"ae_errors[{name!r}]" if isinstance(ae_errors, Mapping) else "ae_errors",
                                     len(k)), "o-") for name, v in models.items()]
    if pca_errors is not None:
        curves.append((labels[1], *_errors(pca_errors, "pca_errors", len(k)), "s--"))
    ax = new_axes(ax, (5.6, 4.2))
    for i, (name, mean, std, style) in enumerate(curves):
        colour = "k" if style == "s--" else f"C{i}"
        if std is None:
            ax.plot(k, mean, style, color=colour, label=name, ms=5)
        else:
            ax.errorbar(k, mean, yerr=std, fmt=style, color=colour, label=name, ms=5, capsize=3)
    means = [c[1] for c in curves]
    if logy if logy is not None else (_positive(means) and np.max(means) > 10 * np.min(means)):
        _log_y(ax)
    if logx if logx is not None else k.max() > 8 * k.min():
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    if len(k) <= 12:
        ax.set_xticks(k, [f"{v:g}" for v in k])
    ax.set_xlabel("code size")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("reconstruction error vs code size" if title is None else title)
    return finish(ax.figure, path, dpi)
