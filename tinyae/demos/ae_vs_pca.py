"""Autoencoder versus PCA on handwritten digits: reconstruction error against code size.

A nonlinear autoencoder (64-128-k-128-64, ReLU, sigmoid output, cross-entropy)
and PCA compress scikit-learn's 8x8 digits to k = 2, 5, 10, 20 numbers; both
are scored by the mean squared error of their reconstructions of 450
held-out images. A linear autoencoder (64-k-64, no activations, squared
error) is trained at every k too: it can only match PCA, the rank-k
least-squares optimum (Baldi & Hornik 1989), and it does, while the
nonlinear one does better (Hinton & Salakhutdinov 2006).

Writes to ``out_dir/ae_vs_pca/``: ``error_vs_code_size.png``,
``reconstructions_k2.png`` (AE and PCA reconstructions of one held-out image
per digit), ``codes_2d.png`` (the 2-D AE codes next to PCA's 2-D projection,
coloured by digit), ``loss_curves.png``, ``results.md`` and ``results.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyae import Autoencoder
from tinyae.demos._report import DemoRun, Table, cosine_lr, digits_split, one_blas_thread
from tinyae.pca import PCA

__all__ = ["main"]

NAME = "ae_vs_pca"


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def _subspace_captured(decoder_W: np.ndarray, components: np.ndarray) -> tuple[float, float]:
    """Share of PCA's subspace inside the span of the decoder rows, and the largest principal angle (degrees)."""
    Q, _ = np.linalg.qr(np.asarray(decoder_W, np.float64).T)
    cosines = np.clip(np.linalg.svd(components @ Q, compute_uv=False), 0.0, 1.0)
    return float(np.mean(cosines ** 2)), float(np.degrees(np.arccos(cosines.min())))


def main(out_dir: Any = "tinyae-demo-output", quick: bool = False, seed: int = 0) -> dict:
    """Run the demo; returns the results (also written to ``out_dir/ae_vs_pca/results.json``)."""
    with one_blas_thread():
        return _run(DemoRun(NAME, out_dir, quick=quick, seed=seed))


