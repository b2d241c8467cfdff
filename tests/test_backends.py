"""Backends: kernels against their NumPy twins, cross-backend parity, and the switch.

The NumPy kernels in :mod:`tinyae.backend.numpy_kernels` are the
specification. Here every Numba kernel is checked against its twin on
generated shapes, values (up to +-80 in float32 and +-1e4 in float64, where a
naive ``exp`` overflows) and memory layouts; then every catalog op, every
model and a short training run must give the same numbers on the ``"numba"``
and ``"numpy"`` backends.

The CuPy kernels cannot run without a GPU, so they are checked here too, on
the CPU: a stand-in ``cupy`` module compiles the very C++ bodies of
:mod:`tinyae.backend.cupy_kernels` with the host compiler (no contraction of
``a * b + c``, as on the GPU with ``--fmad=false``) and runs them with the
semantics of ``cupy.ElementwiseKernel`` and ``cupy.ReductionKernel``. That
tests our kernels' formulas and the Python around them, not CuPy itself;
``tests/test_cupy.py`` does that on a GPU.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import inspect
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import types

import numpy as np
import pytest
from catalog import CATALOG, example_inputs
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyae as ta
from tinyae import backend as backend_mod
from tinyae import functional as F
from tinyae.backend import numpy_kernels as ref
from tinyae.backend import use_backend
from tinyae.models import AutoencoderModule, VAEModule
from tinyae.optim import Adam
from tinyae.training import fit_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
ACTS = ref.FUSED_ACTIVATIONS
DTYPES = [np.float32, np.float64]
BIG = {np.float32: 80.0, np.float64: 1e4}  # exp(BIG) overflows; the stable kernels must not


@pytest.fixture(autouse=True)
def _restore_backend():
    """Tests may switch the current backend; put it back afterwards."""
    saved = backend_mod._State.current
    yield
    backend_mod._State.current = saved


# == a stand-in for cupy that runs the CuPy kernels' C++ bodies on the CPU ====================

def _params(spec: str) -> list[tuple[str, str]]:
    return [tuple(p.split()) for p in spec.split(",")]


class _HostKernels:
    """Compiles the kernels created so far into one shared library, on first use."""

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = workdir
        self.pending: list = []
        self.libs: list = []

    def register(self, kernel) -> None:
        self.pending.append(kernel)

    def function(self, kernel, dtype):
        if kernel in self.pending:
            self._compile()
        return getattr(kernel.lib, f"{kernel.name}_{np.dtype(dtype).name}")

    def _compile(self) -> None:
        kernels, self.pending = self.pending, []
        preamble = {k.preamble for k in kernels}
        assert len(preamble) == 1
        lines = ["#include <cmath>", "using std::exp; using std::fabs; using std::log1p; using std::expm1; using std::log;",
                 "using std::tanh; using std::sqrt;", "#define __device__", "#define __forceinline__ inline",
                 preamble.pop()]
        for k in kernels:
            for ctype, dtype in (("float", "float32"), ("double", "float64")):
                lines.append(k.source(ctype, dtype))
        n = len(self.libs)
        cpp, lib = self.workdir / f"k{n}.cpp", self.workdir / f"k{n}.so"
        cpp.write_text("\n".join(lines))
        subprocess.run(["g++", "-O1", "-std=c++14", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
                        "-o", str(lib), str(cpp)], check=True, capture_output=True)
        handle = ctypes.CDLL(str(lib))
        self.libs.append(handle)
        for k in kernels:
            k.lib = handle


class _ElementwiseKernel:
    """``cupy.ElementwiseKernel`` semantics on NumPy arrays: ``T`` is the array arguments'
    (one) dtype, scalars are cast to ``T``, arrays broadcast, and outputs passed as
    arguments are read and updated in place."""

    def __init__(self, in_params, out_params, operation, name="kernel", preamble="", options=(), host=None):
        assert "--fmad=false" in options, "kernels must not contract a * b + c"
        self.ins, self.outs = _params(in_params), _params(out_params)
        assert all(t == "T" for t, _ in self.ins + self.outs)
        self.body, self.name, self.preamble, self.host = operation, name, preamble, host
        host.register(self)

    def _inputs(self) -> str:
        # each input is an array or a scalar; bit j of ``mask`` says which
        return " ".join(f"const T {n} = (mask >> {j} & 1) ? ((const T*)arrays[{j}])[i] : (T)scalars[{j}];"
                        for j, (_, n) in enumerate(self.ins))

    def source(self, ctype: str, dtype: str) -> str:
        outs = " ".join(f"T& {n} = ((T*)arrays[{len(self.ins) + j}])[i];" for j, (_, n) in enumerate(self.outs))
        return (f'extern "C" void {self.name}_{dtype}(void** arrays, const double* scalars, long mask, long n) {{\n'
                f"  typedef {ctype} T;\n  for (long i = 0; i < n; ++i) {{ {self._inputs()} {outs}\n"
                f"    {self.body}\n  }}\n}}")

    def _launch(self, args, outs, shape, restype=None):
        arrays = [np.array(np.broadcast_to(a, shape), order="C") if isinstance(a, np.ndarray) else None for a in args]
        pointers = (ctypes.c_void_p * (len(args) + len(outs)))(
            *[0 if a is None else a.ctypes.data for a in arrays], *[o.ctypes.data for o in outs])
        scalars = (ctypes.c_double * len(args))(*[float(a) if b is None else 0.0 for a, b in zip(args, arrays)])
        mask = sum(1 << j for j, a in enumerate(arrays) if a is not None)
        fn = self.host.function(self, next(a.dtype for a in arrays if a is not None))
        fn.restype = restype
        return fn(pointers, scalars, ctypes.c_long(mask), ctypes.c_long(math.prod(shape)))

    @staticmethod
    def _check(args):
        for a in args:
            if not isinstance(a, (np.ndarray, np.generic, int, float)):
                raise TypeError(f"Unsupported type {type(a)}")
        dtypes = {a.dtype for a in args if isinstance(a, np.ndarray)}
        if len(dtypes) != 1:
            raise TypeError(f"Type is mismatched: {dtypes}")
        return dtypes.pop(), np.broadcast_shapes(*[a.shape for a in args if isinstance(a, np.ndarray)])

    def __call__(self, *args):
        nin = len(self.ins)
        assert len(args) in (nin, nin + len(self.outs))
        dtype, shape = self._check(args)
        given = list(args[nin:])
        if any(o.shape != shape for o in given):
            raise ValueError("Out shape is mismatched")
        outs = [np.array(o, order="C") for o in given] or [np.empty(shape, dtype) for _ in self.outs]
        if math.prod(shape):
            self._launch(args[:nin], outs, shape)
        for target, result in zip(given, outs):
            target[...] = result
        result = given or outs
        return result[0] if len(result) == 1 else tuple(result)


class _ReductionKernel(_ElementwiseKernel):
    """``cupy.ReductionKernel`` for a float64 sum over all elements (``axis=None``)."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name,
                 reduce_type=None, preamble="", options=(), host=None):
        assert (reduce_expr, post_map_expr, identity, reduce_type) == ("a + b", "total = a", "0", "double")
        assert _params(out_params) == [("float64", "total")]
        self.map_expr = map_expr
        super().__init__(in_params, "T total", "", name, preamble, options, host)

    def source(self, ctype: str, dtype: str) -> str:
        return (f'extern "C" double {self.name}_{dtype}(void** arrays, const double* scalars, long mask, long n) {{\n'
                f"  typedef {ctype} T;\n  double total = 0;\n  for (long i = 0; i < n; ++i) {{ {self._inputs()}\n"
                f"    total += static_cast<double>({self.map_expr});\n  }}\n  return total;\n}}")

    def __call__(self, *args):
        assert len(args) == len(self.ins)
        _, shape = self._check(args)
        total = self._launch(args, [], shape, restype=ctypes.c_double) if math.prod(shape) else 0.0
        return np.array(total)


