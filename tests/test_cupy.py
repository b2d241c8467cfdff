"""The CuPy backend on a GPU: ops, kernels and training against the NumPy reference.

Skipped as a whole where the CuPy backend does not load (no ``cupy`` package,
no CUDA driver or no GPU); the reason is in the skip message. On a GPU
machine ``python benchmarks/gpu_check.py`` runs this file and
``tests/test_backends.py``, then times a training step.

``tinyae.gradcheck`` works in float64 on host copies of its inputs (it runs
the function on the CPU), so here each op's GPU gradients are compared with
the NumPy backend's, which ``tests/test_ops.py`` gradchecks, and with a
finite-difference directional derivative computed on the GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyae as ta

try:
    CUPY = ta.get_backend("cupy")
except RuntimeError as exc:
    reason = str(exc).split("is not available: ", 1)[-1]
    pytest.skip(f"CuPy backend unavailable: {reason}", allow_module_level=True)

import cupy  # noqa: E402  (only importable where the backend loaded)
from catalog import CATALOG, example_inputs  # noqa: E402

from tinyae import functional as F  # noqa: E402
from tinyae.backend import numpy_kernels as ref  # noqa: E402
from tinyae.backend import use_backend  # noqa: E402
from tinyae.models import AutoencoderModule, VAEModule  # noqa: E402
from tinyae.optim import Adam  # noqa: E402
from tinyae.tensor import no_grad  # noqa: E402
from tinyae.training import fit_module  # noqa: E402

K = CUPY.kernels
DTYPES = [np.float32, np.float64]
IDS = ["f32", "f64"]
# ops whose fn builds NumPy data (a target, an ndarray operand): on the GPU these must
# refuse to mix backends rather than copy to the device behind the user's back
HOST_DATA_OPS = {s.name for s in CATALOG if "ndarray" in s.name or "const_target" in s.name}
GPU_OPS = [s for s in CATALOG if s.name not in HOST_DATA_OPS]


def _tol(dtype):
    # float32: cuBLAS and CuPy's reductions sum in another order than NumPy, and the CUDA
    # maths library's exp/log1p/tanh may differ from the host's in the last bit or two
    return 2e-5 if dtype == np.float32 else 1e-11


def _close(got, want, dtype, what):
    scale = max(1.0, float(np.abs(want).max(initial=0)))
    np.testing.assert_allclose(got, want, rtol=_tol(dtype), atol=_tol(dtype) * scale, err_msg=what)


# == the backend record ======================================================================

def test_backend_record_and_tensor_placement():
    assert (CUPY.name, CUPY.xp, CUPY.device) == ("cupy", cupy, "gpu")
    assert CUPY.owns(cupy.zeros(2)) and not CUPY.owns(np.zeros(2))
    t = ta.Tensor(cupy.arange(3.0))
    assert t.backend is CUPY  # a CuPy array belongs to the CuPy backend, whatever is current
    with use_backend("cupy") as b:
        assert b is CUPY and ta.current_backend() is CUPY
        host = ta.Tensor(np.ones(3))  # a NumPy array is never uploaded implicitly
        assert host.backend.device == "cpu" and type(host.data) is np.ndarray
        assert (t * 2.0).backend is CUPY and type((t * 2.0).data) is cupy.ndarray
    assert ta.current_backend() is not CUPY
    assert type(t.to_numpy()) is np.ndarray
    np.testing.assert_array_equal(t.to_numpy(), [0.0, 1.0, 2.0])


def test_mixing_gpu_and_cpu_tensors_raises():
    a = ta.Tensor(cupy.ones((2, 3)), requires_grad=True)
    with use_backend("numpy"):
        b = ta.Tensor(np.ones((2, 3)))
    for op in (lambda: a + b, lambda: a @ b.T, lambda: F.mse_loss(a, b), lambda: ta.concatenate([a, b]),
               lambda: F.dense(a, b.T)):
        with pytest.raises(TypeError, match="cupy and numpy"):
            op()


# == every catalog op: forward and gradients vs the NumPy backend, directional check on the GPU ==

def _run(spec, arrays, dtype, gpu):
    xp = cupy if gpu else np
    if gpu:
        ts = [ta.Tensor(cupy.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    else:
        with use_backend("numpy"):
            ts = [ta.Tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    out = spec.fn(*ts)
    assert out.backend.name == ("cupy" if gpu else "numpy"), spec.name
    v = xp.asarray(np.cos(np.arange(out.size)).reshape(out.shape).astype(dtype))
    out.backward(v)
    grads = []
    for t in ts:
        if t.grad is None:
            grads.append(np.zeros(t.shape, dtype))
        else:
            assert isinstance(t.grad, cupy.ndarray) == gpu, f"{spec.name}: gradient on the wrong device"
            grads.append(cupy.asnumpy(t.grad))
    assert isinstance(out.data, cupy.ndarray) == gpu, spec.name
    return cupy.asnumpy(out.data), grads


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("spec", GPU_OPS, ids=[s.name for s in GPU_OPS])
def test_catalog_op_matches_numpy(spec, dtype):
    arrays = example_inputs(spec)
    out_gpu, grads_gpu = _run(spec, arrays, dtype, gpu=True)
    out_cpu, grads_cpu = _run(spec, arrays, dtype, gpu=False)
    assert out_gpu.dtype == out_cpu.dtype == dtype and out_gpu.shape == out_cpu.shape
    _close(out_gpu, out_cpu, dtype, f"{spec.name}: forward")
    for i, (g1, g2) in enumerate(zip(grads_gpu, grads_cpu)):
        assert g1.dtype == dtype
        _close(g1, g2, dtype, f"{spec.name}: gradient of input {i}")


@pytest.mark.parametrize("spec", GPU_OPS, ids=[s.name for s in GPU_OPS])
def test_catalog_op_directional_derivative_on_gpu(spec):
    """``v^T J u`` from backward() equals its central finite difference, all in float64 on the GPU."""
    rs = cupy.random.RandomState(0)
    xs = [cupy.asarray(a, dtype=cupy.float64) for a in example_inputs(spec, seed=1)]
    ts = [ta.Tensor(x, requires_grad=True) for x in xs]
    out = spec.fn(*ts)
    v = rs.standard_normal(out.shape)
    out.backward(v)
    eps = 1e-6
    for i, t in enumerate(ts):
        u = rs.standard_normal(t.shape)
        analytic = float(cupy.sum(t.grad * u)) if t.grad is not None else 0.0
        with no_grad():
            plus = spec.fn(*[ta.Tensor(x + eps * u if j == i else x) for j, x in enumerate(xs)]).data
            minus = spec.fn(*[ta.Tensor(x - eps * u if j == i else x) for j, x in enumerate(xs)]).data
        numeric = float(cupy.sum(v * (plus - minus))) / (2 * eps)
        assert abs(analytic - numeric) <= 1e-5 + 1e-4 * abs(numeric), (spec.name, i, analytic, numeric)


@pytest.mark.parametrize("name", sorted(HOST_DATA_OPS))
def test_ops_with_host_data_refuse_gpu_tensors(name):
    spec = next(s for s in CATALOG if s.name == name)
    ts = [ta.Tensor(cupy.asarray(a), requires_grad=True) for a in example_inputs(spec)]
    with pytest.raises(TypeError, match="one backend"):
        spec.fn(*ts)


# == every kernel vs its NumPy twin ===========================================================

def _inputs(dtype, shape=(33, 17), seed=0, big=None):
    """Values spread over the stable kernels' hard range (+-80 float32, +-1e4 float64) and near 0."""
    rng = np.random.default_rng(seed)
    big = {np.float32: 80.0, np.float64: 1e4}[dtype] if big is None else big
    x = np.where(rng.random(shape) < 0.5, rng.uniform(-big, big, shape), rng.uniform(-4, 4, shape))
    return x.astype(dtype)


