"""Regularisation penalties for autoencoders, as differentiable scalar Tensors.

Each penalty is a function of Tensors that returns a 0-d Tensor to add to the
reconstruction loss; ``backward()`` on the total then trains against it.
``weight_decay``, ``contractive`` and ``gaussian_kl`` are compositions of the
ops in :mod:`tinyae.ops` and :mod:`tinyae.functional`, so their gradients come
from the engine. The two activity penalties, ``l1_activity`` and
``kl_sparsity``, are single ops whose value and gradient one backend kernel
computes together (``kernels.l1_value_grad``, ``kernels.kl_sparsity_value_grad``):
their compositions took 4 and 12 ops and as many passes over the code. The
tests hold them to those compositions, and every penalty's gradient is checked
against finite differences by ``gradcheck``.

Conventions shared by all penalties:

* a batch is ``(n_samples, n_features)``;
* a Dense encoder computes ``a = X @ W + b`` with ``W`` of shape
  ``(n_in, n_out)`` and ``h = act(a)``;
* per-sample penalties are *summed over features and averaged over the
  batch*, so their size does not depend on the batch size and matches a
  reconstruction loss that is averaged over samples.

=====================  ====================================================
``l1_activity``        ``weight * (1/n) sum_n sum_j |h_nj|``
``kl_sparsity``        ``beta * sum_j KL(rho || rho_hat_j)`` (UFLDL sparse AE)
``weight_decay``       ``(lam/2) * sum_W ||W||_F^2``
``contractive``        ``lam * (1/n) sum_n ||dh_n/dx_n||_F^2`` (closed form)
``gaussian_kl``        ``(1/n) sum_n KL(N(mu_n, sigma_n^2) || N(0, I))`` (VAE)
=====================  ====================================================
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from tinyae import ops
from tinyae.functional import kernel_scalar
from tinyae.tensor import Tensor

__all__ = [
    "l1_activity", "kl_sparsity", "weight_decay", "contractive", "gaussian_kl",
    "CONTRACTIVE_ACTIVATIONS",
]

#: Activations whose derivative :func:`contractive` can compute from ``h`` alone.
CONTRACTIVE_ACTIVATIONS = ("identity", "linear", "relu", "sigmoid", "softplus", "tanh")


# -- argument checks ------------------------------------------------------

def _check_batch(x: Any, name: str) -> Tensor:
    """``x`` must be a 2-D Tensor ``(n_samples, n_features)`` with at least one sample."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D Tensor (n_samples, n_features), got shape {x.shape}")
    if x.shape[0] == 0:
        # Averaging over an empty batch would divide by zero.
        raise ValueError(f"{name}: expected at least one sample, got shape {x.shape}")
    return x


def _check_nonnegative(value: Any, name: str) -> float:
    """``value`` must be a finite real number >= 0 (a penalty weight)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return value


def _check_open_unit(value: Any, name: str, high: float = 1.0) -> float:
    """``value`` must be a real number in the open interval ``(0, high)``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not (0.0 < value < high):
        raise ValueError(f"{name}: expected a number in (0, {high:g}), got {value!r}")
    return value


# -- penalties --------------------------------------------------------------

def l1_activity(h: Tensor, weight: float) -> Tensor:
    """L1 penalty on the code: ``weight * (1/n) sum_n sum_j |h_nj|``.

    Parameters
    ----------
    h : Tensor, shape (n_samples, n_code)
        The code (hidden activations) of a batch.
    weight : float
        Penalty weight, ``>= 0``.

    Returns
    -------
    Tensor, shape ()
        The penalty.

    Notes
    -----
    .. math:: \\Omega(h) = w \\, \\frac{1}{n} \\sum_{n} \\sum_{j} |h_{nj}|

    The L1 norm of each sample's code is *averaged* over the batch (not
    summed), so ``weight`` means the same for any batch size. The gradient
    is ``(w/n) sign(h)``, with 0 at ``h = 0`` (the subgradient of
    :func:`tinyae.ops.abs`).
    """
    _check_batch(h, "h")
    weight = _check_nonnegative(weight, "weight")
    return kernel_scalar(h, "l1_activity", *h.backend.kernels.l1_value_grad(h.data, weight))


