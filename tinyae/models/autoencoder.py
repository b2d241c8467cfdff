"""The deterministic autoencoder family as one configurable module.

Undercomplete, deep, linear (PCA-like), sparse (L1 or KL), denoising,
contractive and tied-weight autoencoders differ only in their layers and in
the terms added to the reconstruction loss, so one module covers them all:

    h     = encoder(x_in)            x_in = noise(x) in training, else x
    x_hat = output_activation(decoder(h))   (BCE scores the logits decoder(h))
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
from tinyae.tensor import Tensor, as_tensor

__all__ = ["AutoencoderModule", "parse_sparsity", "reconstruction_loss", "decoder_output_activation", "LOSSES"]

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


def reconstruction_loss(kind: str, out: Tensor, X: Tensor, per_sample: bool = False) -> Tensor:
    """``"mse"`` of the reconstruction ``out``, or ``"bce"`` of the logits ``out`` (stable).

    The mean over all elements; with ``per_sample=True`` the sum over features
    averaged over samples (the per-sample negative log-likelihood of a VAE).
    """
    loss = F.mse_loss(out, X) if kind == "mse" else F.binary_cross_entropy_with_logits(out, X)
    return loss * float(X.shape[1]) if per_sample else loss


def decoder_output_activation(loss: str, output_activation: str) -> str:
    """The last decoder layer's activation: the output activation itself for
    MSE (fused into the layer), none for BCE (which wants logits)."""
    return output_activation if loss == "mse" else "linear"


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
        # hidden one, except the last (see decoder_output_activation).
        dec_acts = [activation] * len(hidden_sizes) + [decoder_output_activation(loss, output_activation)]
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
        if contractive and code_activation not in penalties.CONTRACTIVE_ACTIVATIONS:
            raise ValueError(
                f"contractive: the closed form supports code activations {sorted(penalties.CONTRACTIVE_ACTIVATIONS)}, "
                f"got code_activation={code_activation!r}"
            )
        if self.sparsity is not None and self.sparsity["kind"] == "kl" and code_activation != "sigmoid":
            raise ValueError(
                f"sparsity: KL sparsity needs codes in (0, 1), i.e. code_activation='sigmoid', got {code_activation!r}"
            )
        self.contractive = float(contractive)
        self.weight_decay = float(weight_decay)
        self.noise = make_noise(noise)

    def encode(self, X: Tensor) -> Tensor:
        """The code ``h``, shape (n_samples, n_components)."""
        return self.encoder(X)

    def decode(self, h: Tensor) -> Tensor:
        """The reconstruction ``x_hat``, shape (n_samples, n_features)."""
        out = self.decoder(h)
        return out if self.loss == "mse" else self._out(out)

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
            X_in = as_tensor(self.noise(X.data, rng), like=X)
        h = self.encode(X_in)
        terms = {"reconstruction": reconstruction_loss(self.loss, self.decoder(h), X)}
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