def _layouts(x):
    """C-contiguous, Fortran-ordered and strided (non-contiguous) device copies of ``x``."""
    yield "C", cupy.asarray(x)
    yield "F", cupy.asfortranarray(cupy.asarray(x))
    if x.ndim:
        buf = cupy.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        buf[..., ::2] = cupy.asarray(x)
        yield "strided", buf[..., ::2]


def _match(got, want, dtype, what, atol=0.0):
    assert isinstance(got, cupy.ndarray), f"{what}: expected a CuPy array, got {type(got).__name__}"
    got, want = cupy.asnumpy(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype == dtype, (what, got.shape, got.dtype)
    info = np.finfo(dtype)
    np.testing.assert_allclose(got, want, rtol=32 * info.eps, atol=atol + 16 * info.tiny, err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_elementwise_kernels_match_numpy(dtype):
    for shape in ((33, 17), (), (5, 1, 3)):
        x = _inputs(dtype, shape)
        g = _inputs(dtype, shape, seed=1, big=10.0)
        for layout, xd in _layouts(x):
            x0 = xd.copy()
            for name in ("sigmoid", "softplus", "log_sigmoid"):
                out = getattr(K, name)(xd)
                _match(out, getattr(ref, name)(x), dtype, f"{name} {layout} {shape}")
                assert bool(cupy.isfinite(out).all())
            for name, y in (("tanh_backward", np.tanh(x)), ("sigmoid_backward", ref.sigmoid(x))):
                y = np.asarray(y)
                _match(getattr(K, name)(cupy.asarray(y), cupy.asarray(g)), getattr(ref, name)(y, g), dtype,
                       f"{name} {layout} {shape}")
            cupy.testing.assert_array_equal(xd, x0)  # inputs untouched


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("act", ref.FUSED_ACTIVATIONS)
def test_activation_kernels_match_numpy(act, dtype):
    a = _inputs(dtype, big={np.float32: 40.0, np.float64: 5e3}[dtype])
    b = _inputs(dtype, (a.shape[1],), seed=2, big={np.float32: 40.0, np.float64: 5e3}[dtype])
    want = np.asarray(ref.bias_act(a, b, act))
    for layout, ad in _layouts(a):
        bd = cupy.asarray(b)
        out = K.bias_act(ad, bd, act)
        _match(out, want, dtype, f"bias_act {act} {layout}")
        if layout == "C":  # a fresh contiguous pre-activation is overwritten, not copied
            assert out.data.ptr == ad.data.ptr
        cupy.testing.assert_array_equal(bd, b)
    _match(K.bias_act(cupy.asarray(a), None, act), ref.bias_act(a, None, act), dtype, f"bias_act {act} no bias")
    g = _inputs(dtype, a.shape, seed=3, big=10.0)
    for layout, yd in _layouts(want):
        gd = cupy.asarray(g)
        y0 = yd.copy()
        _match(K.act_grad(yd, gd, act), ref.act_grad(want, g, act), dtype, f"act_grad {act} {layout}")
        ga, gb = K.act_grad_bias(yd, gd, act)
        want_ga, want_gb = ref.act_grad_bias(want, g, act)
        _match(ga, want_ga, dtype, f"act_grad_bias {act} {layout}")
        atol = 4 * np.finfo(dtype).eps * np.abs(want_ga).sum(axis=0).max()
        _match(gb, want_gb, dtype, f"act_grad_bias {act} {layout} (bias)", atol=atol)
        cupy.testing.assert_array_equal(yd, y0)
        cupy.testing.assert_array_equal(gd, g)
    with pytest.raises(ValueError, match="swish"):
        K.bias_act(cupy.asarray(a), None, "swish")


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_loss_kernels_match_numpy(dtype):
    eps = float(np.finfo(dtype).eps)
    x = _inputs(dtype)
    for loss, t in (("mse_value_grad", _inputs(dtype, seed=4, big=5.0)),
                    ("bce_logits_value_grad", np.random.default_rng(5).uniform(0, 1, x.shape).astype(dtype))):
        for layout, xd in _layouts(x):
            td = cupy.asarray(t)
            value, grad = getattr(K, loss)(xd, td)
            want_value, want_grad = getattr(ref, loss)(x, t)
            assert isinstance(value, float)
            terms = np.abs(x.astype(np.float64)) * (1 + np.abs(t)) + (x - t.astype(np.float64)) ** 2
            assert value == pytest.approx(want_value, rel=16 * eps, abs=16 * eps * float(terms.mean())), loss
            _match(grad, want_grad, dtype, f"{loss} {layout}", atol=8 * eps / x.size)
    value, grad = K.mse_value_grad(cupy.asarray(np.float64(2.0)).astype(dtype), cupy.asarray(np.float64(0.5)).astype(dtype))
    assert value == pytest.approx(2.25) and grad.shape == ()


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)],
                         ids=["plain", "l2", "decoupled"])