@pytest.fixture(scope="module")
def cupy_on_cpu():
    """:mod:`tinyae.backend.cupy_kernels` loaded against the stand-in ``cupy``."""
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler (g++) to run the CuPy kernels' sources on the CPU")
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="tinyae-cupy-on-cpu-"))
    host = _HostKernels(workdir)
    fake = types.ModuleType("cupy")
    fake.ElementwiseKernel = lambda *a, **kw: _ElementwiseKernel(*a, host=host, **kw)
    fake.ReductionKernel = lambda *a, **kw: _ReductionKernel(*a, host=host, **kw)
    # The few array functions the module calls, from NumPy, whose API CuPy mirrors.
    for name in ("empty", "arange", "argpartition", "sort", "where"):
        setattr(fake, name, getattr(np, name))
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = fake
    try:
        spec = importlib.util.spec_from_file_location("_tinyae_cupy_kernels_on_cpu",
                                                      ROOT / "tinyae/backend/cupy_kernels.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["cupy"]
        else:
            sys.modules["cupy"] = saved
    for act in ACTS:  # create every kernel now, so that one compiler run builds them all
        module._act_kernel(act, True), module._act_kernel(act, False), module._dact_kernel(act)
    yield module
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module", params=["numba", "cupy-on-cpu"])
def fast(request):
    """The kernels under test: Numba's, and CuPy's run on the CPU."""
    if request.param == "numba":
        return ta.get_backend("numba").kernels
    return request.getfixturevalue("cupy_on_cpu")


# == kernels vs their NumPy twins ===========================================================

def _relayout(x: np.ndarray, layout: str) -> np.ndarray:
    """The same values in C order, Fortran order, or as a strided (non-contiguous) view."""
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided" and x.ndim:
        buf = np.full(x.shape[:-1] + (2 * x.shape[-1],), np.nan, x.dtype)
        buf[..., ::2] = x
        return buf[..., ::2]
    return x


def _values(dtype, big=None):
    big = BIG[dtype] if big is None else big
    width = np.dtype(dtype).itemsize * 8
    return st.one_of(st.floats(-big, big, width=width), st.floats(-4, 4, width=width))


@st.composite
def _array(draw, dtype, shape=None, big=None, min_dims=0, max_dims=3):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=5)) if shape is None else shape
    x = draw(hnp.arrays(dtype, shape, elements=_values(dtype, big)))
    return _relayout(x, draw(st.sampled_from(["C", "F", "strided"])))


