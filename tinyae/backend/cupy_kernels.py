"""CuPy GPU kernels: the same functions as :mod:`tinyae.backend.numpy_kernels`.

Each public function has the NumPy twin of the same name as its
specification and evaluates the same formula, operation by operation, in the
input's dtype (float32 stays float32). ``tests/test_cupy.py`` checks that they
agree on a GPU; ``tests/test_backends.py`` compiles the C++ bodies below on
the CPU and checks them against the twins, so they are tested on machines
without a GPU too.

Design decisions:

* **One kernel launch per fused step.** ``bias_act``, ``act_grad`` and
  ``adam_update`` are single ``cupy.ElementwiseKernel`` launches: one read and
  one write of each array, where the composed CuPy expression would launch
  several kernels and allocate temporaries. ``adam_update`` updates ``p``,
  ``m`` and ``v`` in place (they are the kernel's output arguments).
* **Losses: one elementwise kernel and one reduction.** ``mse_value_grad``
  and ``bce_logits_value_grad`` write the gradient with an
  ``ElementwiseKernel`` and sum the loss terms with a ``ReductionKernel`` that
  accumulates in float64. Both read the inputs; neither allocates a temporary
  of the input's size. (``cupy.fuse`` cannot return an elementwise result and
  a reduction from one kernel either.)
* **The value is a Python float, like the twin's, and that is a device
  synchronisation**: ``float()`` of the reduced 0-d array waits for the GPU.
  The training loop reads every loss with ``.item()`` anyway, so this adds no
  extra wait there; everything else (the gradient, the parameters, the Adam
  moments) stays on the GPU.
* **No fast math.** Kernels are compiled with ``--fmad=false`` so that
  ``a * b + c`` is rounded twice, as NumPy rounds it, instead of being
  contracted into one fused multiply-add. Division and square root are
  IEEE-rounded (NVRTC's defaults). ``exp``, ``log1p``, ``expm1`` and ``tanh``
  come from the CUDA maths library and may differ from the host's in the last
  bit or two.
* **No implicit host copies.** Every argument must be a CuPy array; a NumPy
  array raises ``TypeError`` in CuPy instead of being uploaded behind the
  caller's back.
* Float32 and float64 are computed in their own precision; operands of
  different dtypes are promoted first (as NumPy would), and any other dtype is
  computed in float64.

The C++ sources are plain string constants (``_PREAMBLE``, ``_UNARY``,
``_ACT``, ``_DACT``, ...) so the CPU-side test can read them without
importing CuPy.
"""

from __future__ import annotations

import functools
import math

import cupy
import numpy as np

from tinyae.backend import numpy_kernels as _ref

__all__ = [
    "sigmoid", "softplus", "log_sigmoid", "tanh_backward", "sigmoid_backward",
    "bias_act", "act_grad", "act_grad_bias", "mse_value_grad", "bce_logits_value_grad", "adam_update",
    "adam_update_many", "l1_value_grad", "kl_sparsity_value_grad", "mask_noise", "salt_pepper_noise",
    "FUSED_ACTIVATIONS",
]

FUSED_ACTIVATIONS = _ref.FUSED_ACTIVATIONS

# -- the C++ sources ---------------------------------------------------------------
# In an ElementwiseKernel body, ``T`` is the element type (float or double). The
# helpers are templates over their own type ``F`` so they serve both.

_OPTIONS = ("--fmad=false",)

_PREAMBLE = r"""
template <typename F>
__device__ __forceinline__ F tinyae_sigmoid(F x) {
    const F e = exp(-fabs(x));
    return (x >= F(0) ? F(1) : e) / (F(1) + e);
}

template <typename F>
__device__ __forceinline__ F tinyae_softplus(F x) {
    return (x > F(0) ? x : F(0)) + log1p(exp(-fabs(x)));
}

template <typename F>
__device__ __forceinline__ F tinyae_log_sigmoid(F x) {
    return (x < F(0) ? x : F(0)) - log1p(exp(-fabs(x)));
}

template <typename F>
__device__ __forceinline__ double tinyae_squared_error(F x_hat, F x) {
    const F d = x_hat - x;
    return (double)(d * d);
}

template <typename F>
__device__ __forceinline__ double tinyae_bce_term(F z, F y) {
    return (double)(tinyae_softplus(z) - y * z);
}
"""

