"""The smallest end-to-end tinyae example: a linear autoencoder trained by hand.

Builds h = x W1 + b1, x_hat = h W2 + b2 from Tensor ops, checks the gradient
of the loss against finite differences, then trains with plain gradient
descent and compares the reconstruction error with PCA's (a linear
autoencoder with MSE can at best match PCA).

Run:  python demos/quickstart.py
"""

from __future__ import annotations

import numpy as np

import tinyae as ta
from tinyae import functional as F


def main(seed: int = 0, steps: int = 3000, lr: float = 0.1) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    # 200 points near a 2-D plane in 8-D space.
    basis = rng.standard_normal((2, 8))
    X = rng.standard_normal((200, 2)) @ basis + 0.05 * rng.standard_normal((200, 8))
    X = X - X.mean(axis=0)

    W1 = ta.Tensor(0.1 * rng.standard_normal((8, 2)), requires_grad=True)
    b1 = ta.Tensor(np.zeros(2), requires_grad=True)
    W2 = ta.Tensor(0.1 * rng.standard_normal((2, 8)), requires_grad=True)
    b2 = ta.Tensor(np.zeros(8), requires_grad=True)
    params = [W1, b1, W2, b2]

    def loss_fn(W1, b1, W2, b2):
        h = X @ W1 + b1
        return F.mse_loss(h @ W2 + b2, X)

    ta.gradcheck(loss_fn, *params, mode="directional")
    print("gradcheck: analytic gradients match finite differences")

    for step in range(steps):
        loss = loss_fn(*params)
        for p in params:
            p.zero_grad()
        loss.backward()
        with ta.no_grad():
            for p in params:
                p.data -= lr * p.grad
        if step % 500 == 0:
            print(f"step {step:5d}  mse {loss.item():.5f}")

    # PCA's reconstruction error with 2 components: the optimum for a linear AE.
    _, s, _ = np.linalg.svd(X, full_matrices=False)
    pca_mse = float((s[2:] ** 2).sum() / X.size)
    final = loss_fn(*params).item()
    print(f"linear autoencoder mse {final:.5f}  vs  PCA (k=2) mse {pca_mse:.5f}")
    return {"autoencoder_mse": final, "pca_mse": pca_mse}


if __name__ == "__main__":
    main()