def assert_matches(got, want, dtype, atol=0.0, what=""):
    """Equal to the twin up to a few units in the last place (plus ``atol``), same dtype and shape."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype == np.dtype(dtype), (what, got.dtype, want.dtype)
    info = np.finfo(dtype)
    np.testing.assert_allclose(got, want, rtol=8 * info.eps, atol=atol + 16 * info.tiny, err_msg=what)


def _unchanged(before, after):
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b, err_msg="a kernel modified its input")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["sigmoid", "softplus", "log_sigmoid"])
@given(data=st.data())
def test_unary_kernels_match_numpy(fast, name, dtype, data):
    x = data.draw(_array(dtype))
    x0 = x.copy()
    got = getattr(fast, name)(x)
    assert_matches(got, getattr(ref, name)(x), dtype, what=name)
    assert np.all(np.isfinite(got))
    _unchanged([x0], [x])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["tanh_backward", "sigmoid_backward"])
@given(data=st.data())
def test_backward_kernels_match_numpy(fast, name, dtype, data):
    z = data.draw(_array(dtype))
    y = _relayout(np.asarray(np.tanh(z) if name == "tanh_backward" else ref.sigmoid(z)), data.draw(st.sampled_from("CF")))
    g = data.draw(_array(dtype, shape=z.shape, big=10.0))
    before = [y.copy(), g.copy()]
    assert_matches(getattr(fast, name)(y, g), getattr(ref, name)(y, g), dtype, what=name)
    _unchanged(before, [y, g])


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_on_large_arrays_matches_numpy(fast, act, dtype, with_bias):
    # Hypothesis draws small arrays; large ones take the Numba backend's other
    # path (NumPy's SIMD exp/tanh between Numba passes), so check it too.
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((160, 130)) * 6).astype(dtype)  # 20,800 elements
    a[0, :4] = [-80, 80, -BIG[dtype] / 2, BIG[dtype] / 2]
    b = (rng.standard_normal(130) * 2).astype(dtype) if with_bias else None
    want = ref.bias_act(a, b, act)
    got = fast.bias_act(a.copy(), b, act)
    assert_matches(got, want, dtype, what=f"bias_act {act} (large)")
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("act", ACTS)
@given(data=st.data())
def test_activation_kernels_match_numpy(fast, act, dtype, data):
    """bias_act, then act_grad and act_grad_bias on its output."""
    with_bias = data.draw(st.booleans())
    big = BIG[dtype] / 2  # a + b still reaches +-BIG
    if with_bias:
        a = data.draw(_array(dtype, big=big, min_dims=2, max_dims=2))
        b = data.draw(_array(dtype, shape=(a.shape[1],), big=big))
    else:
        a, b = data.draw(_array(dtype)), None
    a0, b0 = a.copy(), None if b is None else b.copy()
    want = np.asarray(ref.bias_act(a, b, act))
    _unchanged([a0], [a])  # the twin never overwrites a ...
    got = fast.bias_act(a, b, act)  # ... a fast one may (only a)
    assert_matches(got, want, dtype, what=f"bias_act {act}")
    assert np.all(np.isfinite(got))
    if b is not None:
        _unchanged([b0], [b])

    y = _relayout(want, data.draw(st.sampled_from(["C", "F", "strided"])))
    g = data.draw(_array(dtype, shape=y.shape, big=10.0))
    before = [y.copy(), g.copy()]
    got = fast.act_grad(y, g, act)
    assert_matches(got, ref.act_grad(y, g, act), dtype, what=f"act_grad {act}")
    assert not np.shares_memory(got, g) and not np.shares_memory(got, y)
    _unchanged(before, [y, g])
    if y.ndim == 2:
        ga, gb = fast.act_grad_bias(y, g, act)
        want_ga, want_gb = ref.act_grad_bias(y, g, act)
        assert_matches(ga, want_ga, dtype, what=f"act_grad_bias {act}")
        # a column sum rounds with the size of its terms, not of the (maybe cancelled) result
        atol = 4 * np.finfo(dtype).eps * np.abs(want_ga).sum(axis=0).max(initial=0)
        assert_matches(gb, want_gb, dtype, atol=atol, what=f"act_grad_bias {act}")
        _unchanged(before, [y, g])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("loss", ["mse_value_grad", "bce_logits_value_grad"])
@given(data=st.data())
def test_loss_kernels_match_numpy(fast, loss, dtype, data):
    x = data.draw(_array(dtype, big=None if loss.startswith("bce") else 100.0))
    if loss.startswith("bce"):
        t = data.draw(hnp.arrays(dtype, x.shape, elements=st.floats(0, 1, width=np.dtype(dtype).itemsize * 8)))
    else:
        t = data.draw(_array(dtype, shape=x.shape, big=100.0))
    before = [x.copy(), t.copy()]
    value, grad = getattr(fast, loss)(x, t)
    want_value, want_grad = getattr(ref, loss)(x, t)
    assert isinstance(value, float)
    eps = float(np.finfo(dtype).eps)
    # sums round with the size of the terms (error bound ~ log2(N) eps for pairwise
    # summation, N eps for a serial one); sigmoid(z) - y cancels to ~eps / N
    terms = np.abs(x.astype(np.float64)) * (1 + np.abs(t)) + (x - t.astype(np.float64)) ** 2
    slack = 8 + np.log2(x.size + 1)
    assert value == pytest.approx(want_value, rel=slack * eps, abs=slack * eps * float(terms.mean()))
    assert_matches(grad, want_grad, dtype, atol=4 * eps / x.size, what=loss)
    _unchanged(before, [x, t])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@given(data=st.data())
def test_penalty_kernels_match_numpy(fast, dtype, data):
    # Codes in [0, 1] (KL needs them there) with whole columns pushed to 0 or 1,
    # so the clip of rho_hat and its zero gradient are exercised; L1 also on any sign.
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=2, max_side=6))
    unit = st.one_of(st.floats(0, 1, width=np.dtype(dtype).itemsize * 8), st.sampled_from([0.0, 1.0]))
    h = data.draw(hnp.arrays(dtype, shape, elements=unit))
    for c in range(shape[1]):
        mode = data.draw(st.sampled_from(["keep", "zeros", "ones"]))
        if mode != "keep":
            h[:, c] = 0.0 if mode == "zeros" else 1.0
    h = _relayout(h, data.draw(st.sampled_from(["C", "F", "strided"])))
    rho = data.draw(st.floats(0.01, 0.5))
    beta = data.draw(st.floats(0.0, 5.0))
    eps = data.draw(st.sampled_from([1e-6, 1e-3, 0.1]))
    before = h.copy()
    value, grad = fast.kl_sparsity_value_grad(h, rho, beta, eps)
    want_value, want_grad = ref.kl_sparsity_value_grad(h, rho, beta, eps)
    assert isinstance(value, float)
    assert value == pytest.approx(want_value, rel=1e-12, abs=1e-12)
    assert_matches(grad, want_grad, dtype, what="kl_sparsity")
    signed = h * np.where(np.arange(h.size).reshape(h.shape) % 2, -3.0, 3.0).astype(dtype)
    weight = data.draw(st.floats(0.0, 2.0))
    value, grad = fast.l1_value_grad(signed, weight)
    want_value, want_grad = ref.l1_value_grad(signed, weight)
    assert isinstance(value, float)
    assert value == pytest.approx(want_value, rel=1e-12, abs=1e-300)
    assert_matches(grad, want_grad, dtype, what="l1")
    _unchanged([before], [h])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=["f32", "f64", "i64"])
@given(data=st.data())
def test_noise_kernels_match_numpy_exactly(fast, dtype, data):
    # Same keys, same k: the same entries replaced by the same values, bit for bit.
    n, d = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 9))
    k = data.draw(st.integers(0, d))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 10).astype(dtype)
    layouts = ["C", "F"] if dtype == np.int64 else ["C", "F", "strided"]  # _relayout pads with NaN
    X = _relayout(X, data.draw(st.sampled_from(layouts)))
    keys = rng.random((n, d))
    salt = rng.random((n, k)) < 0.5
    low, high = float(X.min()) - 1.5, float(X.max()) + 2.5
    before = X.copy()
    got = fast.mask_noise(X, keys, k)
    want = ref.mask_noise(X, keys, k)
    assert got.dtype == want.dtype == X.dtype and got.shape == X.shape
    np.testing.assert_array_equal(got, want)
    assert int((got != X).sum()) <= n * k and int((want == 0).sum(axis=1).min()) >= k
    got = fast.salt_pepper_noise(X, keys, salt, k, low, high)
    want = ref.salt_pepper_noise(X, keys, salt, k, low, high)
    assert got.dtype == X.dtype
    np.testing.assert_array_equal(got, want)
    changed = (want != X).sum(axis=1)
    assert np.all(changed == k)  # low/high lie outside X's range, so every chosen entry changes
    _unchanged([before], [X])


@pytest.mark.parametrize("layout", ["C", "strided"])
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)],
                         ids=["plain", "l2", "decoupled"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_adam_update_matches_numpy_over_steps(fast, dtype, weight_decay, decoupled, layout):
    rng = np.random.default_rng(0)
    p = _relayout(rng.normal(size=(7, 5)).astype(dtype), layout)
    states = {"ref": [p.copy(), np.zeros_like(p), np.zeros_like(p)],
              "fast": [_relayout(p.copy(), layout), _relayout(np.zeros_like(p), layout), _relayout(np.zeros_like(p), layout)]}
    for t in range(1, 6):
        g = _relayout(rng.normal(size=p.shape).astype(dtype), layout)
        g0 = g.copy()
        ref.adam_update(*states["ref"][:1], g, *states["ref"][1:], 0.05, 0.9, 0.999, 1e-8, t, weight_decay, decoupled)
        out = fast.adam_update(*states["fast"][:1], g, *states["fast"][1:], 0.05, 0.9, 0.999, 1e-8, t,
                               weight_decay, decoupled)
        assert out is None
        _unchanged([g0], [g])
        for name, got, want in zip("pmv", states["fast"], states["ref"]):
            assert_matches(got, want, dtype, atol=8 * np.finfo(dtype).eps * np.abs(want).max(), what=f"{name} step {t}")


def _as_layout(a, layout):
    """``a``'s values as given (``"shaped"``), as a 1-D contiguous view (``"flat"``, what Adam
    passes), or as a 1-D view with stride 2 into a larger buffer (``"strided_flat"``)."""
    if layout == "shaped":
        return a
    if layout == "flat":
        return a.copy().reshape(-1)
    base = np.zeros(2 * a.size, dtype=a.dtype)
    base[::2] = a.reshape(-1)
    return base[::2]


@pytest.mark.parametrize("layout", ["shaped", "flat", "strided_flat"])
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)],
                         ids=["plain", "l2", "decoupled"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_adam_update_many_matches_per_parameter_updates(fast, dtype, weight_decay, decoupled, layout):
    # Several parameters of different shapes and step counts in one call equal
    # the NumPy spec's parameter-by-parameter updates, whatever the arrays' layout.
    rng = np.random.default_rng(1)
    shapes, ts = [(6, 4), (4,), (3, 6), (1,)], [3, 3, 1, 7]
    ps = [rng.normal(size=s).astype(dtype) for s in shapes]
    ms = [np.abs(rng.normal(size=s)).astype(dtype) * 0.1 for s in shapes]
    vs = [np.abs(rng.normal(size=s)).astype(dtype) * 0.1 for s in shapes]
    gs = [rng.normal(size=s).astype(dtype) for s in shapes]
    want = [[a.copy() for a in group] for group in (ps, ms, vs)]
    for p, g, m, v, t in zip(*want[:1], gs, *want[1:], ts):
        ref.adam_update(p, g, m, v, 0.05, 0.9, 0.999, 1e-8, t, weight_decay, decoupled)
    ps, gs, ms, vs = ([_as_layout(a, layout) for a in group] for group in (ps, gs, ms, vs))
    g0 = [g.copy() for g in gs]
    fast.adam_update_many(ps, gs, ms, vs, 0.05, 0.9, 0.999, 1e-8, ts, weight_decay, decoupled)
    _unchanged(g0, gs)
    for name, got_group, want_group in zip("pmv", (ps, ms, vs), want):
        for got, w in zip(got_group, want_group):
            assert_matches(got.reshape(w.shape), w, dtype, atol=8 * np.finfo(dtype).eps * np.abs(w).max(),
                           what=f"{name} ({layout})")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_kernels_on_0d_arrays(fast, dtype):
    x, g = np.array(3.5, dtype), np.array(-0.25, dtype)
    for name in ("sigmoid", "softplus", "log_sigmoid"):
        assert_matches(getattr(fast, name)(x), getattr(ref, name)(x), dtype, what=name)
    for name in ("tanh_backward", "sigmoid_backward"):
        assert_matches(getattr(fast, name)(x, g), getattr(ref, name)(x, g), dtype, what=name)
    for act in ACTS:
        assert_matches(fast.bias_act(x.copy(), None, act), ref.bias_act(x, None, act), dtype, what=act)
        assert_matches(fast.act_grad(x, g, act), ref.act_grad(x, g, act), dtype, what=act)
    for loss in ("mse_value_grad", "bce_logits_value_grad"):
        (v, gr), (wv, wgr) = getattr(fast, loss)(x, g), getattr(ref, loss)(x, g)
        assert v == pytest.approx(wv, rel=1e-6)
        assert_matches(gr, wgr, dtype, what=loss)


def test_unknown_activation_raises(fast):
    x = np.ones((2, 3))
    for fn in (lambda: fast.bias_act(x.copy(), None, "swish"), lambda: fast.act_grad(x, x, "swish"),
               lambda: fast.act_grad_bias(x, x, "swish")):
        with pytest.raises(ValueError, match="swish"):
            fn()


def test_every_kernel_module_has_the_twins_functions():
    """Same public functions, same parameters, in the NumPy, Numba and CuPy modules (the CuPy one read
    from its source, which imports cupy)."""
    def public_functions(path):
        tree = ast.parse(path.read_text())
        return {n.name: [a.arg for a in n.args.args] for n in tree.body
                if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
    spec = public_functions(ROOT / "tinyae/backend/numpy_kernels.py")
    assert {"bias_act", "act_grad_bias", "adam_update"} <= set(spec)
    for module in ("numba_kernels", "cupy_kernels"):
        funcs = public_functions(ROOT / f"tinyae/backend/{module}.py")
        for name, args in spec.items():
            assert funcs.get(name) == args, f"{module}.{name}: expected parameters {args}, got {funcs.get(name)}"
    numba_kernels = ta.get_backend("numba").kernels
    assert numba_kernels.FUSED_ACTIVATIONS == ref.FUSED_ACTIVATIONS
    assert set(spec) <= set(numba_kernels.__all__)


def test_cupy_kernels_compile_without_fast_math():
    tree = ast.parse((ROOT / "tinyae/backend/cupy_kernels.py").read_text())
    options = [ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "_OPTIONS" for t in n.targets)]
    assert options == [("--fmad=false",)]


# == Numba: how the kernels are compiled ====================================================

def _dispatchers():
    from numba.core.registry import CPUDispatcher
    module = ta.get_backend("numba").kernels
    found = {name: obj for name, obj in vars(module).items() if isinstance(obj, CPUDispatcher)}
    assert len(found) >= 10, found
    return found


def test_numba_kernels_are_serial_exact_and_cached():
    """No parallel=True (Numba's OpenMP workers and OpenBLAS threads busy-wait against each other,
    docs/performance.md), no fastmath (gradients must match the twins), and cache=True."""
    for name, dispatcher in _dispatchers().items():
        options = dispatcher.targetoptions
        assert not options.get("parallel"), f"{name}: compiled with parallel=True"
        assert not options.get("fastmath"), f"{name}: compiled with fastmath"
        assert options.get("error_model") == "numpy", name
        assert type(dispatcher._cache).__name__ != "NullCache", f"{name}: compiled without cache=True"
        source = inspect.getsource(dispatcher.py_func)
        assert "prange" not in source, f"{name}: uses prange"
        # a cache=True kernel that calls numba.get_num_threads() (or reads mutable globals) cannot be cached
        assert "get_num_threads" not in source and "set_num_threads" not in source, name


_CACHE_PROBE = """
import warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from tinyae.backend import numba_kernels as k
    for dt in (np.float32, np.float64):
        x = np.linspace(-3, 3, 12, dtype=dt).reshape(3, 4)
        b = np.ones(4, dt)
        k.sigmoid(x), k.softplus(x), k.log_sigmoid(x), k.tanh_backward(x, x), k.sigmoid_backward(x, x)
        k.mse_value_grad(x, x), k.bce_logits_value_grad(x, x)
        k.adam_update(x.copy(), x, np.zeros_like(x), np.zeros_like(x), 0.1, 0.9, 0.999, 1e-8, 1, 0.1, True)
        for act in k.FUSED_ACTIVATIONS:
            k.bias_act(x.copy(), b, act), k.bias_act(x.copy(), None, act), k.act_grad_bias(x, x, act)
            k.act_grad(x, x, act)
