"""Numba CPU kernels: the same functions as :mod:`tinyae.backend.numpy_kernels`.

Each public function has the NumPy twin of the same name as its
specification; ``tests/test_backends.py`` checks that they agree in float32
and float64.

Design decisions, measured on a 2-core machine (see docs/performance.md):

* **Serial kernels, no ``prange``.** Numba's OpenMP/TBB workers and
  OpenBLAS's threads busy-wait against each other when a parallel kernel
  follows a matrix product: a 0.05 ms kernel after a 1.4 ms matmul took
  8 ms. Elementwise work is memory-bound, so one thread loses little, and
  BLAS keeps every core for the matrix products. With no parallel kernel,
  Numba never starts its thread pool, so nothing needs to be set by the user.
* ``error_model="numpy"``: division follows IEEE rules instead of raising,
  which lets LLVM vectorise the loops.
* ``cache=True`` and no global state inside kernels (reading a global or
  calling ``numba.get_num_threads()`` makes a kernel uncacheable).
* No ``fastmath``: gradients must match the reference to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinyae.backend import numpy_kernels as _ref

__all__ = [
    "sigmoid", "softplus", "log_sigmoid", "tanh_backward", "sigmoid_backward",
    "bias_act", "act_grad", "act_grad_bias", "mse_value_grad", "bce_logits_value_grad", "adam_update",
    "adam_update_many", "l1_value_grad", "kl_sparsity_value_grad", "mask_noise", "salt_pepper_noise",
    "FUSED_ACTIVATIONS", "ACT_CODES",
]

FUSED_ACTIVATIONS = _ref.FUSED_ACTIVATIONS
ACT_CODES = {"linear": 0, "identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "leaky_relu": 4, "elu": 5, "softplus": 6}

_jit = njit(cache=True, error_model="numpy", nogil=True)


# -- scalar building blocks (inlined by LLVM) ------------------------------

@_jit
def _sigmoid1(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@_jit
def _softplus1(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@_jit
def _act1(z, code):
    if code == 1:
        return z if z > 0 else 0.0 * z
    if code == 2:
        return _sigmoid1(z)
    if code == 3:
        return math.tanh(z)
    if code == 4:
        return z if z > 0 else 0.01 * z
    if code == 5:
        return z if z > 0 else math.expm1(z)
    if code == 6:
        return _softplus1(z)
    return z


@_jit
def _dact1(y, code):
    """act'(x) from y = act(x)."""
    if code == 1:
        return 1.0 if y > 0 else 0.0
    if code == 2:
        return y * (1.0 - y)
    if code == 3:
        return 1.0 - y * y
    if code == 4:
        return 1.0 if y > 0 else 0.01
    if code == 5:
        return 1.0 if y > 0 else y + 1.0
    if code == 6:
        return -math.expm1(-y)
    return 1.0


# -- elementwise kernels over flat arrays -----------------------------------

@_jit
def _softplus_flat(x, out):
    for i in range(x.size):
        out[i] = _softplus1(x[i])


@_jit
def _log_sigmoid_flat(x, out):
    for i in range(x.size):
        out[i] = -_softplus1(-x[i])


@_jit
def _tanh_backward_flat(y, g, out):
    for i in range(y.size):
        out[i] = g[i] * (1.0 - y[i] * y[i])


@_jit
def _sigmoid_backward_flat(y, g, out):
    for i in range(y.size):
        out[i] = g[i] * y[i] * (1.0 - y[i])


# The activation switch sits outside the loops (one loop per activation) so
# LLVM sees branch-free inner loops it can vectorise. Two more rules keep
# them vectorised (measured: 2-4x per pass): each loop writes the array it
# reads (an in-place loop over two names for one buffer fails LLVM's alias
# check and runs scalar), and constants take the arrays' dtype
# (``a.dtype.type(0)``: a float64 literal such as 0.0 widens float32
# arithmetic to float64). Scalars are passed as Python floats and ints and
# converted inside: a NumPy scalar argument costs Numba's dispatcher ~0.5 us.

@_jit
def _bias_act_2d(a, b, code):
    """a <- act(a + b) in place, row by row; ``b`` is the bias (m,)."""
    n, m = a.shape
    zero = a.dtype.type(0)
    for r in range(n):
        row = a[r]
        if code == 0:
            for c in range(m):
                row[c] += b[c]
        elif code == 1:
            for c in range(m):
                row[c] = max(row[c] + b[c], zero)
        else:
            for c in range(m):
                row[c] = _act1(row[c] + b[c], code)