def _run(run: DemoRun) -> dict:
    import matplotlib.pyplot as plt

    from tinyae.plots import error_vs_code_size, latent_scatter, loss_curves, reconstruction_grid

    X_train, X_test, y_train, y_test = digits_split(NAME, run.seed)
    sizes = [2, 10] if run.quick else [2, 5, 10, 20]
    epochs = 30 if run.quick else 150
    lin_epochs = 30 if run.quick else 40
    run.log(f"digits: {len(X_train)} training and {len(X_test)} held-out images of 8x8 pixels in [0, 1]")

    ae_mse, pca_mse, lin_mse = [], [], []
    models: dict[int, tuple[Autoencoder, Autoencoder, PCA]] = {}
    for k in sizes:
        ae = Autoencoder(n_components=k, hidden_sizes=(128,), activation="relu", output_activation="sigmoid",
                         loss="bce", learning_rate=3e-3, epochs=epochs, batch_size=32, dtype="float32",
                         random_state=run.seed)
        ae.fit(X_train, validation_data=X_test)
        # A linear AE has saddles but no bad minima: a large rate escapes them,
        # the cosine decay then removes the minibatch noise floor.
        lin = Autoencoder(n_components=k, activation="linear", code_activation="linear", output_activation="linear",
                          loss="mse", learning_rate=5e-2, epochs=lin_epochs, batch_size=32, dtype="float32",
                          random_state=run.seed)
        lin.set_params(callbacks=[cosine_lr(lin, lin_epochs, 5e-2)])
        lin.fit(X_train, validation_data=X_test)
        pca = PCA(n_components=k).fit(X_train)
        models[k] = (ae, lin, pca)
        ae_mse.append(_mse(ae.reconstruct(X_test), X_test))
        lin_mse.append(_mse(lin.reconstruct(X_test), X_test))
        pca_mse.append(_mse(pca.inverse_transform(pca.transform(X_test)), X_test))
        run.log(f"k={k:2d}: held-out MSE autoencoder {ae_mse[-1]:.5f}, PCA {pca_mse[-1]:.5f}, "
                f"linear autoencoder {lin_mse[-1]:.5f}")

    ae2, lin2, pca2 = models[2]
    captured, angle = _subspace_captured(lin2.model_.decoder[-1].W.to_numpy(), pca2.components_)

    # -- figures -----------------------------------------------------------------------
    fig = error_vs_code_size(sizes, {"nonlinear autoencoder": ae_mse, "linear autoencoder": lin_mse}, pca_mse,
                             title="digits: held-out reconstruction error vs code size")
    run.save(fig, "error_vs_code_size.png")

    idx = [int(np.flatnonzero(y_test == d)[0]) for d in range(10)]  # one held-out image per digit
    fig = plt.figure(figsize=(13.0, 4.8), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    reconstruction_grid(X_test, ae2.reconstruct(X_test), image_shape=(8, 8), indices=idx, fig=top,
                        titles=[f"digit {y_test[i]}" for i in idx])
    top.suptitle(f"nonlinear autoencoder, k = 2 (held-out MSE {ae_mse[0]:.4f})", fontsize=11)
    reconstruction_grid(X_test, pca2.inverse_transform(pca2.transform(X_test)), image_shape=(8, 8), indices=idx,
                        fig=bottom)
    bottom.suptitle(f"PCA, k = 2 (held-out MSE {pca_mse[0]:.4f})", fontsize=11)
    run.save(fig, "reconstructions_k2.png")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.8), layout="constrained")
    latent_scatter(ae2.transform(X_test), y_test, label_name="digit", ax=ax1,
                   title="nonlinear autoencoder: 2-D codes (held-out)")
    latent_scatter(pca2.transform(X_test), y_test, label_name="digit", ax=ax2,
                   title="PCA: first two components (held-out)")
    ax2.set_xlabel("PC1")
    ax2.set_ylabel("PC2")
    run.save(fig, "codes_2d.png")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.2), layout="constrained")
    loss_curves(ae2, keys=["loss"], ax=ax1)
    ax1.set_title("nonlinear autoencoder, k = 2 (cross-entropy)")
    loss_curves(lin2, keys=["loss"], ax=ax2)
    ax2.axhline(pca_mse[0], color="k", ls=":", lw=1.0, label="PCA, held-out")
    ax2.legend(fontsize=8)
    ax2.set_title("linear autoencoder, k = 2 (squared error)")
    run.save(fig, "loss_curves.png")

    # -- table -------------------------------------------------------------------------
    rows = [[k, a, p, a / p, l, l / p] for k, a, p, l in zip(sizes, ae_mse, pca_mse, lin_mse)]
    table = Table("Held-out reconstruction MSE (450 digits)",
                  ["k", "AE MSE", "PCA MSE", "AE / PCA", "linear AE MSE", "linear AE / PCA"], rows)
    notes = [
        "AE: 64-128-k-128-64, ReLU, sigmoid output, cross-entropy, Adam lr 3e-3, "
        f"{epochs} epochs; linear AE: 64-k-64, squared error, Adam lr 5e-2 with cosine decay, {lin_epochs} epochs.",
        f"Linear AE at k=2: decoder rows capture {100 * captured:.2f}% of PCA's 2-D subspace "
        f"(largest principal angle {angle:.1f} degrees).",
    ]
    results = {
        "sizes": sizes, "ae_mse": ae_mse, "pca_mse": pca_mse, "linear_ae_mse": lin_mse,
        "ratio": [a / p for a, p in zip(ae_mse, pca_mse)],
        "linear_ratio": [l / p for l, p in zip(lin_mse, pca_mse)],
        "linear_k2_subspace_captured": captured, "linear_k2_max_angle_deg": angle,
        "epochs": epochs, "n_train": len(X_train), "n_test": len(X_test),
    }
    return run.finish([table], results, notes)
