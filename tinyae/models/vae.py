"""A variational autoencoder (Kingma & Welling 2014) with a Gaussian encoder.

    mu, logvar = encoder(x)                       q(z|x) = N(mu, diag(exp(logvar)))
    z          = mu + exp(logvar / 2) * eps       eps ~ N(0, I)  (reparameterisation)
    x_hat      = output_activation(decoder(z))
    -ELBO      = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))

``logvar`` is a *log-variance*: the sampler's standard deviation is
``exp(logvar / 2)``, the same quantity the analytic KL uses. (Using
``exp(logvar)`` as the standard deviation, while the KL treats ``logvar`` as
a log-variance, is a known bug in several public implementations.)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tinyae import ops
from tinyae import functional as F
from tinyae.models.autoencoder import check_loss, decoder_output_activation, reconstruction_loss
from tinyae.nn import penalties
from tinyae.nn.layers import Dense, Sequential
from tinyae.nn.module import Module
from tinyae.tensor import Tensor, as_tensor

__all__ = ["VAEModule"]


class VAEModule(Module):
    """Gaussian-encoder VAE with an MLP encoder and decoder.

    Parameters
    ----------
    n_features : int
    n_components : int
        Latent dimension.
    hidden_sizes : sequence of int, default (64,)
        Encoder hidden widths; the decoder mirrors them.
    activation : str, default "relu"
    output_activation : str, default "sigmoid"
    loss : {"bce", "mse"}
        ``"bce"``: Bernoulli likelihood; ``"mse"``: Gaussian likelihood with
        variance 1/2, i.e. ``Σ (x - x_hat)²`` per sample up to a constant.
    beta : float, default 1
        Weight of the KL term (β-VAE; 1 is the ELBO).
    init, rng, dtype : as for :class:`tinyae.nn.Dense`.

    Notes
    -----
    Both loss terms are summed over features and averaged over the batch,
    so ``reconstruction + kl`` is the negative ELBO per sample (for β = 1).
    """

    def __init__(self, n_features: int, n_components: int, hidden_sizes: Sequence[int] = (64,),
                 activation: str = "relu", output_activation: str = "sigmoid", loss: str = "bce",
                 beta: float = 1.0, init: str | None = None, rng: Any = None, dtype: Any = np.float64) -> None:
        check_loss(loss, output_activation)
        if not beta >= 0:
            raise ValueError(f"beta: expected a number >= 0, got {beta!r}")
        rng = np.random.default_rng(rng)
        sizes = [n_features, *hidden_sizes]
        self.encoder = Sequential(*[Dense(sizes[i], sizes[i + 1], activation, init, rng=rng, dtype=dtype)
                                    for i in range(len(hidden_sizes))])
        width = sizes[-1]
        self.mu_head = Dense(width, n_components, "linear", "glorot_uniform", rng=rng, dtype=dtype)
        self.logvar_head = Dense(width, n_components, "linear", "glorot_uniform", rng=rng, dtype=dtype)
        rs = [n_components, *reversed(hidden_sizes), n_features]
        acts = [activation] * len(hidden_sizes) + [decoder_output_activation(loss, output_activation)]
        self.decoder = Sequential(*[Dense(rs[i], rs[i + 1], acts[i], init, rng=rng, dtype=dtype)
                                    for i in range(len(acts))])
        self.output_activation = output_activation
        self._out = F.get_activation(output_activation)
        self.loss = loss
        self.beta = float(beta)

    def encode(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)``, each of shape (n_samples, n_components)."""
        hidden = self.encoder(X)
        return self.mu_head(hidden), self.logvar_head(hidden)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, rng: np.random.Generator) -> Tensor:
        """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` from ``rng``."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        eps = mu.backend.xp.asarray(rng.standard_normal(mu.shape), dtype=mu.dtype)
        return mu + ops.exp(logvar * 0.5) * as_tensor(eps, like=mu)

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction for latent points ``z``, shape (n_samples, n_features)."""
        out = self.decoder(z)
        return out if self.loss == "mse" else self._out(out)

    def forward(self, X: Tensor) -> Tensor:
        """Deterministic reconstruction through the posterior mean ``z = mu``."""
        return self.decode(self.encode(X)[0])

    def loss_terms(self, X: Tensor, rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        """``{"reconstruction": E_q[-log p(x|z)] (one sample), "kl": beta * KL}`` per sample."""
        if rng is None:
            raise ValueError("rng: expected a numpy.random.Generator to sample z, got None")
        mu, logvar = self.encode(X)
        out = self.decoder(self.reparameterize(mu, logvar, rng))
        recon = reconstruction_loss(self.loss, out, X, per_sample=True)
        return {"reconstruction": recon, "kl": penalties.gaussian_kl(mu, logvar) * self.beta}