@_jit
def _act_2d(a, code):
    """a <- act(a) in place."""
    n, m = a.shape
    zero = a.dtype.type(0)
    for r in range(n):
        row = a[r]
        if code == 1:
            for c in range(m):
                row[c] = max(row[c], zero)
        else:
            for c in range(m):
                row[c] = _act1(row[c], code)


@_jit
def _bias_neg_abs(a, b, e):
    """a <- a + b and e <- -|a + b|, the input of NumPy's SIMD exp (sigmoid of large arrays)."""
    n, m = a.shape
    for r in range(n):
        row, er = a[r], e[r]
        for c in range(m):
            z = row[c] + b[c]
            row[c] = z
            er[c] = -abs(z)


@_jit
def _act_grad_bias_2d(y, g, code, ga, gb):
    """ga <- g * act'(y) from the saved output y; gb <- column sums of ga.

    Each row of ga is summed into gb right after it is written, while it is
    still in L1: one pass over memory, and both inner loops vectorise (one
    fused loop did not: LLVM cannot rule out that gb aliases ga). Rows are
    added in order, as NumPy's ``ga.sum(axis=0)`` does.
    """
    n, m = y.shape
    zero, one = y.dtype.type(0), y.dtype.type(1)
    gb[:] = zero
    for r in range(n):
        yr, gr, gar = y[r], g[r], ga[r]
        if code == 0:
            for c in range(m):
                gar[c] = gr[c]
        elif code == 1:
            for c in range(m):
                gar[c] = gr[c] if yr[c] > zero else zero
        elif code == 2:
            for c in range(m):
                gar[c] = gr[c] * yr[c] * (one - yr[c])
        elif code == 3:
            for c in range(m):
                gar[c] = gr[c] * (one - yr[c] * yr[c])
        else:
            for c in range(m):
                gar[c] = gr[c] * _dact1(yr[c], code)
        for c in range(m):
            gb[c] += gar[c]


@_jit
def _act_grad_flat(y, g, code, out):
    for i in range(y.size):
        out[i] = g[i] * _dact1(y[i], code)


@_jit
def _mse_flat(x_hat, x, grad, scale):
    scale = grad.dtype.type(scale)
    # Eight independent double accumulators: without fastmath LLVM may not
    # reorder one running sum, so a single accumulator waits on every add
    # (1.5 ns per element measured, against 0.75 ns with eight).
    n = x_hat.size
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    stop = n - n % 8
    for i in range(0, stop, 8):
        d0, d1, d2, d3 = x_hat[i] - x[i], x_hat[i + 1] - x[i + 1], x_hat[i + 2] - x[i + 2], x_hat[i + 3] - x[i + 3]
        d4, d5, d6, d7 = x_hat[i + 4] - x[i + 4], x_hat[i + 5] - x[i + 5], x_hat[i + 6] - x[i + 6], x_hat[i + 7] - x[i + 7]
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        s4 += d4 * d4
        s5 += d5 * d5
        s6 += d6 * d6
        s7 += d7 * d7
        grad[i], grad[i + 1], grad[i + 2], grad[i + 3] = d0 * scale, d1 * scale, d2 * scale, d3 * scale
        grad[i + 4], grad[i + 5], grad[i + 6], grad[i + 7] = d4 * scale, d5 * scale, d6 * scale, d7 * scale
    for i in range(stop, n):
        d = x_hat[i] - x[i]
        s0 += d * d
        grad[i] = d * scale
    return (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) / n


@_jit
def _l1_2d(h, scale, grad):
    """grad <- sign(h) * scale; returns sum |h| (per-column double sums, rows in order)."""
    n, m = h.shape
    col = np.zeros(m)
    for r in range(n):
        hr, gr = h[r], grad[r]
        for c in range(m):
            x = hr[c]
            col[c] += abs(x)
            gr[c] = np.sign(x) * scale
    return col.sum()


