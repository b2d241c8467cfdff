"""Every op in the catalog: forward vs NumPy, gradcheck, extremes, and mutation.

The mutation tests prove the gradient tests have teeth: an op whose backward
is off by 1 % (or missing) must make ``gradcheck`` fail.
"""

import warnings

import numpy as np
import pytest
from catalog import BY_NAME, CATALOG, example_inputs, inputs
from hypothesis import given
from hypothesis import strategies as st

import tinyae as ta

IDS = [spec.name for spec in CATALOG]


def _tensors(arrays, dtype=np.float64):
    return [ta.Tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]


# -- (a) forward equals the NumPy reference, dtype preserved ------------------------------

@pytest.mark.parametrize("spec", CATALOG, ids=IDS)
@given(data=st.data())
def test_forward_matches_numpy(spec, data):
    xs = data.draw(inputs(spec))
    ref = np.asarray(spec.ref(np, *xs))
    out = spec.fn(*_tensors(xs))
    assert out.dtype == np.float64 and out.shape == ref.shape
    np.testing.assert_allclose(out.data, ref, rtol=1e-10, atol=1e-12)
    # float32 in, float32 out, equal to the float64 reference at the float32 inputs
    x32 = [np.asarray(x, np.float32) for x in xs]
    out = spec.fn(*_tensors(x32, np.float32))
    assert out.dtype == np.float32, f"{spec.name}: float32 in, {out.dtype} out"
    ref = np.asarray(spec.ref(np, *[np.asarray(x, np.float64) for x in x32]))
    assert out.shape == ref.shape
    scale = max([1.0, np.abs(ref).max(initial=0)] + [np.abs(x).max(initial=0) for x in x32])
    np.testing.assert_allclose(out.data, ref, rtol=1e-5, atol=1e-5 * scale)


def test_forward_float32_gradients_stay_float32():
    for spec in CATALOG:
        ts = _tensors(example_inputs(spec), np.float32)
        out = spec.fn(*ts)
        out.sum().backward()
        for t in ts:
            assert t.grad is not None and t.grad.dtype == np.float32, spec.name


# -- (b) gradcheck on generated shapes (broadcasting included) and values -----------------

@pytest.mark.parametrize("spec", CATALOG, ids=IDS)
@given(data=st.data())
def test_gradcheck(spec, data):
    xs = data.draw(inputs(spec))
    assert ta.gradcheck(spec.fn, *xs)


def test_catalog_covers_every_public_op():
    from tinyae import functional, ops
    assert {spec.kind for spec in CATALOG} == {
        "unary", "elementwise_broadcast", "matmul", "reduce", "shape", "loss"}
    public = set(ops.__all__) | set(functional.__all__) - {"ACTIVATIONS", "get_activation"}
    prefix = {"binary_cross_entropy_with_logits": "bce_with_logits"}
    missing = [n for n in sorted(public) if not any(name.startswith(prefix.get(n, n)) for name in BY_NAME)]
    assert not missing, f"ops with no catalog entry: {missing}"


# -- (c) extreme inputs: exact limiting values, finite gradients, no warnings ------------------

EXTREME = [spec for spec in CATALOG if spec.extreme is not None]


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e4), (np.float32, 80.0)], ids=["float64-1e4", "float32-80"])
@pytest.mark.parametrize("spec", EXTREME, ids=[s.name for s in EXTREME])
def test_extreme_inputs(spec, dtype, big):
    x64 = np.array([-big, -big / 2, big / 2, big])
    x = ta.Tensor(x64.astype(dtype), requires_grad=True)
    others = [ta.Tensor(np.full(x.shape, 0.25, dtype)) for _ in range(spec.arity - 1)]
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")  # underflow to 0 is the right answer here; overflow is not
        out = spec.fn(x, *others)
        out.sum().backward()
    value, grad = spec.extreme(x64)
    assert out.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad))
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    tiny = np.finfo(dtype).tiny * 1e-2  # below the smallest normal: exp(-160) is 0 in float32
    np.testing.assert_allclose(out.data, value, rtol=rtol, atol=tiny)
    np.testing.assert_allclose(x.grad, grad, rtol=rtol, atol=tiny)


def test_extreme_named_values():
    F = ta.functional
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        assert F.softplus(ta.Tensor(1e4)).item() == 1e4
        assert F.log_sigmoid(ta.Tensor(-1e4)).item() == -1e4
        assert F.sigmoid(ta.Tensor(-1e4)).item() == 0.0
        x = ta.Tensor(np.float32(80.0), requires_grad=True)
        F.sigmoid(x).backward()
    assert x.grad.dtype == np.float32
    assert x.grad == pytest.approx(np.exp(-80.0), rel=1e-5)  # not 0: the tail keeps its precision


# -- (d) mutation: a corrupted backward must fail gradcheck ------------------------------

def _mutated(fn, factor):
    """``fn`` whose output node's backward receives ``g * factor`` (0: does nothing)."""
    def wrapped(*xs):
        out = fn(*xs)
        original = out._backward
        out._backward = (lambda g: None) if factor == 0 else (lambda g: original(g * factor))
        return out
    return wrapped


MUTABLE = [spec for spec in CATALOG if spec.name != "identity"]  # identity returns its input: no node


@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("factor", [1.01, 0.0], ids=["times1.01", "zero"])
@pytest.mark.parametrize("spec", MUTABLE, ids=[s.name for s in MUTABLE])
def test_gradcheck_catches_mutated_backward(spec, factor, mode):
    xs = example_inputs(spec, seed=1)
    assert ta.gradcheck(spec.fn, *xs, mode=mode)  # the unmutated op passes at the same point
    with pytest.raises(ta.GradcheckError):
        ta.gradcheck(_mutated(spec.fn, factor), *xs, mode=mode)


def test_identity_returns_its_input():
    x = ta.Tensor(np.ones(3), requires_grad=True)
    assert BY_NAME["identity"].fn(x) is x