def test_adam_kernel_matches_numpy_in_place(dtype, weight_decay, decoupled):
    rng = np.random.default_rng(0)
    p = rng.normal(size=(40, 9)).astype(dtype)
    host = [p.copy(), np.zeros_like(p), np.zeros_like(p)]
    dev = [cupy.asarray(p), cupy.zeros(p.shape, dtype), cupy.zeros(p.shape, dtype)]
    pointers = [a.data.ptr for a in dev]
    for t in range(1, 8):
        g = rng.normal(size=p.shape).astype(dtype)
        gd = cupy.asarray(g)
        ref.adam_update(host[0], g, host[1], host[2], 0.01, 0.9, 0.999, 1e-8, t, weight_decay, decoupled)
        assert K.adam_update(dev[0], gd, dev[1], dev[2], 0.01, 0.9, 0.999, 1e-8, t, weight_decay, decoupled) is None
        cupy.testing.assert_array_equal(gd, g)
    assert [a.data.ptr for a in dev] == pointers  # updated in place
    for name, d, h in zip("pmv", dev, host):
        _match(d, h, dtype, f"adam {name}", atol=8 * np.finfo(dtype).eps * np.abs(h).max())


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_penalty_and_noise_kernels_match_numpy(dtype):
    rng = np.random.default_rng(5)
    h = rng.random((37, 11)).astype(dtype)
    h[:, 0] = 0.0  # a dead unit: clipped rho_hat, zero gradient
    for name, args in (("kl_sparsity_value_grad", (0.05, 3.0, 1e-6)), ("l1_value_grad", (0.01,))):
        value, grad = getattr(K, name)(cupy.asarray(h - (0.5 if name == "l1_value_grad" else 0.0)), *args)
        want_value, want_grad = getattr(ref, name)(h - (0.5 if name == "l1_value_grad" else 0.0), *args)
        assert type(grad) is cupy.ndarray and grad.dtype == dtype
        assert value == pytest.approx(want_value, rel=1e-10)
        _close(cupy.asnumpy(grad), want_grad, dtype, name)
    X = rng.normal(size=(37, 29)).astype(dtype)
    keys = rng.random(X.shape)
    salt = rng.random((37, 9)) < 0.5
    got = K.mask_noise(cupy.asarray(X), cupy.asarray(keys), 9)
    np.testing.assert_array_equal(cupy.asnumpy(got), ref.mask_noise(X, keys, 9))
    got = K.salt_pepper_noise(cupy.asarray(X), cupy.asarray(keys), cupy.asarray(salt), 9, -4.0, 4.0)
    np.testing.assert_array_equal(cupy.asnumpy(got), ref.salt_pepper_noise(X, keys, salt, 9, -4.0, 4.0))


