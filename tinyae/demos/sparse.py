"""Sparse autoencoders: UFLDL's edge filters on natural images, and sparse codes as features.

Part 1 reproduces the sparse autoencoder exercise of Ng's UFLDL tutorial:
10,000 8x8 patches of a whitened natural photograph, a 64-25-64 network with
sigmoid hidden and output units, KL sparsity with target rho = 0.01 and
weight beta = 3, weight decay lambda = 1e-4, UFLDL's uniform initialisation,
and -- as in the exercise -- full-batch L-BFGS (600 iterations here; the
exercise used 400). The encoder filters come out as localised, oriented
edges. L-BFGS is written here in a few lines on top of tinyae's gradients;
minibatch Adam on the same objective, shown for comparison, stops at a
higher loss with blurrier filters.

UFLDL's cost is ``(1/m) sum_i 1/2 ||x_i - x_hat_i||^2 + ...``, half the
*sum* of squares over the 64 pixels; tinyae's ``loss="mse"`` is the *mean*
over pixels, 1/32 of it. So UFLDL's beta = 3 and lambda = 1e-4 are
``sparsity=("kl", 0.01, 3 / 32)`` and ``weight_decay=1e-4 / 32`` here: the
same objective divided by 32 (with beta = 3 and lambda = 1e-4 taken literally
the penalties are 32 times stronger and the units learn nothing).

Part 2 uses sparse codes as features: sparse autoencoders (64 -> 32 sigmoid
units with rho = 0.1, and 64 -> 100 with rho = 0.05) are trained on the
digits without labels, and a logistic regression on their standardised codes
is scored on held-out digits with 50, 200 or all 1347 training labels --
against raw pixels, PCA with 32 components (PCA has at most 64, and the last
few of the digits have zero variance) and a 100-unit autoencoder without
the penalty.

Writes to ``out_dir/sparse/``: ``filters_ufldl.png``, ``ufldl_training.png``,
``digits_accuracy.png``, ``digits_decoder_basis.png``, ``results.md`` and
``results.json``.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from tinyae import Autoencoder, AutoencoderModule, Tensor, fit_module, no_grad
from tinyae.demos._report import DemoRun, Table, digits_split, one_blas_thread
from tinyae.optim import Adam, CosineLR
from tinyae.pca import PCA

__all__ = ["main", "lbfgs"]

NAME = "sparse"
RHO, BETA, LAMBDA = 0.01, 3.0, 1e-4  # UFLDL's values, for its cost (1/2 the sum of squares over pixels)


def lbfgs(module: Any, X: np.ndarray, iterations: int = 400, memory: int = 10,
          callback: Callable[[int, dict], None] | None = None) -> dict[str, list[float]]:
    """Minimise ``sum(module.loss_terms(X))`` over the whole of ``X`` with L-BFGS.

    The two-loop recursion of Nocedal & Wright (Algorithm 7.4) with the last
    ``memory`` steps, and a backtracking (Armijo) line search from step 1.
    Gradients come from tinyae's reverse mode. The parameters of ``module``
    are updated in place; returns every loss term per iteration.
    """
    params = module.parameters()
    like = params[0]
    shapes = [p.data.shape for p in params]
    splits = np.cumsum([p.data.size for p in params])[:-1]
    Xt = Tensor(np.asarray(X, dtype=like.dtype))

    def assign(theta: np.ndarray) -> None:
        for p, chunk, shape in zip(params, np.split(theta, splits), shapes):
            p.data[...] = chunk.reshape(shape)

    def evaluate(theta: np.ndarray) -> tuple[float, np.ndarray, dict]:
        assign(theta)
        terms = module.loss_terms(Xt)
        total = None
        for t in terms.values():
            total = t if total is None else total + t
        for p in params:
            p.grad = None
        total.backward()
        grad = np.concatenate([np.asarray(p.grad, dtype=np.float64).ravel() for p in params])
        logs = {k: t.item() for k, t in terms.items()}
        logs["loss"] = total.item()
        return logs["loss"], grad, logs

    module.train()
    theta = np.concatenate([p.data.ravel() for p in params]).astype(np.float64)
    f, g, logs = evaluate(theta)
    history: dict[str, list[float]] = {k: [v] for k, v in logs.items()}
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    for it in range(1, iterations + 1):
        # Two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian estimate.
        q = -g
        alphas = []
        for s, y in zip(reversed(S), reversed(Y)):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q = q - a * y
        q = q * ((S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) if S else 1.0 / max(np.abs(g).sum(), 1.0))
        for (s, y), a in zip(zip(S, Y), reversed(alphas)):
            q = q + s * (a - (y @ q) / (y @ s))
        slope = g @ q
        if slope >= 0:  # not a descent direction: restart from steepest descent
            S.clear()
            Y.clear()
            q, slope = -g, -(g @ g)
        step = 1.0
        while True:
            new = theta + step * q
            f_new, g_new, logs = evaluate(new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        s, y = new - theta, g_new - g
        if s @ y > 1e-12:  # keep the pair only when it has positive curvature
            S.append(s)
            Y.append(y)
            if len(S) > memory:
                S.pop(0)
                Y.pop(0)
        theta, f, g = new, f_new, g_new
        for k, v in logs.items():
            history[k].append(v)
        if callback is not None:
            callback(it, logs)
    assign(theta)
    module.eval()
    return history


def _codes(module: Any, X: np.ndarray) -> np.ndarray:
    like = module.parameters()[0]
    with no_grad():
        return module.encode(Tensor(np.asarray(X, dtype=like.dtype))).to_numpy()


def _centred(module: Any) -> np.ndarray:
    """Encoder filters (n_in, n_out) with each filter's mean removed.

    UFLDL's preprocessing gives every patch the same mean (0.5), so a
    filter's mean adds the same amount to its unit's input for every patch:
    a second bias. Removing it shows what the unit responds to.
    """
    W = module.encoder[0].W.to_numpy()
    return W - W.mean(axis=0)


def _ufldl_module(seed: int) -> AutoencoderModule:
    n_features = 64
    scale = n_features / 2  # UFLDL's 1/2 sum of squares over pixels = 32 x tinyae's mean squared error
    return AutoencoderModule(64, 25, (), activation="sigmoid", code_activation="sigmoid",
                             output_activation="sigmoid", loss="mse", sparsity=("kl", RHO, BETA / scale),
                             weight_decay=LAMBDA / scale, init="ufldl_uniform", rng=seed, dtype=np.float64)


def main(out_dir: Any = "tinyae-demo-output", quick: bool = False, seed: int = 0) -> dict:
    """Run the demo; returns the results (also written to ``out_dir/sparse/results.json``)."""
    with one_blas_thread():
        return _run(DemoRun(NAME, out_dir, quick=quick, seed=seed))


def _run(run: DemoRun) -> dict:
    import matplotlib.pyplot as plt

    from tinyae.datasets.images import natural_image_patches
    from tinyae.plots import filter_mosaic, loss_curves

    # Load the digits first: without scikit-learn this fails now, not after training.
    X_train, X_test, y_train, y_test = digits_split(NAME, run.seed)

    # -- part 1: UFLDL sparse autoencoder on natural image patches ---------------------
    n_patches = 2000 if run.quick else 10000
    iterations = 100 if run.quick else 600
    P = natural_image_patches(n_patches, 8, whiten="ufldl", random_state=run.seed)
    run.log(f"{n_patches} whitened 8x8 patches of matplotlib's grace_hopper.jpg, in [0.1, 0.9]")
    module = _ufldl_module(run.seed)

    def progress(it: int, logs: dict) -> None:
        if it % 100 == 0:
            run.log(f"L-BFGS iteration {it}: loss {logs['loss']:.6f}")

    t0 = time.perf_counter()
    hist = lbfgs(module, P, iterations, callback=progress)
    lbfgs_seconds = time.perf_counter() - t0
    H = _codes(module, P)
    unit_means = H.mean(axis=0)
    rows_ufldl = [["L-BFGS, full batch", f"{iterations} iterations", hist["loss"][-1], hist["reconstruction"][-1],
                   float(H.mean()), float(unit_means.min()), float(unit_means.max()), lbfgs_seconds]]
    run.log(f"L-BFGS done: mean hidden activation {H.mean():.4f} (rho = {RHO})")

    adam = None
    if not run.quick:
        adam_module = _ufldl_module(run.seed)
        adam_epochs, adam_batch = 150, 256
        t0 = time.perf_counter()
        adam_hist = fit_module(adam_module, P, optimizer=Adam(adam_module.parameters(), lr=3e-2,
                                                              schedule=CosineLR(t_max=adam_epochs)),
                               epochs=adam_epochs, batch_size=adam_batch, rng=np.random.default_rng(run.seed))
        adam_module.eval()
        adam_seconds = time.perf_counter() - t0
        H_adam = _codes(adam_module, P)
        with no_grad():
            terms = adam_module.loss_terms(Tensor(P))
        adam_loss = sum(t.item() for t in terms.values())
        adam = {"loss": adam_loss, "reconstruction": terms["reconstruction"].item(),
                "mean_activation": float(H_adam.mean()), "epochs": adam_epochs, "seconds": adam_seconds}
        rows_ufldl.append([f"Adam, batch {adam_batch}, lr 3e-2 cosine", f"{adam_epochs} epochs", adam_loss,
                           adam["reconstruction"], float(H_adam.mean()), float(H_adam.mean(axis=0).min()),
                           float(H_adam.mean(axis=0).max()), adam_seconds])
        run.log(f"Adam done: loss {adam_loss:.6f} (L-BFGS {hist['loss'][-1]:.6f})")

    if adam is None:
        fig = filter_mosaic(_centred(module), title=f"sparse AE filters (L-BFGS, {iterations} iterations; "
                                                    "each filter's mean removed)")
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 4.8), layout="constrained")
        filter_mosaic(_centred(module), ax=ax1,
                      title=f"L-BFGS, {iterations} iterations\nloss {hist['loss'][-1]:.5f}")
        filter_mosaic(_centred(adam_module), ax=ax2,
                      title=f"Adam, {adam['epochs']} epochs (same objective)\nloss {adam['loss']:.5f}")
        fig.suptitle("UFLDL sparse autoencoder 64-25-64 on whitened natural image patches: encoder filters\n"
                     "(each filter's mean removed: every patch has mean 0.5, so it only shifts the bias)",
                     fontsize=10)
    run.save(fig, "filters_ufldl.png")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.2), layout="constrained")
    loss_curves(hist, ax=ax1)
    ax1.set_xlabel("L-BFGS iteration")
    ax1.set_title("objective terms (tinyae scale: UFLDL's / 32)")
    order = np.argsort(unit_means)
    ax2.bar(np.arange(len(unit_means)), unit_means[order], color="C0")
    ax2.axhline(RHO, color="k", ls="--", lw=1.0, label=f"target rho = {RHO}")
    ax2.set_xlabel("hidden unit (sorted)")
    ax2.set_ylabel("mean activation over the patches")
    ax2.set_title(f"mean hidden activation {H.mean():.4f}")
    ax2.legend()
    run.save(fig, "ufldl_training.png")

    # -- part 2: sparse codes as features for a classifier -----------------------------
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    epochs = 20 if run.quick else 60
    common = dict(code_activation="sigmoid", output_activation="sigmoid", loss="bce", learning_rate=1e-2,
                  epochs=epochs, batch_size=64, dtype="float32", random_state=run.seed)
    pca = PCA(n_components=32).fit(X_train)
    sparse32 = Autoencoder(n_components=32, sparsity=("kl", 0.1, 3.0), **common).fit(X_train)
    sparse100 = Autoencoder(n_components=100, sparsity=("kl", 0.05, 3.0), **common).fit(X_train)
    features = {
        "raw pixels": (64, X_train, X_test),
        "PCA, 32 components": (32, pca.transform(X_train), pca.transform(X_test)),
        "sparse AE, 32 units (rho 0.1)": (32, sparse32.transform(X_train), sparse32.transform(X_test)),
        "sparse AE, 100 units (rho 0.05)": (100, sparse100.transform(X_train), sparse100.transform(X_test)),
    }
    if not run.quick:
        plain = Autoencoder(n_components=100, **common).fit(X_train)
        features["AE without penalty, 100 units"] = (100, plain.transform(X_train), plain.transform(X_test))
    H100 = sparse100.transform(X_test)
    H32 = sparse32.transform(X_test)
    run.log(f"digits autoencoders trained; held-out mean code activation {H32.mean():.4f} (32 units, rho = 0.1), "
            f"{H100.mean():.4f} (100 units, rho = 0.05)")

    budgets = [50, len(X_train)] if run.quick else [50, 200, len(X_train)]
    repeats = 2 if run.quick else 5
    rng = np.random.default_rng(run.seed + 1)
    subsets = {n: [rng.choice(len(X_train), n, replace=False) for _ in range(repeats)] if n < len(X_train)
               else [np.arange(len(X_train))] for n in budgets}
    accuracy: dict[str, dict[str, list[float]]] = {}
    with one_blas_thread():  # again: scikit-learn brought SciPy's own BLAS
        for name, (_, F_train, F_test) in features.items():
            accuracy[name] = {"mean": [], "std": []}
            for n in budgets:
                scores = []
                for idx in subsets[n]:
                    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
                    scores.append(clf.fit(F_train[idx], y_train[idx]).score(F_test, y_test))
                accuracy[name]["mean"].append(float(np.mean(scores)))
                accuracy[name]["std"].append(float(np.std(scores)))
    run.log("logistic regressions done")

    fig, ax = plt.subplots(figsize=(6.8, 4.4), layout="constrained")
    for i, (name, acc) in enumerate(accuracy.items()):
        ax.errorbar(budgets, acc["mean"], yerr=acc["std"], fmt="o-", ms=4, capsize=3, label=name,
                    color="k" if name == "raw pixels" else f"C{i}")
    ax.set_xscale("log")
    ax.set_xticks(budgets, [str(n) for n in budgets])
    ax.set_xlabel("labelled training digits")
    ax.set_ylabel("held-out accuracy (450 digits)")
    ax.set_title("logistic regression on features learned without labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    run.save(fig, "digits_accuracy.png")

    # The decoder rows: the image each code unit adds to the output (pre-sigmoid). The
    # encoder filters are less telling here: many border pixels are always 0, so their
    # weights keep their random initial values.
    fig = filter_mosaic(sparse100.model_.decoder[-1].W.to_numpy().T, image_shape=(8, 8),
                        title="digits: decoder basis images of the sparse AE (100 units, rho 0.05)")
    run.save(fig, "digits_decoder_basis.png")

    # -- tables ------------------------------------------------------------------------
    t1 = Table("UFLDL sparse autoencoder (64-25-64) on natural image patches",
               ["optimizer", "length", "loss", "reconstruction MSE", "mean activation", "min unit mean",
                "max unit mean", "seconds"], rows_ufldl,
               note=f"Target rho = {RHO}. Loss = MSE + (beta/32) KL + (lambda/32)/2 sum W^2 with UFLDL's "
                    f"beta = {BETA:g}, lambda = {LAMBDA:g}: UFLDL's cost divided by 32.")
    cols = ["features", "size"] + [f"accuracy, {n} labels" for n in budgets]
    rows = [[name, features[name][0]] + [f"{m:.3f} ± {s:.3f}" if len(subsets[n]) > 1 else f"{m:.3f}"
                                         for m, s, n in zip(acc["mean"], acc["std"], budgets)]
            for name, acc in accuracy.items()]
    t2 = Table("Digits: logistic regression on learned features (held-out accuracy)", cols, rows,
               note=f"Mean ± std over {repeats} random label subsets; features standardised; "
                    "autoencoders trained on all training images without labels.")
    results = {
        "rho": RHO, "beta": BETA, "lambda": LAMBDA, "n_patches": n_patches, "lbfgs_iterations": iterations,
        "lbfgs_loss": hist["loss"][-1], "lbfgs_reconstruction": hist["reconstruction"][-1],
        "mean_activation": float(H.mean()), "unit_mean_activation": unit_means, "lbfgs_seconds": lbfgs_seconds,
        "adam": adam, "digits_mean_activation": {"32 units, rho 0.1": float(H32.mean()),
                                                  "100 units, rho 0.05": float(H100.mean())},
        "label_budgets": budgets, "accuracy": accuracy,
    }
    return run.finish([t1, t2], results)
