"""Plain NumPy elementwise kernels: the specification every backend matches.

Each function is written for clarity and numerical stability, not speed.
A Numba or CuPy backend supplies functions with the same names and
signatures, and the test-suite checks that they agree with these.

All functions are stable for every finite input: they never evaluate
``exp`` of a large positive number, so they raise no overflow warning and
return no NaN at ``|x| = 1e4`` in float64 or ``|x| = 80`` in float32.
"""

from __future__ import annotations

import math

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``.

    Notes
    -----
    With ``e = exp(-|x|)`` (always in ``(0, 1]``)::

        sigmoid(x) = 1 / (1 + e)   for x >= 0
                   = e / (1 + e)   for x <  0
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` computed as ``max(x, 0) + log1p(exp(-|x|))``."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))``."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def tanh_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient of ``tanh`` from its output: ``g * (1 - y**2)``."""
    return g * (1.0 - y * y)


def sigmoid_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient of ``sigmoid`` from its output: ``g * y * (1 - y)``."""
    return g * y * (1.0 - y)


# -- fused kernels for the training step -----------------------------------
# Each is the specification of a Numba/CuPy kernel that does the same work in
# one pass over memory. Activations are named as in tinyae.functional, with
# their default parameters (leaky_relu slope 0.01, elu alpha 1).

FUSED_ACTIVATIONS = ("linear", "identity", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus")


def bias_act(a: np.ndarray, b: np.ndarray | None, activation: str) -> np.ndarray:
    """``act(a + b)`` for a pre-activation ``a`` (n, m) and bias ``b`` (m,) or None.

    ``a`` is a fresh matmul result that the caller no longer needs, so fast
    twins may overwrite it; this reference does not.
    """
    z = a if b is None else a + b
    if activation in ("linear", "identity"):
        return z.copy() if z is a else z
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "sigmoid":
        return sigmoid(z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if activation == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if activation == "softplus":
        return softplus(z)
    raise ValueError(f"activation: expected one of {FUSED_ACTIVATIONS}, got {activation!r}")


def act_grad(y: np.ndarray, g: np.ndarray, activation: str) -> np.ndarray:
    """``g * act'(x)`` written in terms of the activation's output ``y = act(x)``.

    relu: 1[y > 0]; sigmoid: y(1-y); tanh: 1-y^2; leaky_relu: 1 or 0.01;
    elu: 1 or y + 1; softplus: 1 - exp(-y) (= sigmoid(x)); linear: 1.
    """
    if activation in ("linear", "identity"):
        return g.copy()
    if activation == "relu":
        return g * (y > 0)
    if activation == "sigmoid":
        return g * y * (1.0 - y)
    if activation == "tanh":
        return g * (1.0 - y * y)
    if activation == "leaky_relu":
        return g * np.where(y > 0, 1.0, 0.01).astype(y.dtype)
    if activation == "elu":
        return g * np.where(y > 0, 1.0, y + 1.0).astype(y.dtype)
    if activation == "softplus":
        return g * -np.expm1(-y)
    raise ValueError(f"activation: expected one of {FUSED_ACTIVATIONS}, got {activation!r}")


def act_grad_bias(y: np.ndarray, g: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ga, gb)``: ``ga = act_grad(y, g)`` (n, m) and the bias gradient ``ga.sum(0)`` (m,)."""
    ga = act_grad(y, g, activation)
    return ga, ga.sum(axis=0)


def mse_value_grad(x_hat: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """``mean((x_hat - x)**2)`` and its gradient ``2 (x_hat - x) / N`` w.r.t. ``x_hat``."""
    diff = x_hat - x
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


def bce_logits_value_grad(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``mean(softplus(z) - y z)`` and its gradient ``(sigmoid(z) - y) / N`` w.r.t. ``z``."""
    value = float(np.mean(softplus(z) - y * z))
    return value, (sigmoid(z) - y) / z.size


def l1_value_grad(h: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
    """``weight * sum|h| / n`` (``n = h.shape[0]``, the batch) and its gradient ``weight sign(h) / n``.

    The L1 activity penalty of :func:`tinyae.nn.penalties.l1_activity`; the
    gradient at ``h = 0`` is 0 (the subgradient ``sign``).
    """
    n = h.shape[0]
    value = weight * float(np.abs(h).sum(dtype=np.float64)) / n
    return value, np.sign(h) * h.dtype.type(weight / n)


def kl_sparsity_value_grad(h: np.ndarray, rho: float, beta: float, eps: float) -> tuple[float, np.ndarray]:
    """``beta * sum_j KL(rho || rho_hat_j)`` and its gradient w.r.t. ``h`` (n, m).

    ``rho_hat = clip(mean_n h, eps, 1 - eps)`` (the mean taken in double), the
    penalty of :func:`tinyae.nn.penalties.kl_sparsity`::

        KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r))
        grad[i, j]   = beta (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)) / n

    where ``eps <= mean_j <= 1 - eps``, and 0 elsewhere (the clip passes no
    gradient outside, as :func:`tinyae.ops.clip`). Every row of the gradient
    is the same.
    """
    n = h.shape[0]
    mean = h.mean(axis=0, dtype=np.float64)
    rho_hat = np.clip(mean, eps, 1.0 - eps)
    value = beta * float(np.sum(rho * np.log(rho / rho_hat) + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - rho_hat))))
    inside = (mean >= eps) & (mean <= 1.0 - eps)
    row = np.where(inside, beta * (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat)) / n, 0.0)
    return value, np.broadcast_to(row.astype(h.dtype), h.shape).copy()


def mask_noise(X: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """``X`` with, in every row, the ``k`` entries of smallest ``keys`` set to 0 (a new array).

    ``keys`` (same shape, float64) are i.i.d. uniform draws, so the zeroed
    columns are a uniformly random k-subset of each row (masking noise).
    Which of several *equal* keys are taken is left open (``argpartition``
    here, column order in the Numba twin); float64 uniform draws tie with
    probability ~1e-11 per row.
    """
    out = X.copy()
    if k:
        idx = np.argpartition(keys, k - 1, axis=1)[:, :k]
        out[np.arange(X.shape[0])[:, None], idx] = 0
    return out


def salt_pepper_noise(X: np.ndarray, keys: np.ndarray, salt: np.ndarray, k: int, low: float,
                      high: float) -> np.ndarray:
    """``X`` with the ``k`` entries of smallest ``keys`` in every row set to ``high`` or ``low``.

    ``salt`` (n, k) bool pairs with the chosen entries of a row in increasing
    column order: the j-th chosen entry becomes ``high`` where ``salt[:, j]``,
    else ``low``. A new array; ``X`` is unchanged.
    """
    out = X.copy()
    if k:
        idx = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
        out[np.arange(X.shape[0])[:, None], idx] = np.where(salt, high, low).astype(X.dtype)
    return out


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float, beta1: float,
                beta2: float, eps: float, t: int, weight_decay: float, decoupled: bool) -> None:
    """One Adam/AdamW step on ``p`` in place (``m``, ``v`` updated in place).

    ``g`` is left unchanged. With ``decoupled`` the decay is ``p -= lr wd p``
    (AdamW); otherwise ``wd p`` is added to the gradient (L2, as in Adam)::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p -= step m / (sqrt(v) + eps_hat)
        step = lr sqrt(1 - b2^t) / (1 - b1^t),  eps_hat = eps sqrt(1 - b2^t)

    This is Kingma & Ba's (2015, Sec. 2) reordering of
    ``p -= lr m_hat / (sqrt(v_hat) + eps)``: the same value, with the bias
    corrections folded into two scalars, so the fast twins do one division
    and one square root per element instead of two divisions and a root.

    Moments smaller in magnitude than the dtype's smallest normal number
    (``finfo.tiny``) are set to 0 before the update. Without this, the first
    moment of a parameter whose gradient stays 0 (a dead ReLU unit) decays
    into the subnormals and sticks at the smallest one (``0.9 * 1 ulp`` rounds
    back to 1 ulp), and subnormal arithmetic made every later Adam step of a
    small ReLU model 3x slower. The parameter change such a moment causes is
    below ``1e-20`` of the learning rate.
    """
    if weight_decay:
        if decoupled:
            p *= 1.0 - lr * weight_decay
        else:
            g = g + weight_decay * p
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    tiny = np.finfo(m.dtype).tiny
    m[np.abs(m) < tiny] = 0.0
    v[v < tiny] = 0.0
    step, eps_hat = _adam_scalars(lr, beta1, beta2, eps, t)
    p -= step * m / (np.sqrt(v) + eps_hat)


def _adam_scalars(lr: float, beta1: float, beta2: float, eps: float, t: int) -> tuple[float, float]:
    """``(lr sqrt(1 - b2^t) / (1 - b1^t), eps sqrt(1 - b2^t))``, in double, for step ``t``."""
    sqrt_bc2 = math.sqrt(1.0 - beta2 ** t)
    return lr * sqrt_bc2 / (1.0 - beta1 ** t), eps * sqrt_bc2


def adam_update_many(ps: list, gs: list, ms: list, vs: list, lr: float, beta1: float, beta2: float, eps: float,
                     ts: list, weight_decay: float, decoupled: bool) -> None:
    """:func:`adam_update` for several parameters (``ts``: each one's step count).

    Fast twins form the step's scalars once for all parameters and skip the
    Python work around each update, which matters for small models where
    per-call overhead, not arithmetic, dominates a step.
    """
    for p, g, m, v, t in zip(ps, gs, ms, vs, ts):
        adam_update(p, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled)