def test_kernels_refuse_host_arrays():
    with pytest.raises(TypeError):
        K.sigmoid(np.ones((2, 2)))
    with pytest.raises(TypeError):
        K.bias_act(cupy.ones((2, 2)), np.ones(2), "relu")


# == models and training on the GPU ===========================================================

def _model(kind, dtype):
    if kind == "vae":
        return VAEModule(16, 2, (8,), "relu", loss="bce", rng=0, dtype=dtype)
    return AutoencoderModule(16, 3, (8,), "relu", sparsity=("l1", 1e-3), noise=("gaussian", 0.1), rng=0,
                             dtype=dtype)


def _data(dtype=np.float32):
    return np.random.default_rng(1).uniform(0.05, 0.95, (96, 16)).astype(dtype)


def _on_gpu(model):
    """Move a model's parameters to the GPU explicitly (layers create them from NumPy arrays,
    which now move to the GPU by themselves; kept to make the intent explicit)."""
    for p in model.parameters():
        if not CUPY.owns(p.data):
            p.data, p._backend = cupy.asarray(p.data), CUPY
    return model


def test_models_built_under_the_cupy_backend_live_on_the_gpu():
    with use_backend("cupy"):
        model = _model("autoencoder", np.float32)
    assert all(p.backend is CUPY for p in model.parameters())


