"""The deterministic autoencoder family as one configurable module.

Undercomplete, deep, linear (PCA-like), sparse (L1 or KL), denoising,
contractive and tied-weight autoencoders differ only in their layers and in
the terms added to the reconstruction loss, so one module covers them all:

    h     = encoder(x_in)            x_in = noise(x) in training, else x
    z     = decoder(h)               the output's pre-activation (logits)
    x_hat = output_activation(z)
    loss  = reconstruction(x_hat, x) + sparsity(h) + contractive(h, W) + weight_decay(W)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tinyae import functional as F
from tinyae.nn import penalties
from tinyae.nn.layers import Dense, Sequential, TiedDense
from tinyae.nn.module import Module
from tinyae.nn.noise import make_noise
from tinyae.tensor import Tensor

__all__ = ["AutoencoderModule", "parse_sparsity", "reconstruction_loss", "LOSSES"]

LOSSES = ("mse", "bce")


def parse_sparsity(spec: Any) -> dict[str, Any] | None:
    """Normalise a sparsity spec to ``{"kind": "l1", "weight": w}`` or ``{"kind": "kl", "rho": r, "beta": b}``.

    Accepted: ``None``; ``("l1", weight)``; ``("kl", rho, beta)``; or those as dicts.
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop("kind", None)
    elif isinstance(spec, (tuple, list)) and spec:
        kind, *args = spec
        names = {"l1": ("weight",), "kl": ("rho", "beta")}.get(kind, ())
        if len(args) != len(names):
            raise ValueError(f"sparsity: expected ('l1', weight) or ('kl', rho, beta), got {spec!r}")
        spec = dict(zip(names, args))
    else:
        raise ValueError(f"sparsity: expected None, ('l1', weight) or ('kl', rho, beta), got {spec!r}")
    if kind == "l1" and set(spec) == {"weight"} and spec["weight"] >= 0:
        return {"kind": "l1", "weight": float(spec["weight"])}
    if kind == "kl" and set(spec) == {"rho", "beta"} and 0 < spec["rho"] < 1 and spec["beta"] >= 0:
        return {"kind": "kl", "rho": float(spec["rho"]), "beta": float(spec["beta"])}
    raise ValueError(
        f"sparsity: expected ('l1', weight >= 0) or ('kl', 0 < rho < 1, beta >= 0), got kind={kind!r} {spec!r}"
    )


def reconstruction_loss(kind: str, z: Tensor, x_hat: Tensor, X: Tensor, reduction: str = "mean") -> Tensor:
    """``"mse"`` on the output ``x_hat``; ``"bce"`` on the logits ``z`` (stable).

    ``reduction="sum_features"`` sums over features and averages over samples
    (the per-sample negative log-likelihood a VAE's ELBO needs).
    """
    per_element = F.mse_loss(x_hat, X, "none") if kind == "mse" else F.binary_cross_entropy_with_logits(z, X, "none")
    if reduction == "sum_features":
        return per_element.sum() * (1.0 / X.shape[0])
    return per_element.mean()