@_jit
def _kl_sparsity_2d(h, rho, beta, eps, grad):
    """grad <- the KL penalty's gradient (every row alike); returns the penalty."""
    n, m = h.shape
    col = np.zeros(m)  # column sums in double, rows added in order
    for r in range(n):
        hr = h[r]
        for c in range(m):
            col[c] += hr[c]
    total = 0.0
    row = np.zeros(m, dtype=grad.dtype)
    for c in range(m):
        mean = col[c] / n
        rho_hat = min(max(mean, eps), 1.0 - eps)
        total += rho * math.log(rho / rho_hat) + (1.0 - rho) * math.log((1.0 - rho) / (1.0 - rho_hat))
        if eps <= mean <= 1.0 - eps:
            row[c] = beta * (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat)) / n
    for r in range(n):
        gr = grad[r]
        for c in range(m):
            gr[c] = row[c]
    return beta * total


@_jit
def _noise_rows(X, keys, t, k, salt, low, high, out):
    """out <- X with each row's k smallest-key entries replaced: by ``low`` without ``salt``
    (masking), else the j-th of them (in column order) by ``high`` if ``salt[r, j]`` else ``low``.

    ``t[r]`` is row r's k-th smallest key, so the chosen entries are the keys
    ``<= t[r]``. The passes are written without data-dependent branches (the
    keys are random, so a branch mispredicts a third of the time; the branchy
    loop was 4x slower). If keys tie at ``t[r]`` (probability ~1e-11 per row
    for float64 uniforms) more than k are ``<= t[r]``: the first ones in column
    order are kept and the rest restored.
    """
    n, d = X.shape
    lo, hi = out.dtype.type(low), out.dtype.type(high)
    masking = salt.shape[1] == 0
    for r in range(n):
        xr, kr, orow, tr = X[r], keys[r], out[r], t[r]
        if masking:
            for c in range(d):
                orow[c] = lo if kr[c] <= tr else xr[c]
        else:
            sr = salt[r]
            j = 0
            for c in range(d):
                chosen = kr[c] <= tr
                v = hi if sr[min(j, k - 1)] else lo
                orow[c] = v if chosen else xr[c]
                j += chosen
        extra = -k
        for c in range(d):
            extra += kr[c] <= tr
        for c in range(d - 1, -1, -1):  # restore the surplus ties, last first
            if extra <= 0:
                break
            if kr[c] == tr:
                orow[c] = xr[c]
                extra -= 1


@_jit
def _adam_flat(p, g, m, v, step, beta1, omb1, beta2, omb2, eps_hat, weight_decay, shrink, decoupled, tiny):
    # The wrapper forms 1 - beta, step, eps_hat and 1 - lr wd in double;
    # each is rounded once to the arrays' dtype here, as NumPy does
    # (1 - float32(0.999) would be 1.3e-5 off). The decay branch is hoisted,
    # so the main loop is branch-free and vectorises.
    f = p.dtype.type
    step, beta1, omb1, beta2, omb2, eps_hat = f(step), f(beta1), f(omb1), f(beta2), f(omb2), f(eps_hat)
    tiny, zero = f(tiny), f(0)
    if weight_decay != 0.0:
        if decoupled:
            shrink = f(shrink)
            for i in range(p.size):
                p[i] *= shrink
        else:
            g = g + f(weight_decay) * p
    for i in range(p.size):
        gi = g[i]
        mi = beta1 * m[i] + omb1 * gi
        vi = beta2 * v[i] + omb2 * (gi * gi)
        # Subnormal moments are flushed to 0 (see the twin's docstring); NaN stays NaN.
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        p[i] -= step * mi / (math.sqrt(vi) + eps_hat)


# -- transcendental work goes to NumPy's SIMD ufuncs --------------------------
# Numba has no vector math library here, so math.exp/tanh in a loop run one
# element at a time (sigmoid was 15x slower than relu). NumPy's exp and tanh
# are vectorised; Numba does the branchy, cheap passes around them.

@_jit
def _sigmoid_from_exp(z, e):
    """z <- (1 if z >= 0 else e) / (1 + e), given e = exp(-|z|); flat arrays."""
    one = z.dtype.type(1)
    for i in range(z.size):
        ei = e[i]
        z[i] = (one if z[i] >= 0 else ei) / (one + ei)


@_jit
def _bce_from_exp(z, y, e, l1p, grad):
    """value and gradient of mean(softplus(z) - y z) from e = exp(-|z|), l1p = log1p(e)."""
    scale = 1.0 / z.size
    total = 0.0
    for i in range(z.size):
        zi = z[i]
        total += max(zi, 0.0) + l1p[i] - y[i] * zi
        s = (1.0 if zi >= 0 else e[i]) / (1.0 + e[i])
        grad[i] = (s - y[i]) * scale
    return total / z.size