print([str(w.message) for w in caught if "cache" in str(w.message).lower()])
"""


def test_numba_kernels_can_be_cached():
    """A kernel that reads dynamic globals (e.g. calls numba.get_num_threads()) is silently recompiled
    in every process; Numba only warns. Call every kernel in a fresh process and look for the warning."""
    out = subprocess.run([sys.executable, "-c", _CACHE_PROBE], capture_output=True, text=True, cwd=ROOT,
                         check=True, timeout=600)
    assert out.stdout.strip() == "[]", out.stdout


# == cross-backend parity: every catalog op ==================================================

def _run_op(spec, arrays, backend, dtype):
    with use_backend(backend):
        ts = [ta.Tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
        out = spec.fn(*ts)
        assert out.backend.name == backend, f"{spec.name}: the result left the {backend} backend"
        v = np.cos(np.arange(out.size)).reshape(out.shape).astype(dtype)
        out.backward(v)
    grads = [np.zeros(t.shape, dtype) if t.grad is None else t.grad for t in ts]
    return out.data, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("spec", CATALOG, ids=[s.name for s in CATALOG])
def test_catalog_op_same_on_numba_and_numpy(spec, dtype):
    for seed in (0, 1):
        arrays = example_inputs(spec, seed)
        out_np, grads_np = _run_op(spec, arrays, "numpy", dtype)
        out_nb, grads_nb = _run_op(spec, arrays, "numba", dtype)
        tol = 2e-6 if dtype == np.float32 else 1e-13
        for got, want, what in [(out_nb, out_np, "forward")] + [
                (g1, g2, f"grad {i}") for i, (g1, g2) in enumerate(zip(grads_nb, grads_np))]:
            assert got.dtype == want.dtype == dtype and got.shape == want.shape, (spec.name, what)
            scale = max(1.0, float(np.abs(want).max(initial=0)))
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=f"{spec.name}: {what}")


# == cross-backend parity: models and training ===============================================

MODELS = {
    "deep_relu_mse": lambda dt: AutoencoderModule(12, 3, (8,), "relu", rng=1, dtype=dt),
    "sparse_kl_bce": lambda dt: AutoencoderModule(12, 4, (), "sigmoid", loss="bce", sparsity=("kl", 0.1, 3.0),
                                                  rng=2, dtype=dt),
    "sparse_l1_elu": lambda dt: AutoencoderModule(12, 4, (6,), "elu", output_activation="linear",
                                                  sparsity=("l1", 1e-3), rng=3, dtype=dt),
    "contractive": lambda dt: AutoencoderModule(12, 4, (), "sigmoid", contractive=0.1, rng=4, dtype=dt),
    "tied_tanh_wd": lambda dt: AutoencoderModule(12, 3, (6,), "tanh", tied_weights=True, weight_decay=1e-3,
                                                 rng=5, dtype=dt),
    "denoising_softplus": lambda dt: AutoencoderModule(12, 3, (8,), "softplus", noise=("masking", 0.3),
                                                       rng=6, dtype=dt),
    "vae_bce": lambda dt: VAEModule(12, 2, (8,), "relu", loss="bce", rng=7, dtype=dt),
    "vae_mse_leaky": lambda dt: VAEModule(12, 2, (8,), "leaky_relu", loss="mse", rng=8, dtype=dt),
}


def _data(n=40, d=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, (n, d)).astype(dtype)


def _terms_and_grads(name, backend):
    with use_backend(backend):
        model = MODELS[name](np.float64)
        X = ta.Tensor(_data())
        terms = model.loss_terms(X, np.random.default_rng(11))
        total = None
        for t in terms.values():
            total = t if total is None else total + t
        total.backward()
        assert all(p.backend.name == backend for p in model.parameters())
        return ({k: t.item() for k, t in terms.items()},
                {k: p.grad for k, p in model.named_parameters()})


@pytest.mark.parametrize("name", list(MODELS))
def test_model_loss_terms_and_gradients_same_on_numba_and_numpy(name):
    terms_nb, grads_nb = _terms_and_grads(name, "numba")
    terms_np, grads_np = _terms_and_grads(name, "numpy")
    assert terms_nb.keys() == terms_np.keys()
    for k in terms_np:
        assert terms_nb[k] == pytest.approx(terms_np[k], rel=1e-12, abs=1e-14), k
    assert grads_nb.keys() == grads_np.keys()
    for k in grads_np:
        scale = float(np.abs(grads_np[k]).max())
        np.testing.assert_allclose(grads_nb[k], grads_np[k], rtol=1e-10, atol=1e-12 * scale, err_msg=k)


def _train(name, backend):
    with use_backend(backend):
        model = MODELS[name](np.float32)
        X = _data(64, seed=3, dtype=np.float32)
        history = fit_module(model, X, optimizer=Adam(model.parameters(), lr=1e-2), epochs=3, batch_size=16,
                             rng=np.random.default_rng(0))
        assert all(type(p.data) is np.ndarray and p.dtype == np.float32 for p in model.parameters())
        return history, model.state_dict()


@pytest.mark.parametrize("name", ["deep_relu_mse", "sparse_kl_bce", "vae_bce"])
def test_training_same_on_numba_and_numpy(name):
    hist_nb, w_nb = _train(name, "numba")
    hist_np, w_np = _train(name, "numpy")
    np.testing.assert_allclose(hist_nb["loss"], hist_np["loss"], rtol=1e-4)
    for k in w_np:
        np.testing.assert_allclose(w_nb[k], w_np[k], rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_training_is_bit_reproducible(backend):
    (h1, w1), (h2, w2) = _train("sparse_kl_bce", backend), _train("sparse_kl_bce", backend)
    assert h1["loss"] == h2["loss"]
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k], err_msg=k)


# == the switch ===============================================================================

def test_set_backend_and_use_backend_restore():
    ta.set_backend("numpy")
    assert ta.current_backend().name == "numpy" and ta.get_backend().name == "numpy"
    with use_backend("numba") as b:
        assert b.name == "numba" and ta.current_backend() is b
        with use_backend("numpy"):
            assert ta.current_backend().name == "numpy"
        assert ta.current_backend().name == "numba"
    assert ta.current_backend().name == "numpy"
    with pytest.raises(KeyError):
        with use_backend("numba"):
            raise KeyError("restored even on an error")
    assert ta.current_backend().name == "numpy"
    assert ta.set_backend("numba") is ta.get_backend("numba")  # one Backend object per name


def test_backend_records():
    for name, device in (("numpy", "cpu"), ("numba", "cpu")):
        b = ta.get_backend(name)
        assert (b.name, b.xp, b.device) == (name, np, device)
        assert b.owns(np.zeros(2)) and b.owns(np.float64(1.0)) and not b.owns([1.0])
        assert callable(b.kernels.bias_act)
    assert ta.get_backend("numpy").kernels is ref
    assert {"numpy", "numba"} <= set(ta.available_backends())


@pytest.mark.parametrize("call", [ta.set_backend, ta.get_backend, lambda n: use_backend(n).__enter__()])
def test_unknown_backend_raises_value_error(call):
    with pytest.raises(ValueError, match="'tpu'"):
        call("tpu")


def test_default_backend_from_environment(monkeypatch):
    monkeypatch.delenv("TINYAE_BACKEND", raising=False)
    assert backend_mod.default_backend_name() == "numba"
    for value, expected in (("numpy", "numpy"), (" NumPy ", "numpy"), ("numba", "numba"), ("cupy", "cupy"),
                            ("", "numba")):
        monkeypatch.setenv("TINYAE_BACKEND", value)
        assert backend_mod.default_backend_name() == expected
    monkeypatch.setenv("TINYAE_BACKEND", "jax")
    with pytest.raises(ValueError, match="TINYAE_BACKEND.*'jax'"):
        backend_mod.default_backend_name()
    # the current backend is chosen from the variable on first use
    monkeypatch.setattr(backend_mod._State, "current", None)
    monkeypatch.setenv("TINYAE_BACKEND", "numpy")
    assert ta.current_backend().name == "numpy"
    assert ta.Tensor([1.0]).backend.name == "numpy"


def test_environment_variable_in_a_fresh_process():
    code = "import tinyae as ta; print(ta.current_backend().name, ta.Tensor([1.0]).backend.name)"
    env = dict(os.environ, TINYAE_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["numpy", "numpy"]


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_tensors_know_their_backend_and_results_inherit_it(name):
    other = "numba" if name == "numpy" else "numpy"
    with use_backend(name):
        x = ta.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        W = ta.Tensor(np.ones((3, 2)), requires_grad=True)
        b = ta.Tensor(np.zeros(2), requires_grad=True)
    assert x.backend.name == name
    with use_backend(other):  # the current backend does not matter once a Tensor exists
        results = [x + 1.0, 2.0 * x, x * np.ones(3), x @ W, x.sum(), x.T, x[0], F.sigmoid(x), F.relu(x),
                   F.dense(x, W, b, "tanh"), F.mse_loss(x, np.zeros((2, 3))), ta.concatenate([x, np.ones((1, 3))]),
                   x.detach(), ta.as_tensor(3.0, like=x)]
        for r in results:
            assert r.backend is x.backend, r
        loss = F.dense(x, W, b, "sigmoid").sum()
        loss.backward()
    for t in (x, W, b):
        assert type(t.grad) is np.ndarray
    for t in results[:-2]:
        assert type(t.to_numpy()) is np.ndarray
    assert type(ta.Tensor(2.0).to_numpy()) is np.ndarray and ta.Tensor(2.0).to_numpy().shape == ()


MIXED_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "matmul": lambda a, b: a @ b.T, "maximum": ta.maximum, "minimum": ta.minimum,
    "where": lambda a, b: ta.where(a.data > 0, a, b), "concatenate": lambda a, b: ta.concatenate([a, b]),
    "mse_loss": F.mse_loss, "mse_loss_sum": lambda a, b: F.mse_loss(a, b, "sum"),
    "bce": F.binary_cross_entropy_with_logits, "dense": lambda a, b: F.dense(a, b.T),
}


@pytest.mark.parametrize("op", list(MIXED_OPS))
@pytest.mark.parametrize("order", ["numpy-numba", "numba-numpy"])
def test_mixing_backends_in_one_op_raises(op, order):
    first, second = order.split("-")
    with use_backend(first):
        a = ta.Tensor(np.full((2, 3), 0.5), requires_grad=True)
    with use_backend(second):
        b = ta.Tensor(np.full((2, 3), 0.25))
    with pytest.raises(TypeError, match=f"{first} and {second}|{second} and {first}"):
        MIXED_OPS[op](a, b)


def test_cupy_backend_unavailable_here_says_why():
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("cupy is installed: tests/test_cupy.py covers the CuPy backend")
    for _ in range(2):  # the failure is remembered, with its reason
        with pytest.raises(RuntimeError, match=r"backend 'cupy' is not available: ModuleNotFoundError: .*cupy"):
            ta.set_backend("cupy")
    assert "cupy" not in ta.available_backends()
    assert ta.current_backend().name != "cupy"


@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)],
                         ids=["plain", "l2", "decoupled"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_numba_adam_is_bit_for_bit_the_numpy_twin(dtype, weight_decay, decoupled):
    # Same formula, same operation order, scalars rounded once from double:
    # docs/backends.md promises identical bits, not just agreement to rounding.
    nk = ta.get_backend("numba").kernels
    rng = np.random.default_rng(11)
    want = [rng.normal(size=257).astype(dtype), np.zeros(257, dtype), np.zeros(257, dtype)]
    got = [a.copy() for a in want]
    for t in range(1, 12):
        g = rng.normal(size=257).astype(dtype)
        ref.adam_update(want[0], g, want[1], want[2], 0.01, 0.9, 0.999, 1e-8, t, weight_decay, decoupled)
        nk.adam_update_many([got[0]], [g], [got[1]], [got[2]], 0.01, 0.9, 0.999, 1e-8, [t], weight_decay, decoupled)
        for name, a, b in zip("pmv", got, want):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} after step {t}")


def test_numba_noise_kernels_break_key_ties_in_column_order():
    # Random float64 keys practically never tie, so build ties by hand: with
    # k = 3 and keys (0.5, 0.1, 0.5, 0.5, 0.9), the k-th smallest key is 0.5 and
    # two of the three tied entries are taken: the first two in column order.
    nk = ta.get_backend("numba").kernels
    X = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]], dtype=np.float32)
    keys = np.array([[0.5, 0.1, 0.5, 0.5, 0.9], [0.2, 0.2, 0.2, 0.2, 0.2]])
    np.testing.assert_array_equal(nk.mask_noise(X, keys, 3), [[0, 0, 0, 4, 5], [0, 0, 0, 9, 10]])
    salt = np.array([[True, False, True], [False, True, True]])
    np.testing.assert_array_equal(nk.salt_pepper_noise(X, keys, salt, 3, -1.0, 20.0),
                                  [[20, -1, 20, 4, 5], [-1, 20, 20, 9, 10]])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_adam_flushes_subnormal_moments_and_keeps_nan(fast, dtype):
    # A dead unit's gradient is exactly 0, so its first moment decays by beta1 each step, into the
    # subnormals, where 0.9 * (smallest subnormal) rounds back to itself: it would stick there and
    # make every later step slow. Moments below finfo.tiny become 0; NaN and normal values stay.
    tiny = np.finfo(dtype).tiny
    smallest = np.nextafter(dtype(0), dtype(1))
    m0 = np.array([smallest, -smallest, tiny * 4, tiny / 2, np.nan, 0.5, 1e-3], dtype=dtype)
    v0 = np.array([smallest, tiny * 0.9, tiny * 2000, tiny, 1.0, np.nan, 1e-6], dtype=dtype)
    g = np.zeros_like(m0)
    results = []
    for kernels in (ref, fast):
        p, m, v = np.ones_like(m0), m0.copy(), v0.copy()
        kernels.adam_update_many([p], [g], [m], [v], 1e-3, 0.9, 0.999, 1e-8, [50], 0.0, False)
        results.append((p, m, v))
        assert m[0] == 0 and m[1] == 0 and m[3] == 0 and v[0] == 0 and v[1] == 0
        assert m[2] != 0 and np.isnan(m[4]) and np.isnan(v[5]) and np.isnan(p[4]) and np.isnan(p[5])
        assert np.all(np.isfinite(p[[0, 1, 2, 3, 6]]))
    for got, want in zip(results[1], results[0]):
        np.testing.assert_array_equal(got, want)