# unary kernels: "T x" -> "T y"
_UNARY = {
    "sigmoid": "y = tinyae_sigmoid(x);",
    "softplus": "y = tinyae_softplus(x);",
    "log_sigmoid": "y = tinyae_log_sigmoid(x);",
}

# gradients from an output: "T y, T g" -> "T out"
_BINARY = {
    "tanh_backward": "out = g * (T(1) - y * y);",
    "sigmoid_backward": "out = g * y * (T(1) - y);",
}

# act(z), an expression in the pre-activation z (numpy_kernels.bias_act)
_ACT = {
    "linear": "z",
    "identity": "z",
    "relu": "(z > T(0) || z != z) ? z : T(0)",  # NaN propagates, as in np.maximum
    "sigmoid": "tinyae_sigmoid(z)",
    "tanh": "tanh(z)",
    "leaky_relu": "z > T(0) ? z : T(0.01) * z",
    "elu": "z > T(0) ? z : expm1(z)",
    "softplus": "tinyae_softplus(z)",
}

# g * act'(x) written with the output y = act(x) (numpy_kernels.act_grad)
_DACT = {
    "linear": "g",
    "identity": "g",
    "relu": "g * (y > T(0) ? T(1) : T(0))",
    "sigmoid": "g * y * (T(1) - y)",
    "tanh": "g * (T(1) - y * y)",
    "leaky_relu": "g * (y > T(0) ? T(1) : T(0.01))",
    "elu": "g * (y > T(0) ? T(1) : y + T(1))",
    "softplus": "g * -expm1(-y)",
}

# "T x_hat, T x, T scale" -> "T grad"  and the map of the "T x_hat, T x" -> "float64 total" reduction
_MSE_GRAD = "grad = (x_hat - x) * scale;"
_MSE_MAP = "tinyae_squared_error(x_hat, x)"

# "T z, T y, T n" -> "T grad"  and the map of the "T z, T y" -> "float64 total" reduction
_BCE_GRAD = "grad = (tinyae_sigmoid(z) - y) / n;"
_BCE_MAP = "tinyae_bce_term(z, y)"

# "T g, T l2, T decay, T beta1, T omb1, T beta2, T omb2, T step, T eps_hat, T tiny" -> "T p, T m, T v"
# l2 = weight_decay (Adam) or 0; decay = 1 - lr * weight_decay (AdamW) or 1.
_ADAM = """
const T gi = g + l2 * p;
p = p * decay;
m = beta1 * m + omb1 * gi;
v = beta2 * v + omb2 * (gi * gi);
if (fabs(m) < tiny) m = T(0);
if (v < tiny) v = T(0);
p = p - step * m / (sqrt(v) + eps_hat);
"""
_ADAM_IN = "T g, T l2, T decay, T beta1, T omb1, T beta2, T omb2, T step, T eps_hat, T tiny"


# "T x, T scale" -> "T grad": sign(x) * scale, NaN stays NaN
_L1_GRAD = "grad = x > T(0) ? scale : (x < T(0) ? -scale : x * scale);"

# "T mean, T rho, T beta, T eps, T n" -> "T term, T d", per code unit, on the float64 batch mean
_KL = """
const T r = mean < eps ? eps : (mean > T(1) - eps ? T(1) - eps : mean);
term = rho * log(rho / r) + (T(1) - rho) * log((T(1) - rho) / (T(1) - r));
d = (mean >= eps && mean <= T(1) - eps) ? beta * (-rho / r + (T(1) - rho) / (T(1) - r)) / n : T(0);
"""


# -- kernel objects (compiled by CuPy on first call, cached per device and on disk) ------

def _elementwise(in_params: str, out_params: str, body: str, name: str) -> cupy.ElementwiseKernel:
    return cupy.ElementwiseKernel(in_params, out_params, body, name, preamble=_PREAMBLE, options=_OPTIONS)