def _exp_neg_abs(z):
    e = np.abs(z)
    np.negative(e, out=e)
    return np.exp(e, out=e)


def _sigmoid_inplace(z, b=None):
    """Stable sigmoid of a C-contiguous array (plus the bias ``b`` on each row of a 2-D ``z``), written into it."""
    if b is None:
        e = _exp_neg_abs(z.reshape(-1))
    else:
        e = np.empty_like(z)
        _bias_neg_abs(z, b, e)  # one pass: z += b and e = -|z|
        e = np.exp(e, out=e).reshape(-1)
    _sigmoid_from_exp(z.reshape(-1), e)
    return z


# -- the public functions: same signatures as numpy_kernels -----------------

def _c(x):
    # np.ascontiguousarray would turn a 0-d array into 1-d; this keeps the shape.
    return x if x.flags.c_contiguous else np.array(x, order="C")


def _flat(x):
    return _c(x).reshape(-1)


def _unary(kernel, x):
    x = _c(x)
    out = np.empty_like(x)
    kernel(x.reshape(-1), out.reshape(-1))
    return out


def sigmoid(x):
    return _sigmoid_inplace(np.array(x, order="C", copy=True))


def softplus(x):
    return _unary(_softplus_flat, x)


def log_sigmoid(x):
    return _unary(_log_sigmoid_flat, x)


def _binary(kernel, y, g):
    y, g = _c(y), _c(g)
    if y.shape != g.shape or y.dtype != g.dtype:
        return None
    out = np.empty_like(y)
    kernel(y.reshape(-1), g.reshape(-1), out.reshape(-1))
    return out


def tanh_backward(y, g):
    out = _binary(_tanh_backward_flat, y, g)
    return _ref.tanh_backward(y, g) if out is None else out


def sigmoid_backward(y, g):
    out = _binary(_sigmoid_backward_flat, y, g)
    return _ref.sigmoid_backward(y, g) if out is None else out


def _code(activation):
    try:
        return ACT_CODES[activation]
    except KeyError:
        raise ValueError(f"activation: expected one of {FUSED_ACTIVATIONS}, got {activation!r}") from None


# Below this many elements one scalar Numba pass (math.exp per element, ~5 ns)
# beats NumPy's SIMD exp/tanh between two Numba passes (~2.5 us fixed cost);
# measured crossover 256-512 elements: 2048 float32 sigmoids take 9.8 us
# scalar and 3.8 us through NumPy.
_SMALL = 512


def bias_act(a, b, activation):
    code = _code(activation)
    if a.ndim != 2 or not a.flags.c_contiguous or (b is not None and b.dtype != a.dtype):
        return _ref.bias_act(a, b, activation)
    # The fresh matmul result is overwritten in place: no allocation.
    if code in (0, 1) or a.size < _SMALL:  # linear and relu are always one fused pass
        if b is not None:
            _bias_act_2d(a, _c(b), code)
        elif code != 0:  # nothing to do for linear without a bias
            _act_2d(a, code)
        return a
    if code == 2:
        return _sigmoid_inplace(a, None if b is None else _c(b))
    if b is not None:
        np.add(a, b, out=a)
    if code == 3:
        return np.tanh(a, out=a)
    _act_2d(a, code)
    return a


def act_grad(y, g, activation):
    code = _code(activation)
    if y.shape != g.shape or y.dtype != g.dtype:
        return _ref.act_grad(y, g, activation)
    y, g = _c(y), _c(g)
    out = np.empty_like(y)
    _act_grad_flat(y.reshape(-1), g.reshape(-1), code, out.reshape(-1))
    return out


def act_grad_bias(y, g, activation):
    code = _code(activation)
    if y.ndim != 2 or y.shape != g.shape or y.dtype != g.dtype:
        return _ref.act_grad_bias(y, g, activation)
    # Any layout: the kernel indexes rows (a transposed y costs speed, not a copy).
    ga = np.empty(y.shape, dtype=y.dtype)
    gb = np.empty(y.shape[1], dtype=y.dtype)
    _act_grad_bias_2d(y, g, code, ga, gb)
    return ga, gb