def kl_sparsity(h: Tensor, rho: float, beta: float, eps: float = 1e-6) -> Tensor:
    """Sparsity penalty of the UFLDL sparse autoencoder: ``beta * sum_j KL(rho || rho_hat_j)``.

    Parameters
    ----------
    h : Tensor, shape (n_samples, n_code)
        The code of a batch; every value must lie in ``[0, 1]`` (sigmoid units).
    rho : float
        Target mean activation of each unit, in ``(0, 1)``.
    beta : float
        Penalty weight, ``>= 0``.
    eps : float, default 1e-6
        ``rho_hat`` is clipped to ``[eps, 1 - eps]`` before the logarithms;
        must be in ``(0, 0.5)``.

    Returns
    -------
    Tensor, shape ()
        The penalty.

    Raises
    ------
    ValueError
        If ``h`` has values outside ``[0, 1]``: the KL between Bernoulli
        means is undefined there (use :func:`l1_activity` for tanh or relu
        codes).

    Notes
    -----
    With the average activation of unit ``j`` over the batch
    :math:`\\hat\\rho_j = \\frac{1}{n} \\sum_n h_{nj}`,

    .. math::

        \\Omega = \\beta \\sum_j \\mathrm{KL}(\\rho \\,\\|\\, \\hat\\rho_j), \\qquad
        \\mathrm{KL}(\\rho \\,\\|\\, \\hat\\rho) =
            \\rho \\log\\frac{\\rho}{\\hat\\rho}
            + (1 - \\rho) \\log\\frac{1 - \\rho}{1 - \\hat\\rho}.

    It is 0 exactly when :math:`\\hat\\rho_j = \\rho` and positive otherwise;
    :math:`\\partial\\,\\mathrm{KL} / \\partial\\hat\\rho
    = -\\rho/\\hat\\rho + (1-\\rho)/(1-\\hat\\rho)` has the sign of
    :math:`\\hat\\rho - \\rho`, so gradient descent moves :math:`\\hat\\rho`
    toward :math:`\\rho`.

    A unit that is (numerically) always off or always on has
    :math:`\\hat\\rho = 0` or 1 and an infinite KL; the clip to
    ``[eps, 1 - eps]`` keeps the value finite. The clip's gradient is zero
    outside that interval, which is acceptable: there the penalty is at its
    largest, the other units still receive gradient, and as soon as
    :math:`\\hat\\rho` is back inside the KL pushes it toward :math:`\\rho`.
    For sigmoid codes :math:`\\hat\\rho` only reaches the clip when the
    sigmoid saturates in float arithmetic.
    """
    _check_batch(h, "h")
    rho = _check_open_unit(rho, "rho")
    beta = _check_nonnegative(beta, "beta")
    eps = _check_open_unit(eps, "eps", high=0.5)
    # Refuse codes outside [0, 1] (e.g. tanh): their batch mean can fall
    # outside (0, 1), where the clip would silently zero the gradient.
    if h.size:
        lo, hi = float(h.data.min()), float(h.data.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also catches nan
            raise ValueError(
                f"h: expected values in [0, 1] (e.g. sigmoid units), got values in [{lo:.4g}, {hi:.4g}]"
            )
    return kernel_scalar(h, "kl_sparsity", *h.backend.kernels.kl_sparsity_value_grad(h.data, rho, beta, eps))


def weight_decay(weights: Iterable[Tensor], lam: float) -> Tensor:
    """L2 weight decay ``(lam/2) * sum_W ||W||_F^2`` over several weight Tensors.

    Parameters
    ----------
    weights : iterable of Tensor
        The weight matrices to penalise (usually not the biases), at least one.
        Any shapes; a list, tuple or generator.
    lam : float
        Weight-decay coefficient :math:`\\lambda`, ``>= 0``.

    Returns
    -------
    Tensor, shape ()
        The penalty.

    Notes
    -----
    .. math:: \\Omega = \\frac{\\lambda}{2} \\sum_{W} \\sum_{i,j} W_{ij}^2

    The factor :math:`\\lambda/2` is the UFLDL convention: the gradient is
    then simply :math:`\\lambda W`. (PyTorch's ``weight_decay=wd`` in SGD
    adds ``wd * W`` to the gradient, i.e. ``wd`` here equals ``lam``.)
    """
    if isinstance(weights, Tensor):
        # A Tensor is iterable (over its rows); summing its rows' norms would
        # work by accident for a matrix but silently misbehave for a vector.
        raise TypeError("weights: expected a list of Tensors, got a single Tensor (wrap it: [W])")
    try:
        weights = list(weights)
    except TypeError:
        raise TypeError(f"weights: expected a list of Tensors, got {type(weights).__name__}") from None
    if not weights:
        raise ValueError("weights: expected at least one Tensor, got an empty sequence")
    for i, w in enumerate(weights):
        if not isinstance(w, Tensor):
            raise TypeError(f"weights[{i}]: expected a Tensor, got {type(w).__name__}")
    lam = _check_nonnegative(lam, "lam")
    total = (weights[0] * weights[0]).sum()
    for w in weights[1:]:
        total = total + (w * w).sum()
    return total * (0.5 * lam)


def _activation_derivative(h: Tensor, activation: str) -> Tensor | None:
    """``act'(a)`` written in terms of the output ``h = act(a)``; None means 1."""
    if activation == "sigmoid":
        return h * (1.0 - h)
    if activation == "tanh":
        return 1.0 - h * h
    if activation == "softplus":
        # h = log(1 + e^a)  =>  act'(a) = sigmoid(a) = 1 - e^{-h}
        return 1.0 - ops.exp(-h)
    if activation == "relu":
        # The derivative is a step: a constant mask taken from the data, with
        # 0 at h = 0 as in F.relu's own gradient. It carries no gradient.
        return Tensor((h.data > 0).astype(h.dtype))
    return None  # "linear" / "identity"


def contractive(h: Tensor, W: Tensor, activation: str, lam: float) -> Tensor:
    """Contractive-autoencoder penalty ``lam * (1/n) sum_n ||dh_n/dx_n||_F^2``, in closed form.

    Parameters
    ----------
    h : Tensor, shape (n_samples, n_out)
        The code ``h = act(X @ W + b)`` of one Dense encoder layer.
    W : Tensor, shape (n_in, n_out)
        That layer's weight matrix.
    activation : {'sigmoid', 'tanh', 'relu', 'softplus', 'linear', 'identity'}
        The name of ``act``.
    lam : float
        Penalty weight, ``>= 0``.

    Returns
    -------
    Tensor, shape ()
        The penalty.

    Notes
    -----
    For one sample, :math:`h_j = \\mathrm{act}(a_j)` with
    :math:`a_j = \\sum_i x_i W_{ij} + b_j`, so
    :math:`\\partial h_j / \\partial x_i = \\mathrm{act}'(a_j) W_{ij}` and

    .. math::

        \\|J\\|_F^2 = \\sum_{i,j} \\mathrm{act}'(a_j)^2 W_{ij}^2
                   = \\sum_j \\mathrm{act}'(a_j)^2 \\sum_i W_{ij}^2,

    .. math::

        \\Omega = \\frac{\\lambda}{n} \\sum_n \\sum_j
                  \\mathrm{act}'(a_{nj})^2 \\sum_i W_{ij}^2 .

    ``act'`` is computed from the output ``h``: ``h (1 - h)`` for sigmoid,
    ``1 - h**2`` for tanh, ``1 - exp(-h)`` for softplus, ``1[h > 0]`` for
    relu (a mask from the data, not differentiated) and 1 for linear. The
    penalty is differentiated through ``h`` (hence, when ``h`` was computed
    from ``W``, also through the activation into ``W``) and through the
    :math:`\\sum_i W_{ij}^2` term. For relu and linear it does not depend on
    ``h`` except through the mask.

    The closed form is the Jacobian of *this layer's* output with respect to
    *its* input. For a deeper encoder it is the last layer's contribution
    only, not the Jacobian of the whole encoder.
    """
    _check_batch(h, "h")
    if not isinstance(W, Tensor):
        raise TypeError(f"W: expected a Tensor, got {type(W).__name__}")
    if W.ndim != 2:
        raise ValueError(f"W: expected a 2-D Tensor (n_in, n_out), got shape {W.shape}")
    if W.shape[1] != h.shape[1]:
        raise ValueError(
            f"W: expected shape (n_in, {h.shape[1]}) to match h's {h.shape[1]} units, got {W.shape}"
        )
    if not isinstance(activation, str) or activation not in CONTRACTIVE_ACTIVATIONS:
        raise ValueError(f"activation: expected one of {list(CONTRACTIVE_ACTIVATIONS)}, got {activation!r}")
    lam = _check_nonnegative(lam, "lam")
    w2 = (W * W).sum(axis=0)  # (n_out,): sum_i W_ij^2
    d = _activation_derivative(h, activation)
    if d is None:
        # act' = 1: ||J||^2 = ||W||_F^2 for every sample.
        return w2.sum() * lam
    d2_mean = (d * d).mean(axis=0)  # (n_out,): (1/n) sum_n act'(a_nj)^2
    return (d2_mean * w2).sum() * lam


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL divergence of a diagonal Gaussian from the standard normal, averaged over the batch.

    Parameters
    ----------
    mu : Tensor, shape (n_samples, n_latent)
        Means of the approximate posterior :math:`q(z \\mid x)`.
    logvar : Tensor, shape (n_samples, n_latent)
        Log-variances :math:`\\log \\sigma^2` of :math:`q(z \\mid x)`.

    Returns
    -------
    Tensor, shape ()
        :math:`\\frac{1}{n} \\sum_n \\mathrm{KL}(q(z \\mid x_n) \\,\\|\\, N(0, I))`.

    Notes
    -----
    The VAE's analytic KL term:

    .. math::

        \\mathrm{KL}(N(\\mu, \\mathrm{diag}\\,\\sigma^2) \\,\\|\\, N(0, I))
        = -\\frac{1}{2} \\sum_j \\left(1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2\\right),

    summed over latent dimensions and averaged over samples, matching a
    reconstruction loss summed per sample and averaged over the batch.
    Parameterising by :math:`\\log\\sigma^2` keeps :math:`\\sigma^2 > 0` for
    any network output; ``exp(logvar)`` overflows only for ``logvar`` above
    about 709 (float64) or 88 (float32).
    """
    _check_batch(mu, "mu")
    if not isinstance(logvar, Tensor):
        raise TypeError(f"logvar: expected a Tensor, got {type(logvar).__name__}")
    if logvar.shape != mu.shape:
        raise ValueError(f"logvar: expected shape {mu.shape} (mu's), got {logvar.shape}")
    per_element = 1.0 + logvar - mu * mu - ops.exp(logvar)
    return per_element.sum() * (-0.5 / mu.shape[0])
