"""The main demo: compress INS spectra, then predict whole spectra from structure.

1. Generate powder INS spectra of random Born-von Karman crystals: 2-D maps
   S(|Q|, E) (64 x 128) and 1-D neutron-weighted densities of states (256
   bins), each with its crystal parameters (:mod:`tinyae.datasets.spectra`).
2. Compress both with autoencoders and with PCA at equal code sizes, and
   compare held-out reconstruction errors.
3. Learn crystal parameters -> latent code with a small tinyae MLP and decode
   the predicted code: a 2-D spectrum predicted from structure alone, scored
   against the true spectrum and against the same pipeline through PCA's
   latent space.

The 64 x 128 maps are binned 2 x 2 (to 32 x 64) before compression so the
whole demo fits in 3 minutes on 2 cores. Intensities are compared on a
square-root scale (sqrt S, as one plots
powder maps): a few bright low-energy pixels would otherwise dominate every
squared error. Both models see the same centred sqrt-intensities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyae.demos._report import DemoRun, Table, one_blas_thread
from tinyae.estimators import Autoencoder
from tinyae.pca import PCA
from tinyae.regression import MLPRegressor

__all__ = ["main", "CONFIG"]

# Sizes and training budgets: "full" stays under 3 minutes on 2 cores.
CONFIG = {
    "full": {"n_samples": 1500, "sizes": (2, 4, 8), "epochs_2d": 50, "epochs_1d": 120, "epochs_reg": 300},
    "quick": {"n_samples": 120, "sizes": (2, 8), "epochs_2d": 5, "epochs_1d": 10, "epochs_reg": 30},
}


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))


def _bin2x2(maps: np.ndarray) -> np.ndarray:
    """(n, n_q, n_e) -> (n, n_q // 2, n_e // 2) by averaging 2 x 2 blocks."""
    n, nq, ne = maps.shape
    return maps[:, :nq // 2 * 2, :ne // 2 * 2].reshape(n, nq // 2, 2, ne // 2, 2).mean(axis=(2, 4))


def _autoencoder(k: int, epochs: int, hidden: tuple[int, ...], seed: int) -> Autoencoder:
    return Autoencoder(n_components=k, hidden_sizes=hidden, activation="elu", code_activation="linear",
                       output_activation="linear", loss="mse", epochs=epochs, batch_size=32,
                       learning_rate=1e-3, dtype="float32", random_state=seed)


def _compress(run: DemoRun, name: str, train: np.ndarray, test: np.ndarray, sizes: tuple[int, ...],
              epochs: int, hidden: tuple[int, ...]) -> tuple[dict, dict, dict]:
    """Held-out MSE of AE and PCA per code size; returns (ae_mse, pca_mse, fitted AEs)."""
    ae_mse, pca_mse, models = {}, {}, {}
    for k in sizes:
        pca = PCA(k).fit(train)
        pca_mse[k] = _mse(pca.inverse_transform(pca.transform(test)), test)
        ae = _autoencoder(k, epochs, hidden, run.seed).fit(train)
        ae_mse[k] = _mse(ae.reconstruct(test), test)
        models[k] = (ae, pca)
        run.log(f"{name}: k={k:2d}  AE {ae_mse[k]:.3e}  PCA {pca_mse[k]:.3e}  ratio {ae_mse[k] / pca_mse[k]:.3f}")
    return ae_mse, pca_mse, models


def main(out_dir: Any = "tinyae-demo-output", quick: bool = False, seed: int = 0) -> dict:
    """Run the spectra demo; writes figures and results to ``out_dir/spectra/``."""
    # One BLAS thread: these GEMMs are small, and busy-waiting BLAS threads made
    # training several times slower whenever another process shared the cores.
    with one_blas_thread():
        return _run(out_dir, quick, seed)


def _run(out_dir: Any, quick: bool, seed: int) -> dict:
    from tinyae import plots
    from tinyae.datasets.spectra import generate_spectra

    run = DemoRun("spectra", out_dir, quick=quick, seed=seed)
    cfg = CONFIG["quick" if quick else "full"]
    ds = generate_spectra(cfg["n_samples"], random_state=seed, kind="both",
                          cache_dir=Path(out_dir) / ".cache", progress=True)
    n = len(ds.params)
    run.log(f"{n} spectra of random crystals: maps {ds.X_2d.shape[1:]}, DOS {ds.X_1d.shape[1:]}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(n // 5, 4)
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])

    binned = _bin2x2(np.asarray(ds.X_2d, dtype=np.float32))
    maps = np.sqrt(binned.reshape(n, -1))
    dos = np.sqrt(np.asarray(ds.X_1d, dtype=np.float32))
    mean_2d, mean_1d = maps[train_idx].mean(0), dos[train_idx].mean(0)
    tr2, te2 = maps[train_idx] - mean_2d, maps[test_idx] - mean_2d
    tr1, te1 = dos[train_idx] - mean_1d, dos[test_idx] - mean_1d

    ae2, pca2, models2 = _compress(run, "2-D", tr2, te2, cfg["sizes"], cfg["epochs_2d"], (256,))
    ae1, pca1, models1 = _compress(run, "1-D", tr1, te1, cfg["sizes"], cfg["epochs_1d"], (64,))

    # Structure -> latent code -> whole 2-D spectrum, through each latent space and code size.
    params_tr, params_te = ds.params[train_idx], ds.params[test_idx]
    reg = dict(hidden_sizes=(64, 64), epochs=cfg["epochs_reg"], batch_size=32, learning_rate=1e-3, random_state=seed)
    baseline = _mse(np.zeros_like(te2), te2)  # the mean training spectrum (data are centred)
    predicted, structure = {}, {}
    for s in cfg["sizes"]:
        ae_s, pca_s = models2[s]
        pred_ae = ae_s.inverse_transform(MLPRegressor(**reg).fit(params_tr, ae_s.transform(tr2)).predict(params_te))
        pred_pca = pca_s.inverse_transform(MLPRegressor(**reg).fit(params_tr, pca_s.transform(tr2)).predict(params_te))
        predicted[s] = pred_ae
        structure[s] = {"autoencoder latent": _mse(pred_ae, te2), "PCA latent": _mse(pred_pca, te2)}
        run.log(f"structure -> spectrum, k={s}: via AE latent {structure[s]['autoencoder latent']:.3e}, "
                f"via PCA latent {structure[s]['PCA latent']:.3e}, mean spectrum {baseline:.3e}")
    k = min(cfg["sizes"], key=lambda s: structure[s]["autoencoder latent"])
    ae, pred_ae = models2[k][0], predicted[k]

    shape = binned.shape[1:]
    pairs = lambda c: c[:len(c) // 2 * 2].reshape(-1, 2).mean(axis=1)  # noqa: E731  (bin centres of 2x2 bins)
    axes = {"q_axis": pairs(ds.q_centers), "e_axis": pairs(ds.e_centers)}
    to_maps = lambda flat: (flat + mean_2d).reshape(-1, *shape)  # noqa: E731
    show = np.arange(min(3, len(test_idx)))
    run.save(plots.error_vs_code_size(list(cfg["sizes"]), [ae2[s] for s in cfg["sizes"]], [pca2[s] for s in cfg["sizes"]],
                                      title="2-D maps: held-out MSE (sqrt S)"), "error_vs_code_size_2d.png")
    run.save(plots.error_vs_code_size(list(cfg["sizes"]), [ae1[s] for s in cfg["sizes"]], [pca1[s] for s in cfg["sizes"]],
                                      title="1-D DOS: held-out MSE (sqrt S)"), "error_vs_code_size_1d.png")
    run.save(plots.reconstruction_grid(to_maps(te2[show]), to_maps(ae.reconstruct(te2[show])), kind="map2d",
                                       titles=[f"test crystal {i}" for i in show], **axes), "reconstructions_2d.png")
    run.save(plots.reconstruction_grid(to_maps(te2[show]), to_maps(pred_ae[show]), kind="map2d",
                                       titles=[f"crystal {i}, predicted from structure (k={k})" for i in show], **axes),
             "predicted_from_structure_2d.png")
    ae_1d = models1[k if k in models1 else cfg["sizes"][-1]][0]
    run.save(plots.reconstruction_grid(te1[:6] + mean_1d, ae_1d.reconstruct(te1[:6]) + mean_1d, kind="spectrum1d", n=6,
                                       e_axis=ds.dos_e_centers), "reconstructions_1d.png")
    run.save(plots.loss_curves(ae.history_), "loss_curves_2d.png")

    table = Table(
        "Held-out reconstruction MSE at equal code size (sqrt-intensity, centred)",
        ["code size k", "2-D AE", "2-D PCA", "2-D AE/PCA", "1-D AE", "1-D PCA", "1-D AE/PCA"],
        [[s, ae2[s], pca2[s], ae2[s] / pca2[s], ae1[s], pca1[s], ae1[s] / pca1[s]] for s in cfg["sizes"]],
        note=f"{len(train_idx)} training and {len(test_idx)} held-out crystals.",
    )
    table_structure = Table(
        "2-D spectrum predicted from crystal parameters, held-out MSE",
        ["code size k", "via AE latent", "via PCA latent", "AE/PCA", "mean spectrum"],
        [[s, structure[s]["autoencoder latent"], structure[s]["PCA latent"],
          structure[s]["autoencoder latent"] / structure[s]["PCA latent"], baseline] for s in cfg["sizes"]],
        note="crystal parameters -> MLP -> latent code -> decoder -> S(|Q|, E); "
             f"the figure shows k = {k}, the AE's best.",
    )
    results = {"ae_2d": ae2, "pca_2d": pca2, "ae_1d": ae1, "pca_1d": pca1, "structure": structure,
               "structure_baseline": baseline, "k_figure": k,
               "n_train": len(train_idx), "n_test": len(test_idx)}
    return run.finish([table, table_structure], results)