def _sum_kernel(map_expr: str, in_params: str, name: str) -> cupy.ReductionKernel:
    # Accumulate in double for both dtypes; the caller divides by the count on the host.
    return cupy.ReductionKernel(in_params, "float64 total", map_expr, "a + b", "total = a", "0", name,
                                reduce_type="double", preamble=_PREAMBLE, options=_OPTIONS)


_UNARY_K = {name: _elementwise("T x", "T y", body, f"tinyae_{name}") for name, body in _UNARY.items()}
_BINARY_K = {name: _elementwise("T y, T g", "T out", body, f"tinyae_{name}") for name, body in _BINARY.items()}
_MSE_GRAD_K = _elementwise("T x_hat, T x, T scale", "T grad", _MSE_GRAD, "tinyae_mse_grad")
_MSE_SUM_K = _sum_kernel(_MSE_MAP, "T x_hat, T x", "tinyae_mse_sum")
_BCE_GRAD_K = _elementwise("T z, T y, T n", "T grad", _BCE_GRAD, "tinyae_bce_grad")
_BCE_SUM_K = _sum_kernel(_BCE_MAP, "T z, T y", "tinyae_bce_sum")
_ADAM_K = _elementwise(_ADAM_IN, "T p, T m, T v", _ADAM, "tinyae_adam")
_L1_GRAD_K = _elementwise("T x, T scale", "T grad", _L1_GRAD, "tinyae_l1_grad")
_L1_SUM_K = _sum_kernel("fabs(x)", "T x", "tinyae_l1_sum")
_KL_K = _elementwise("T mean, T rho, T beta, T eps, T n", "T term, T d", _KL, "tinyae_kl_sparsity")


def _check_activation(activation: str) -> str:
    """The activation's kernel name (``"identity"`` shares ``"linear"``'s kernels)."""
    if activation not in _ACT:
        raise ValueError(f"activation: expected one of {FUSED_ACTIVATIONS}, got {activation!r}")
    return "linear" if activation == "identity" else activation


@functools.lru_cache(maxsize=None)
def _act_kernel(activation: str, bias: bool) -> cupy.ElementwiseKernel:
    """``y = act(a + b)`` (or ``act(a)``), one launch."""
    if bias:
        return _elementwise("T a, T b", "T y", f"const T z = a + b;\ny = {_ACT[activation]};",
                            f"tinyae_bias_{activation}")
    return _elementwise("T a", "T y", f"const T z = a;\ny = {_ACT[activation]};", f"tinyae_act_{activation}")


@functools.lru_cache(maxsize=None)
def _dact_kernel(activation: str) -> cupy.ElementwiseKernel:
    """``out = g * act'(x)`` from ``y = act(x)``, one launch."""
    return _elementwise("T y, T g", "T out", f"out = {_DACT[activation]};", f"tinyae_dact_{activation}")


# -- helpers -----------------------------------------------------------------------

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _common(*arrays):
    """The arrays in one float dtype (NumPy's promotion; float64 for anything but float32/64)."""
    dtype = np.result_type(*[a.dtype for a in arrays])
    if dtype not in _FLOATS:
        dtype = np.dtype(np.float64)
    return [a if a.dtype == dtype else a.astype(dtype) for a in arrays]


def _overwritable(a) -> bool:
    # A contiguous array has no two elements at one address (a broadcast view may).
    return a.flags.c_contiguous or a.flags.f_contiguous


# -- the public functions: same signatures as numpy_kernels ---------------------------

def sigmoid(x):
    (x,) = _common(x)
    return _UNARY_K["sigmoid"](x)


def softplus(x):
    (x,) = _common(x)
    return _UNARY_K["softplus"](x)


def log_sigmoid(x):
    (x,) = _common(x)
    return _UNARY_K["log_sigmoid"](x)


def tanh_backward(y, g):
    y, g = _common(y, g)
    return _BINARY_K["tanh_backward"](y, g)


def sigmoid_backward(y, g):
    y, g = _common(y, g)
    return _BINARY_K["sigmoid_backward"](y, g)


