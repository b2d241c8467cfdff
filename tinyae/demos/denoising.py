"""Denoising autoencoders (Vincent et al. 2008) on digits and on 1-D spectra.

A denoising autoencoder sees a corrupted input and is trained to reproduce
the clean one. Here:

* digits, masking noise (30 % of the pixels set to 0) and salt-and-pepper
  noise (20 % of the pixels set to 0 or 1): a 64-128-64 network with sigmoid
  units, trained with that noise on the training images;
* 1-D spectra: neutron-weighted phonon densities of states of random
  crystals (:func:`tinyae.datasets.spectra.generate_spectra` with
  ``kind="1d"``, cached under ``out_dir/denoising/cache``; the quick run
  uses the instant :func:`~tinyae.datasets.spectra.peak_spectra`), each
  scaled to a maximum of 1, with Gaussian noise of standard deviation 0.05;
  a 256-128-32-128-256 ReLU network with a linear output.

Each denoising autoencoder is compared with a plain autoencoder of the same
shape trained on clean data and fed the same noisy held-out inputs: the
denoising criterion, not the bottleneck, is what removes the noise.

Writes to ``out_dir/denoising/``: ``denoising_digits.png``,
``denoising_spectra.png``, ``loss_curves.png``, ``results.md`` and
``results.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyae import Autoencoder
from tinyae.demos._report import DemoRun, Table, digits_split, one_blas_thread
from tinyae.nn.noise import gaussian_noise, masking_noise, salt_and_pepper_noise

__all__ = ["main"]

NAME = "denoising"
DIGIT_NOISES = {"masking": 0.3, "salt_and_pepper": 0.2}
SPECTRA_SIGMA = 0.05


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def _corrupt(kind: str, X: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "masking":
        return masking_noise(X, level, rng)
    if kind == "salt_and_pepper":
        return salt_and_pepper_noise(X, level, rng, low=0.0, high=1.0)
    return gaussian_noise(X, level, rng)


def main(out_dir: Any = "tinyae-demo-output", quick: bool = False, seed: int = 0) -> dict:
    """Run the demo; returns the results (also written to ``out_dir/denoising/results.json``)."""
    with one_blas_thread():
        return _run(DemoRun(NAME, out_dir, quick=quick, seed=seed))


def _run(run: DemoRun) -> dict:
    import matplotlib.pyplot as plt

    from tinyae.datasets.spectra import generate_spectra, peak_spectra
    from tinyae.plots import denoising_triplets, loss_curves

    X_train, X_test, y_train, y_test = digits_split(NAME, run.seed)
    rng = np.random.default_rng(run.seed + 1)  # the held-out corruption
    rows, results = [], {"digits": {}, "spectra": {}}

    # -- digits ----------------------------------------------------------------------------
    epochs = 25 if run.quick else 80
    common = dict(n_components=128, activation="sigmoid", code_activation="sigmoid", output_activation="sigmoid",
                  loss="bce", learning_rate=1e-2, epochs=epochs, batch_size=64, dtype="float32",
                  random_state=run.seed)
    plain = Autoencoder(**common).fit(X_train)
    daes, noisy_sets = {}, {}
    for kind, level in DIGIT_NOISES.items():
        dae = Autoencoder(noise=(kind, level), **common).fit(X_train)
        noisy = _corrupt(kind, X_test, level, rng)
        daes[kind], noisy_sets[kind] = dae, noisy
        m = {"noisy": _mse(noisy, X_test), "denoised": _mse(dae.reconstruct(noisy), X_test),
             "plain_ae": _mse(plain.reconstruct(noisy), X_test), "dae_on_clean": _mse(dae.reconstruct(X_test), X_test),
             "plain_ae_on_clean": _mse(plain.reconstruct(X_test), X_test)}
        results["digits"][kind] = m
        rows.append([f"digits, {kind.replace('_', '-')} {level:g}", m["noisy"], m["denoised"], m["plain_ae"],
                     m["denoised"] / m["noisy"]])
        run.log(f"digits, {kind} {level}: held-out MSE noisy {m['noisy']:.4f}, denoised {m['denoised']:.4f}, "
                f"plain AE {m['plain_ae']:.4f}")

    idx = [int(np.flatnonzero(y_test == d)[0]) for d in range(10)]
    fig = plt.figure(figsize=(13.0, 8.6), layout="constrained")
    for sub, (kind, level) in zip(fig.subfigures(len(DIGIT_NOISES), 1), DIGIT_NOISES.items()):
        noisy = noisy_sets[kind]
        denoising_triplets(noisy, daes[kind].reconstruct(noisy), X_test, image_shape=(8, 8), indices=idx, fig=sub)
        m = results["digits"][kind]
        sub.suptitle(f"{kind.replace('_', '-')} noise {level:g}: held-out MSE noisy {m['noisy']:.4f} -> "
                     f"denoised {m['denoised']:.4f} (plain AE {m['plain_ae']:.4f})", fontsize=11)
    run.save(fig, "denoising_digits.png")

    # -- spectra -------------------------------------------------------------------------
    if run.quick:
        # Computing phonon spectra takes about a second per 100; the quick run uses the
        # instant synthetic peak spectra instead (a few hundred DOS are too few to learn from).
        n_spectra, label = 2500, "peak spectra"
        ps = peak_spectra(n_spectra, 256, random_state=run.seed)
        S, e_axis, what = ps.X, ps.e_centers, "synthetic peak spectra"
    else:
        n_spectra, label = 1200, "DOS spectra"
        ds = generate_spectra(n_spectra, random_state=run.seed, kind="1d", cache_dir=run.path / "cache",
                              progress=False)
        S, e_axis, what = ds.X_1d, ds.dos_e_centers, "phonon DOS spectra of random crystals"
    S = np.asarray(S, dtype=np.float64)
    S = S / S.max(axis=1, keepdims=True)  # each spectrum to a maximum of 1
    e_axis = np.asarray(e_axis, dtype=np.float64)
    n_test = n_spectra // 5
    order = np.random.default_rng(run.seed).permutation(n_spectra)
    S_train, S_test = S[np.sort(order[n_test:])], S[np.sort(order[:n_test])]
    run.log(f"{n_spectra} {what} ({S.shape[1]} bins, {e_axis[0]:.1f}-{e_axis[-1]:.1f} meV), {n_test} held out")
    s_epochs, s_lr = (30, 2e-3) if run.quick else (200, 1e-3)
    s_common = dict(n_components=32, hidden_sizes=(128,), activation="relu", output_activation="linear", loss="mse",
                    learning_rate=s_lr, epochs=s_epochs, batch_size=32, dtype="float32", random_state=run.seed)
    s_dae = Autoencoder(noise=("gaussian", SPECTRA_SIGMA), **s_common).fit(S_train, validation_data=S_test)
    s_plain = Autoencoder(**s_common).fit(S_train)
    S_noisy = _corrupt("gaussian", S_test, SPECTRA_SIGMA, rng)
    S_denoised = s_dae.reconstruct(S_noisy)
    m = {"noisy": _mse(S_noisy, S_test), "denoised": _mse(S_denoised, S_test),
         "plain_ae": _mse(s_plain.reconstruct(S_noisy), S_test),
         "dae_on_clean": _mse(s_dae.reconstruct(S_test), S_test),
         "plain_ae_on_clean": _mse(s_plain.reconstruct(S_test), S_test)}
    results["spectra"]["gaussian"] = m
    rows.append([f"{label}, Gaussian sigma {SPECTRA_SIGMA:g}", m["noisy"], m["denoised"], m["plain_ae"],
                 m["denoised"] / m["noisy"]])
    run.log(f"spectra, gaussian {SPECTRA_SIGMA}: held-out MSE noisy {m['noisy']:.5f}, denoised {m['denoised']:.5f}, "
            f"plain AE {m['plain_ae']:.5f}")

    fig = denoising_triplets(S_noisy, S_denoised, S_test, kind="spectrum1d", n=8, e_axis=e_axis,
                             y_label="intensity (max 1)")
    fig.suptitle(f"Gaussian noise sigma {SPECTRA_SIGMA:g} on held-out {what}: MSE noisy "
                 f"{m['noisy']:.5f} -> denoised {m['denoised']:.5f} (plain AE {m['plain_ae']:.5f})")
    run.save(fig, "denoising_spectra.png")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.2), layout="constrained")
    loss_curves(daes["masking"], keys=["loss"], ax=ax1)
    ax1.set_title(f"digits DAE, masking {DIGIT_NOISES['masking']:g} (cross-entropy)")
    loss_curves(s_dae, keys=["loss"], ax=ax2)
    ax2.set_title(f"spectra DAE, Gaussian {SPECTRA_SIGMA:g} (squared error; val = clean held-out)")
    run.save(fig, "loss_curves.png")

    table = Table("Held-out MSE to the clean data",
                  ["data, noise", "MSE(noisy, clean)", "MSE(denoised, clean)", "MSE(plain AE on noisy, clean)",
                   "denoised / noisy"], rows)
    notes = [
        f"Digits: 64-128-64, sigmoid, cross-entropy, Adam lr 1e-2, {epochs} epochs, trained on "
        f"{len(X_train)} images with the noise; {len(X_test)} held out.",
        f"Spectra ({what}): 256-128-32-128-256, ReLU, linear output, squared error, Adam lr {s_lr:g}, "
        f"{s_epochs} epochs, "
        f"{len(S_train)} training spectra; {n_test} held out.",
        "Plain AE: the same network trained on clean data, fed the same noisy held-out inputs.",
    ]
    results.update(n_spectra=n_spectra, spectra_data=what, digits_epochs=epochs, spectra_epochs=s_epochs,
                   digit_noises=DIGIT_NOISES, spectra_sigma=SPECTRA_SIGMA)
    return run.finish([table], results, notes)