def _train(kind, backend, X):
    with use_backend(backend):
        model = _model(kind, np.float32)
        if backend == "cupy":
            _on_gpu(model)
        opt = Adam(model.parameters(), lr=1e-2)
        history = fit_module(model, X, optimizer=opt, epochs=3, batch_size=32, rng=np.random.default_rng(2),
                             validation_data=X[:32])
    return model, opt, history


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_training_keeps_everything_on_the_gpu(kind):
    X = cupy.asarray(_data())
    model, opt, history = _train(kind, "cupy", X)
    for name, p in model.named_parameters():
        assert p.backend is CUPY and type(p.data) is cupy.ndarray, name
        assert type(p.grad) is cupy.ndarray, name
    for buffers in opt.state.values():
        assert all(type(b) is cupy.ndarray for b in buffers)
    assert all(np.isfinite(history["loss"])) and all(np.isfinite(history["val_loss"]))
    # one more step by hand: every node of the graph and every gradient is a device array
    with use_backend("cupy"):
        terms = model.loss_terms(ta.Tensor(X[:32]), np.random.default_rng(3))
    total = None
    for t in terms.values():
        total = t if total is None else total + t
    nodes = total.topological_order()
    assert all(type(n.data) is cupy.ndarray for n in nodes), [n.op for n in nodes if type(n.data) is not cupy.ndarray]
    opt.zero_grad()
    total.backward()
    opt.step()
    assert all(type(p.grad) is cupy.ndarray and type(p.data) is cupy.ndarray for p in model.parameters())
    state = model.state_dict()  # the edge back to the host: explicit copies
    assert all(type(a) is np.ndarray for a in state.values())


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_training_matches_numpy(kind):
    X = _data()
    model_gpu, _, hist_gpu = _train(kind, "cupy", cupy.asarray(X))
    model_cpu, _, hist_cpu = _train(kind, "numpy", X)
    np.testing.assert_allclose(hist_gpu["loss"], hist_cpu["loss"], rtol=1e-3)
    w_gpu, w_cpu = model_gpu.state_dict(), model_cpu.state_dict()
    for k in w_cpu:
        np.testing.assert_allclose(w_gpu[k], w_cpu[k], rtol=1e-3, atol=1e-4, err_msg=k)


def test_host_data_is_uploaded_per_batch():
    """``fit_module`` also takes host data (a NumPy array or memmap), one minibatch at a time."""
    X = _data()
    model_a, _, hist_a = _train("autoencoder", "cupy", X)
    model_b, _, hist_b = _train("autoencoder", "cupy", cupy.asarray(X))
    assert hist_a["loss"] == pytest.approx(hist_b["loss"], rel=1e-6)
    assert all(type(p.data) is cupy.ndarray for p in model_a.parameters())