def check_loss(loss: str, output_activation: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
    if loss == "bce" and output_activation != "sigmoid":
        raise ValueError(f"loss: 'bce' needs output_activation='sigmoid', got output_activation={output_activation!r}")


class AutoencoderModule(Module):
    """An autoencoder ``x -> h -> x_hat`` with optional penalties and input noise.

    Parameters
    ----------
    n_features : int
        Input width.
    n_components : int
        Code size (the width of ``h``).
    hidden_sizes : sequence of int, default ()
        Encoder hidden widths; the decoder mirrors them.
    activation : str, default "sigmoid"
        Hidden-layer activation (``"linear"`` for a linear autoencoder).
    code_activation : str, optional
        Activation of the code layer; defaults to ``activation``.
    output_activation : str, default "sigmoid"
    loss : {"mse", "bce"}
    tied_weights : bool, default False
        Decoder layers reuse the encoder's weights transposed.
    sparsity : spec, optional
        ``("l1", weight)`` or ``("kl", rho, beta)``, see :func:`parse_sparsity`.
    contractive : float, default 0
        Weight λ of the contractive penalty (one-layer encoders only).
    weight_decay : float, default 0
        Weight λ of ``(λ/2) Σ ||W||²``.
    noise : spec, optional
        Input corruption for a denoising autoencoder, see :func:`tinyae.nn.noise.make_noise`.
    init : str, optional
    rng : numpy.random.Generator or int, optional
    dtype : {'float64', 'float32'}
    """

    def __init__(self, n_features: int, n_components: int, hidden_sizes: Sequence[int] = (),
                 activation: str = "sigmoid", code_activation: str | None = None,
                 output_activation: str = "sigmoid", loss: str = "mse", tied_weights: bool = False,
                 sparsity: Any = None, contractive: float = 0.0, weight_decay: float = 0.0,
                 noise: Any = None, init: str | None = None, rng: Any = None, dtype: Any = np.float64) -> None:
        check_loss(loss, output_activation)
        F.get_activation(output_activation)
        rng = np.random.default_rng(rng)
        code_activation = code_activation or activation
        sizes = [n_features, *hidden_sizes, n_components]
        acts = [activation] * len(hidden_sizes) + [code_activation]
        enc = [Dense(sizes[i], sizes[i + 1], acts[i], init, rng=rng, dtype=dtype) for i in range(len(acts))]
        # Decoder layer i undoes encoder layer (n-1-i); its activation is the
        # hidden one, except the last, which emits logits for the output activation.
        dec_acts = [activation] * len(hidden_sizes) + ["linear"]
        if tied_weights:
            dec = [TiedDense(layer, a) for layer, a in zip(reversed(enc), dec_acts)]
        else:
            rs = sizes[::-1]
            dec = [Dense(rs[i], rs[i + 1], dec_acts[i], init, rng=rng, dtype=dtype) for i in range(len(dec_acts))]
        self.encoder = Sequential(*enc)
        self.decoder = Sequential(*dec)
        self.output_activation = output_activation
        self._out = F.get_activation(output_activation)
        self.loss = loss
        self.sparsity = parse_sparsity(sparsity)
        if contractive < 0 or weight_decay < 0:
            raise ValueError(f"contractive, weight_decay: expected >= 0, got {contractive!r}, {weight_decay!r}")
        if contractive and hidden_sizes:
            raise ValueError(
                f"contractive: the closed-form penalty needs a one-layer encoder, got hidden_sizes={tuple(hidden_sizes)}"
            )
        self.contractive = float(contractive)
        self.weight_decay = float(weight_decay)
        self.noise = make_noise(noise)

    def encode(self, X: Tensor) -> Tensor:
        """The code ``h``, shape (n_samples, n_components)."""
        return self.encoder(X)

    def decode_logits(self, h: Tensor) -> Tensor:
        """The output's pre-activation ``z``, shape (n_samples, n_features)."""
        return self.decoder(h)

    def decode(self, h: Tensor) -> Tensor:
        """The reconstruction ``x_hat = output_activation(z)``."""
        return self._out(self.decode_logits(h))

    def forward(self, X: Tensor) -> Tensor:
        return self.decode(self.encode(X))

    def loss_terms(self, X: Tensor, rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        """Every term of the objective on a batch ``X`` (the clean target).

        In training mode with noise configured, the encoder sees ``noise(X)``
        drawn from ``rng``; the reconstruction is always scored against ``X``.
        """
        X_in = X
        if self.training and self.noise is not None:
            if rng is None:
                raise ValueError("rng: expected a numpy.random.Generator to draw input noise, got None")
            X_in = Tensor(self.noise(X.data, rng))
        h = self.encode(X_in)
        z = self.decode_logits(h)
        terms = {"reconstruction": reconstruction_loss(self.loss, z, self._out(z), X)}
        if self.sparsity is not None and self.sparsity["kind"] == "l1":
            terms["sparsity"] = penalties.l1_activity(h, self.sparsity["weight"])
        elif self.sparsity is not None:
            terms["sparsity"] = penalties.kl_sparsity(h, self.sparsity["rho"], self.sparsity["beta"])
        if self.contractive:
            code = self.encoder[0]
            terms["contractive"] = penalties.contractive(h, code.W, code.activation, self.contractive)
        if self.weight_decay:
            terms["weight_decay"] = penalties.weight_decay(
                [p for name, p in self.named_parameters() if name.endswith("W")], self.weight_decay
            )
        return terms
