"""Figures for autoencoders, with matplotlib only.

Every function returns the ``matplotlib.figure.Figure`` it drew (it never
calls ``plt.show()``), draws into a given ``ax=`` (one-panel plots) or an
empty ``fig=`` (Figure or SubFigure, multi-panel plots) when passed, and
saves to ``path=`` when given::

    from tinyae import plots
    fig = plots.reconstruction_grid(X[:8], ae.reconstruct(X[:8]), image_shape=(8, 8))
    plots.loss_curves(ae, path="loss.png")

Samples come in three kinds: ``"image"`` (greyscale images), ``"spectrum1d"``
(1-D spectra, (n, n_bins)) and ``"map2d"`` (S(|Q|, E) maps, (n, n_q, n_e),
drawn with |Q| across and E up).

New figures come from ``pyplot`` (so ``plt.show()`` and notebooks show them);
close them with ``plt.close(fig)`` when making many. Without a display
matplotlib uses its "Agg" backend by itself.
"""

from tinyae.plots.curves import error_vs_code_size, loss_curves
from tinyae.plots.latent import latent_scatter, latent_traversal
from tinyae.plots.samples import denoising_triplets, reconstruction_grid
from tinyae.plots.weights import decoder_basis_1d, filter_mosaic

__all__ = [
    "reconstruction_grid", "denoising_triplets", "filter_mosaic", "decoder_basis_1d",
    "latent_scatter", "latent_traversal", "loss_curves", "error_vs_code_size",
]