def mse_value_grad(x_hat, x):
    if x_hat.shape != x.shape or x_hat.dtype != x.dtype:
        return _ref.mse_value_grad(x_hat, x)
    grad = np.empty_like(x_hat, order="C")
    value = _mse_flat(_flat(x_hat), _flat(x), grad.reshape(-1), 2.0 / max(x_hat.size, 1))
    return float(value), grad


def bce_logits_value_grad(z, y):
    if z.shape != y.shape or z.dtype != y.dtype:
        return _ref.bce_logits_value_grad(z, y)
    grad = np.empty_like(z, order="C")
    zf = _flat(z)
    e = _exp_neg_abs(zf)
    value = _bce_from_exp(zf, _flat(y), e, np.log1p(e), grad.reshape(-1))
    return float(value), grad


def l1_value_grad(h, weight):
    if h.ndim != 2 or h.shape[0] == 0:
        return _ref.l1_value_grad(h, weight)
    grad = np.empty(h.shape, dtype=h.dtype)
    n = h.shape[0]
    total = _l1_2d(h, float(weight) / n, grad)
    return float(weight) * float(total) / n, grad


def kl_sparsity_value_grad(h, rho, beta, eps):
    if h.ndim != 2 or h.shape[0] == 0:
        return _ref.kl_sparsity_value_grad(h, rho, beta, eps)
    grad = np.empty(h.shape, dtype=h.dtype)
    value = _kl_sparsity_2d(h, float(rho), float(beta), float(eps), grad)
    return float(value), grad


_NO_SALT = np.zeros((0, 0), dtype=np.bool_)


def _kth_smallest(keys, k):
    # NumPy's introselect over all rows at once: 8x faster here than Numba's
    # np.partition called per row inside the kernel.
    return np.partition(keys, k - 1, axis=1)[:, k - 1]


def mask_noise(X, keys, k):
    if X.ndim != 2 or keys.shape != X.shape or k <= 0:
        return _ref.mask_noise(X, keys, k)
    out = np.empty(X.shape, dtype=X.dtype)
    _noise_rows(X, keys, _kth_smallest(keys, k), int(k), _NO_SALT, 0.0, 0.0, out)
    return out


def salt_pepper_noise(X, keys, salt, k, low, high):
    if X.ndim != 2 or keys.shape != X.shape or k <= 0 or salt.shape != (X.shape[0], k):
        return _ref.salt_pepper_noise(X, keys, salt, k, low, high)
    out = np.empty(X.shape, dtype=X.dtype)
    _noise_rows(X, keys, _kth_smallest(keys, k), int(k), salt, float(low), float(high), out)
    return out


_TINY = {np.dtype(t).char: float(np.finfo(t).tiny) for t in (np.float32, np.float64)}  # the moments' flush level


def adam_update(p, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled):
    if not (p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous) or g.dtype != p.dtype:
        return _ref.adam_update(p, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled)
    step, eps_hat = _ref._adam_scalars(lr, beta1, beta2, eps, t)
    _adam_flat(p.reshape(-1), _flat(g), m.reshape(-1), v.reshape(-1), step, float(beta1), 1.0 - beta1, float(beta2),
               1.0 - beta2, eps_hat, float(weight_decay), 1.0 - lr * weight_decay, int(bool(decoupled)),
               _TINY[p.dtype.char])


def adam_update_many(ps, gs, ms, vs, lr, beta1, beta2, eps, ts, weight_decay, decoupled):
    # One compiled call per parameter, with the scalars formed once. Measured
    # as fast as a single call over tuples of arrays (Numba's dispatcher types
    # a tuple element by element), and it needs no contiguity checks: the
    # loop indexes 1-D arrays of any stride (Adam passes flat views).
    b1, b2, wd = float(beta1), float(beta2), float(weight_decay)
    shrink, dec = 1.0 - lr * weight_decay, int(bool(decoupled))
    t_prev = step = eps_hat = None
    for p, g, m, v, t in zip(ps, gs, ms, vs, ts):
        if p.ndim != 1 or g.ndim != 1 or m.ndim != 1 or v.ndim != 1 or not p.dtype == g.dtype == m.dtype == v.dtype:
            adam_update(p, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled)
            continue
        if t != t_prev:
            step, eps_hat = _ref._adam_scalars(lr, beta1, beta2, eps, t)
            t_prev = t
        _adam_flat(p, g, m, v, step, b1, 1.0 - b1, b2, 1.0 - b2, eps_hat, wd, shrink, dec, _TINY[p.dtype.char])