def bias_act(a, b, activation):
    """``act(a + b)``, written into ``a`` when ``a`` is contiguous and has the result's dtype and shape."""
    activation = _check_activation(activation)
    if b is None:
        (z,) = _common(a)
        if activation == "linear":
            return z
        kernel, args = _act_kernel(activation, False), (z,)
    else:
        z, b = _common(a, b)
        kernel, args = _act_kernel(activation, True), (z, b)
        if np.broadcast_shapes(z.shape, b.shape) != z.shape:
            return kernel(*args)  # the result is larger than a: a new array
    if not _overwritable(z):
        return kernel(*args)
    return kernel(*args, z)  # in place: each thread reads its element of a, then writes it


def act_grad(y, g, activation):
    activation = _check_activation(activation)
    if activation == "linear":
        return g.copy()
    y, g = _common(y, g)
    return _dact_kernel(activation)(y, g)


def act_grad_bias(y, g, activation):
    ga = act_grad(y, g, activation)
    return ga, ga.sum(axis=0)


def mse_value_grad(x_hat, x):
    """``(value, grad)``; ``value`` is a Python float (one device synchronisation)."""
    x_hat, x = _common(x_hat, x)
    n = math.prod(np.broadcast_shapes(x_hat.shape, x.shape))
    grad = _MSE_GRAD_K(x_hat, x, 2.0 / n if n else 0.0)
    if n == 0:
        return math.nan, grad
    return float(_MSE_SUM_K(x_hat, x)) / n, grad


def bce_logits_value_grad(z, y):
    """``(value, grad)``; ``value`` is a Python float (one device synchronisation)."""
    z, y = _common(z, y)
    n = math.prod(np.broadcast_shapes(z.shape, y.shape))
    grad = _BCE_GRAD_K(z, y, float(max(n, 1)))
    if n == 0:
        return math.nan, grad
    return float(_BCE_SUM_K(z, y)) / n, grad


def l1_value_grad(h, weight):
    """``(value, grad)``; ``value`` is a Python float (one device synchronisation)."""
    n = h.shape[0]
    scale = float(weight) / n if n else 0.0
    grad = _L1_GRAD_K(h, scale)
    if n == 0:
        return math.nan, grad
    return float(weight) * float(_L1_SUM_K(h)) / n, grad


def kl_sparsity_value_grad(h, rho, beta, eps):
    """``(value, grad)``; the batch mean in double, then one kernel over the code units."""
    n = h.shape[0]
    mean = h.mean(axis=0, dtype=np.float64)
    term, d = _KL_K(mean, float(rho), float(beta), float(eps), float(max(n, 1)))
    grad = cupy.empty(h.shape, dtype=h.dtype)
    grad[...] = d.astype(h.dtype)
    return float(beta) * float(term.sum()), grad


def mask_noise(X, keys, k):
    out = X.copy()
    if k:
        idx = cupy.argpartition(keys, k - 1, axis=1)[:, :k]
        out[cupy.arange(X.shape[0])[:, None], idx] = 0
    return out


def salt_pepper_noise(X, keys, salt, k, low, high):
    out = X.copy()
    if k:
        idx = cupy.sort(cupy.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
        out[cupy.arange(X.shape[0])[:, None], idx] = cupy.where(salt, high, low).astype(X.dtype)
    return out


def adam_update(p, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled):
    """One Adam/AdamW step: ``p``, ``m`` and ``v`` are updated in place by one kernel; ``g`` is left unchanged."""
    if g.dtype != p.dtype:
        g = g.astype(p.dtype)
    lr, beta1, beta2, eps, wd = float(lr), float(beta1), float(beta2), float(eps), float(weight_decay)
    l2 = wd if wd and not decoupled else 0.0
    decay = 1.0 - lr * wd if wd and decoupled else 1.0
    step, eps_hat = _ref._adam_scalars(lr, beta1, beta2, eps, t)
    _ADAM_K(g, l2, decay, beta1, 1.0 - beta1, beta2, 1.0 - beta2, step, eps_hat, float(np.finfo(p.dtype).tiny), p, m, v)


def adam_update_many(ps, gs, ms, vs, lr, beta1, beta2, eps, ts, weight_decay, decoupled):
    """One fused kernel launch per parameter (launches are asynchronous, so
    the host does not wait between them)."""
    for p, g, m, v, t in zip(ps, gs, ms, vs, ts):
        adam_update(p, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled)
