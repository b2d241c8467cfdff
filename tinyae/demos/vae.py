"""A variational autoencoder (Kingma & Welling 2014) with a 2-D latent space on handwritten digits.

The encoder (64-256-2+2, ReLU) gives the mean and log-variance of a Gaussian
posterior q(z|x); the decoder (2-256-64, sigmoid output) a Bernoulli p(x|z).
Training maximises the evidence lower bound per image,
ELBO = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)), i.e. minimises the
cross-entropy summed over the 64 pixels plus the KL term.

Because the prior is N(0, I), decoding draws from it gives new digits, and
the decoded latent plane shows how the digits are laid out.

Writes to ``out_dir/vae/``: ``prior_samples.png`` (decoded draws from the
prior), ``latent_manifold.png`` (the decoded grid of Gaussian quantiles),
``interpolation.png`` (decoding along the line between two digits' posterior
means), ``latent_means.png`` (posterior means of held-out digits by label,
with the interpolation paths), ``loss_curves.png``, ``results.md`` and
``results.json``.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

from tinyae import VariationalAutoencoder
from tinyae.demos._report import DemoRun, Table, digits_split, one_blas_thread
from tinyae.training import evaluate_terms

__all__ = ["main"]

NAME = "vae"
PAIRS = ((0, 1), (4, 9), (3, 7))  # digit classes interpolated between


def _mosaic(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """Tile ``rows * cols`` 8x8 images into one array, separated by ``pad`` pixels of 0."""
    h, w = images.shape[1:]
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad))
    for k, img in enumerate(images[:rows * cols]):
        r, c = divmod(k, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = img
    return out


def main(out_dir: Any = "tinyae-demo-output", quick: bool = False, seed: int = 0) -> dict:
    """Run the demo; returns the results (also written to ``out_dir/vae/results.json``)."""
    with one_blas_thread():
        return _run(DemoRun(NAME, out_dir, quick=quick, seed=seed))


def _run(run: DemoRun) -> dict:
    import matplotlib.pyplot as plt

    from tinyae.plots import latent_scatter, loss_curves

    X_train, X_test, y_train, y_test = digits_split(NAME, run.seed)
    epochs = 30 if run.quick else 250
    vae = VariationalAutoencoder(n_components=2, hidden_sizes=(256,), activation="relu", output_activation="sigmoid",
                                 loss="bce", learning_rate=1e-3, epochs=epochs, batch_size=32, dtype="float32",
                                 random_state=run.seed)
    vae.fit(X_train, validation_data=X_test)
    run.log(f"VAE trained: {epochs} epochs on {len(X_train)} digits")

    terms = {}
    for split, X in (("train", X_train), ("held-out", X_test)):
        t = evaluate_terms(vae.model_, X.astype(np.float32), 1024, np.random.default_rng(run.seed))
        terms[split] = {"reconstruction": t["reconstruction"], "kl": t["kl"], "elbo": -t["loss"]}
    elbo_test = float(vae.score(X_test))
    mu_test = vae.transform(X_test)

    # -- samples from the prior ----------------------------------------------------------
    side = 10
    samples = vae.sample(side * side, random_state=run.seed).reshape(-1, 8, 8)
    fig, ax = plt.subplots(figsize=(6.0, 6.3), layout="constrained")
    ax.imshow(_mosaic(samples, side, side), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{side * side} digits decoded from z ~ N(0, I)")
    run.save(fig, "prior_samples.png")

    # -- the decoded latent plane ----------------------------------------------------------
    n = 15
    q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.03, 0.97, n)])
    zz = np.array([[a, b] for b in q[::-1] for a in q])  # rows from high z[1] (top) to low
    grid = vae.inverse_transform(zz).reshape(-1, 8, 8)
    fig, ax = plt.subplots(figsize=(7.0, 7.2), layout="constrained")
    step = 9  # 8 pixels + 1 of padding per tile
    ax.imshow(_mosaic(grid, n, n), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ticks = [1 + step * i + 3.5 for i in range(0, n, 2)]
    ax.set_xticks(ticks, [f"{v:.1f}" for v in q[::2]])
    ax.set_yticks(ticks, [f"{v:.1f}" for v in q[::-1][::2]])
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"decoded latent plane: {n} x {n} Gaussian quantiles (3 % to 97 %)")
    run.save(fig, "latent_manifold.png")

    # -- interpolation between two digits ----------------------------------------------------
    steps = 10
    t = np.linspace(0.0, 1.0, steps)
    paths = []
    fig, axes = plt.subplots(len(PAIRS), steps + 2, figsize=(1.1 * (steps + 2), 1.3 * len(PAIRS) + 0.5),
                             layout="constrained", squeeze=False)
    for row, (a, b) in zip(axes, PAIRS):
        ia, ib = (int(np.flatnonzero(y_test == d)[0]) for d in (a, b))
        path = (1 - t)[:, None] * mu_test[ia] + t[:, None] * mu_test[ib]
        paths.append((a, b, path))
        decoded = vae.inverse_transform(path).reshape(-1, 8, 8)
        images = [X_test[ia].reshape(8, 8), *decoded, X_test[ib].reshape(8, 8)]
        for j, (ax, img) in enumerate(zip(row, images)):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j in (0, len(images) - 1):
                for spine in ax.spines.values():
                    spine.set_color("C3")
                    spine.set_linewidth(2)
        row[0].set_ylabel(f"{a} -> {b}")
    axes[0, 0].set_title("input", fontsize=9)
    axes[0, -1].set_title("input", fontsize=9)
    for j in range(steps):
        axes[0, j + 1].set_title(f"t={t[j]:.2f}", fontsize=8)
    fig.suptitle("decoding (1 - t) mu(x_a) + t mu(x_b): interpolation between held-out digits in latent space")
    run.save(fig, "interpolation.png")

    # -- posterior means ----------------------------------------------------------------
    fig = latent_scatter(mu_test, y_test, label_name="digit",
                         title=f"posterior means mu(x) of {len(X_test)} held-out digits\n"
                               "(black: the interpolation paths, from digit to digit)")
    ax = fig.axes[0]
    for a, b, path in paths:
        ax.plot(path[:, 0], path[:, 1], "k.-", lw=1.0, ms=3)
        ax.annotate(f"{a}", path[0], fontsize=9, weight="bold", xytext=(-9, 3), textcoords="offset points")
        ax.annotate(f"{b}", path[-1], fontsize=9, weight="bold", xytext=(3, 3), textcoords="offset points")
    run.save(fig, "latent_means.png")

    fig = loss_curves(vae, separate=True, title="VAE loss terms per image (nats): solid train, dashed held-out")
    run.save(fig, "loss_curves.png")

    # -- table -------------------------------------------------------------------------
    rows = [[split, v["reconstruction"], v["kl"], v["elbo"]] for split, v in terms.items()]
    table = Table("VAE on digits (2-D latent): loss terms per image, in nats",
                  ["data", "reconstruction (BCE summed over 64 pixels)", "KL(q(z|x) || N(0, I))", "ELBO"], rows,
                  note="One posterior sample per image (seeded). ELBO = -(reconstruction + KL); higher is better.")
    results = {
        "terms": terms, "elbo_test": elbo_test, "epochs": epochs,
        "final_train_history": {k: vae.history_[k][-1] for k in vae.history_.keys()},
        "mu_test_mean": mu_test.mean(axis=0), "mu_test_std": mu_test.std(axis=0),
    }
    notes = [f"vae.score(held-out) = {elbo_test:.3f} nats per image (mean ELBO).",
             "Encoder 64-256-(2+2), decoder 2-256-64, ReLU, sigmoid output; Adam lr 1e-3, batch 32, "
             f"{epochs} epochs, {len(X_train)} training digits."]
    return run.finish([table], results, notes)
