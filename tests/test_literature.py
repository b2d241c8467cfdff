"""Results from the autoencoder literature, reproduced on real data.

The data are scikit-learn's bundled handwritten digits (1797 images of 8x8
pixels, 64 features) scaled to [0, 1], split once by a seeded permutation
into 1300 training and 497 held-out images. Every error below is measured on
the held-out images, which no model saw during training.

* Baldi & Hornik (1989): a linear autoencoder trained on squared error
  reaches PCA's reconstruction error and spans PCA's principal subspace.
* Nonlinear autoencoders compress better than PCA at the same code size
  (Hinton & Salakhutdinov 2006).
* A KL-sparse autoencoder drives the mean activation of its sigmoid code to
  the target rho (Ng, UFLDL sparse-autoencoder notes).
* A denoising autoencoder maps corrupted inputs closer to the clean ones
  (Vincent et al. 2008, 2010), unlike a plain autoencoder of the same size.

Each assertion message reports the measured numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyae import Autoencoder, AutoencoderModule, Tensor, fit_module, no_grad
from tinyae.nn.noise import gaussian_noise, masking_noise
from tinyae.optim import Adam, CosineLR

N_TRAIN = 1300


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X = datasets.load_digits().data / 16.0
    assert X.shape == (1797, 64) and X.min() == 0.0 and X.max() == 1.0
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:N_TRAIN]], X[order[N_TRAIN:]]


def mse(a, b):
    return float(np.mean((a - b) ** 2))


def pca_heldout(X_train, X_test, k):
    """Fitted PCA and its held-out reconstruction MSE with ``k`` components."""
    decomposition = pytest.importorskip("sklearn.decomposition")
    pca = decomposition.PCA(n_components=k).fit(X_train)
    return pca, mse(pca.inverse_transform(pca.transform(X_test)), X_test)


# -- Baldi & Hornik (1989): linear autoencoder = PCA ------------------------------------


@pytest.mark.parametrize("k", [2, 5, 10])
def test_linear_autoencoder_matches_pca(digits, k):
    X_train, X_test = digits
    pca, pca_mse = pca_heldout(X_train, X_test, k)

    # The loss surface of a linear autoencoder has saddles (one per choice of
    # k eigenvectors) but no spurious minima. A large learning rate with
    # minibatch noise leaves the saddles quickly; cosine annealing then removes
    # the noise floor that a constant rate would leave.
    epochs = 40
    rng = np.random.default_rng(0)
    model = AutoencoderModule(64, k, (), activation="linear", code_activation="linear",
                              output_activation="linear", loss="mse", rng=rng)
    optimizer = Adam(model.parameters(), lr=5e-2, schedule=CosineLR(t_max=epochs))
    history = fit_module(model, X_train, optimizer=optimizer, epochs=epochs, batch_size=32, rng=rng)
    model.eval()
    with no_grad():
        recon = model(Tensor(X_test)).to_numpy()
    ae_mse = mse(recon, X_test)
    ratio = ae_mse / pca_mse

    # The decoder's rows span the code's image in input space: compare that
    # subspace with PCA's through the principal angles between them.
    W = model.decoder.layers[-1].W.to_numpy()  # (k, 64)
    assert W.shape == (k, 64)
    Q, _ = np.linalg.qr(W.T)  # orthonormal basis of the decoder's row space
    cosines = np.clip(np.linalg.svd(pca.components_ @ Q, compute_uv=False), 0.0, 1.0)
    captured = float(np.mean(cosines ** 2))  # share of PCA's subspace inside the decoder's
    largest_angle = float(np.degrees(np.arccos(cosines.min())))

    report = (f"k={k}: held-out MSE linear AE {ae_mse:.6f} vs PCA {pca_mse:.6f} (ratio {ratio:.4f}); "
              f"PCA subspace captured {captured:.5f}, largest principal angle {largest_angle:.2f} deg; "
              f"final train loss {history['loss'][-1]:.6f}")
    print(report)
    assert ratio <= 1.02, report
    # Held out, the AE can be a hair better than PCA (PCA is optimal on the
    # training set only), but not by much.
    assert ratio >= 0.98, report
    assert captured > 0.99, report
    assert largest_angle < 10.0, report


# -- nonlinear beats linear at k = 2 ------------------------------------------------------


def test_nonlinear_autoencoder_beats_pca_at_two_codes(digits):
    X_train, X_test = digits
    _, pca_mse = pca_heldout(X_train, X_test, 2)
    ae = Autoencoder(n_components=2, hidden_sizes=(64,), activation="relu", output_activation="sigmoid",
                     loss="bce", learning_rate=1e-2, epochs=40, batch_size=32, random_state=0).fit(X_train)
    ae_mse = mse(ae.reconstruct(X_test), X_test)
    report = (f"k=2: held-out MSE nonlinear AE (64-64-2-64-64, relu, sigmoid/bce) {ae_mse:.5f} vs PCA {pca_mse:.5f} "
              f"({100 * (1 - ae_mse / pca_mse):.1f}% lower)")
    print(report)
    assert ae_mse <= 0.9 * pca_mse, report
    assert ae.transform(X_test).shape == (len(X_test), 2)


# -- KL sparsity (UFLDL) ---------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.05, 0.1])
def test_kl_sparse_autoencoder_mean_activation_near_rho(digits, rho):
    X_train, X_test = digits
    common = dict(n_components=32, code_activation="sigmoid", output_activation="sigmoid", loss="bce",
                  learning_rate=1e-2, epochs=30, batch_size=64, random_state=0)
    sparse = Autoencoder(sparsity=("kl", rho, 3.0), **common).fit(X_train)
    H = sparse.transform(X_test)
    mean, per_unit = float(H.mean()), H.mean(axis=0)
    recon_mse = mse(sparse.reconstruct(X_test), X_test)
    baseline_mse = mse(np.broadcast_to(X_train.mean(axis=0), X_test.shape), X_test)

    dense = Autoencoder(**common).fit(X_train)
    dense_mean = float(dense.transform(X_test).mean())

    report = (f"rho={rho}: held-out mean code activation {mean:.4f} (|mean - rho| / rho = {abs(mean - rho) / rho:.3f}); "
              f"per-unit means in [{per_unit.min():.4f}, {per_unit.max():.4f}]; without the penalty {dense_mean:.4f}; "
              f"held-out MSE {recon_mse:.4f} vs predicting the mean {baseline_mse:.4f}")
    print(report)
    assert abs(mean - rho) <= 0.25 * rho, report
    # Every unit, not just the average, is pulled to rho (the penalty is per unit).
    assert np.all(np.abs(per_unit - rho) <= 0.5 * rho), report
    # The penalty is what does it: an unpenalised sigmoid code is far denser.
    assert dense_mean > 2 * rho, report
    # And the sparse code still carries information about the input.
    assert recon_mse < 0.9 * baseline_mse, report


# -- denoising (Vincent et al.) ----------------------------------------------------------------


@pytest.mark.parametrize("noise, loss", [(("masking", 0.3), "bce"), (("gaussian", 0.2), "mse")],
                         ids=["masking-0.3", "gaussian-0.2"])
def test_denoising_autoencoder_removes_noise(digits, noise, loss):
    X_train, X_test = digits
    corrupt = {"masking": masking_noise, "gaussian": gaussian_noise}[noise[0]]
    X_noisy = corrupt(X_test, noise[1], np.random.default_rng(123))
    common = dict(n_components=64, code_activation="sigmoid", output_activation="sigmoid", loss=loss,
                  learning_rate=1e-2, epochs=30, batch_size=64, random_state=0)
    dae = Autoencoder(noise=noise, **common).fit(X_train)
    plain = Autoencoder(**common).fit(X_train)

    noisy_mse = mse(X_noisy, X_test)
    dae_mse = mse(dae.reconstruct(X_noisy), X_test)
    plain_mse = mse(plain.reconstruct(X_noisy), X_test)
    report = (f"{noise}: held-out MSE to the clean images: noisy input {noisy_mse:.5f}, "
              f"denoising AE output {dae_mse:.5f} ({dae_mse / noisy_mse:.3f} of it), "
              f"plain AE output {plain_mse:.5f} ({plain_mse / noisy_mse:.3f})")
    print(report)
    assert dae_mse < 0.6 * noisy_mse, report
    # A plain autoencoder with as many code units as inputs learns close to the
    # identity and passes much of the noise through; the denoising criterion
    # is what makes the difference.
    assert dae_mse < 0.9 * plain_mse, report
