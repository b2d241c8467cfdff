"""tinyae's gradients against an independent autodiff system (HIPS autograd).

Hypothesis builds random compositions of catalog ops; each is evaluated twice
from the same expression tree -- with tinyae Tensors (``spec.fn``) and with
``autograd.numpy`` (``spec.ref``) -- and the two gradients must agree.
"""

import numpy as np
import pytest
from catalog import BY_NAME
from hypothesis import given
from hypothesis import strategies as st

import tinyae as ta
from tinyae import functional as F
from tinyae import testing

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

# op name -> guard(v, call) applied to the argument first, keeping it in the op's domain
# (the same code runs in both worlds: ``call`` is tinyae's op or autograd's reference)
UNARY = {
    "neg": None, "abs": None, "pow2": None, "sigmoid": None, "tanh": None, "relu": None,
    "leaky_relu": None, "elu": None, "softplus": None, "log_sigmoid": None, "identity": None,
    "add_scalar": None, "rsub_scalar": None, "rmul_scalar": None, "div_scalar": None,
    "clip": None, "maximum_scalar": None, "sum": None, "mean_axis-1_keepdims": None, "max_axis0": None,
    "exp": lambda v, call: call("tanh", v) * 2.0,
    "pow3": lambda v, call: call("tanh", v) * 2.0,
    "log": lambda v, call: call("softplus", v) + 0.1,
    "pow0.5": lambda v, call: call("softplus", v) + 0.1,
    "pow-1.5": lambda v, call: call("softplus", v) + 0.5,
    "sqrt": lambda v, call: v * v + 0.1,
    "rdiv_scalar": lambda v, call: v * v + 0.5,
}
NEEDS_AXIS = {"max_axis0", "mean_axis-1_keepdims"}  # skipped on 0-d values
BINARY = {  # guard on the second argument
    "add": None, "sub": None, "mul": None, "maximum": None, "minimum": None,
    "div": lambda v, call: v * v + 0.5,
}
LEAVES = ("x0", "x1", "x2")
OPS = sorted(UNARY) + sorted(BINARY)


def test_composition_ops_are_in_the_catalog():
    assert set(OPS) <= set(BY_NAME)


@st.composite
def expressions(draw, depth):
    """A tree of exactly ``depth`` levels: a leaf name or ``(op, child, ...)``."""
    if depth == 0:
        return draw(st.sampled_from(LEAVES))
    name = draw(st.sampled_from(OPS))
    deep = draw(expressions(depth - 1))
    if name in UNARY:
        return (name, deep)
    shallow = draw(expressions(draw(st.integers(0, depth - 1))))
    return (name, deep, shallow) if draw(st.booleans()) else (name, shallow, deep)


def evaluate(tree, leaves, call):
    if isinstance(tree, str):
        return leaves[tree]
    name, *args = tree
    values = [evaluate(arg, leaves, call) for arg in args]
    guard = UNARY.get(name) if name in UNARY else BINARY[name]
    if name in NEEDS_AXIS and np.ndim(values[0]) == 0:
        return values[0]
    if guard is not None:
        values[-1] = guard(values[-1], call)
    return call(name, *values)


def call_tinyae(name, *args):
    return BY_NAME[name].fn(*args)


def call_autograd(name, *args):
    return BY_NAME[name].ref(anp, *args)


def weights(shape):
    """A fixed, non-uniform output weighting, so the scalar loss sees every output."""
    return np.cos(np.arange(int(np.prod(shape)))).reshape(shape) + 0.5


def relative_error(got, want):
    return np.max(np.abs(got - want), initial=0.0) / max(1.0, np.max(np.abs(want), initial=0.0))


@st.composite
def leaf_arrays(draw):
    shape = draw(testing.shapes(min_dims=1, max_dims=2, max_side=4))
    # no subnormals: autograd's abs() gradient at 5e-324 is wrong (x / |x| rounds badly)
    draw_array = lambda s: draw(testing.arrays(s, min_value=-3.0, max_value=3.0, allow_subnormal=False))  # noqa: E731
    return {"x0": draw_array(shape), "x1": draw_array(shape), "x2": draw_array(shape[-1:])}


@given(tree=st.integers(2, 6).flatmap(expressions), arrays=leaf_arrays())
def test_random_compositions_match_autograd(tree, arrays):
    tensors = {k: ta.Tensor(v, requires_grad=True) for k, v in arrays.items()}
    out = evaluate(tree, tensors, call_tinyae)
    w = weights(out.shape)
    (out * w).sum().backward()

    def loss(xs):
        return anp.sum(evaluate(tree, dict(zip(LEAVES, xs)), call_autograd) * w)

    expected = autograd.grad(loss)(tuple(arrays[k] for k in LEAVES))
    for name, want in zip(LEAVES, expected):
        got = tensors[name].grad
        got = np.zeros_like(want) if got is None else got
        assert got.shape == want.shape
        assert relative_error(got, want) < 1e-6, f"d/d{name} of {tree}"


# -- a fixed tied-weight autoencoder -------------------------------------------------------

def _sigmoid(xp, a):
    return BY_NAME["sigmoid"].ref(xp, a)


def _softplus(xp, a):
    return BY_NAME["softplus"].ref(xp, a)


AE_LOSSES = {
    "mse": (lambda X, W, b: F.mse_loss(F.sigmoid(X @ W + b) @ W.T, X),
            lambda X, W, b: anp.mean((anp.matmul(_sigmoid(anp, anp.matmul(X, W) + b), W.T) - X) ** 2)),
    "bce_with_logits": (
        lambda X, W, b: F.binary_cross_entropy_with_logits(F.sigmoid(X @ W + b) @ W.T, X),
        lambda X, W, b: anp.mean(_softplus(anp, Z := anp.matmul(_sigmoid(anp, anp.matmul(X, W) + b), W.T))
                                 - X * Z)),
    "dense_mse_sum": (
        lambda X, W, b: F.mse_loss(F.dense(F.dense(X, W, b, "tanh"), W.T), X, reduction="sum"),
        lambda X, W, b: anp.sum((anp.matmul(anp.tanh(anp.matmul(X, W) + b), W.T) - X) ** 2)),
}


@pytest.mark.parametrize("name", sorted(AE_LOSSES))
def test_tied_weight_autoencoder_matches_autograd(name):
    rng = np.random.default_rng(7)
    X = rng.uniform(0.05, 0.95, size=(8, 5))  # in (0, 1): also a valid BCE target
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3) * 0.1
    ours, theirs = AE_LOSSES[name]
    Wt, bt = ta.Tensor(W, requires_grad=True), ta.Tensor(b, requires_grad=True)
    loss = ours(ta.Tensor(X), Wt, bt)
    loss.backward()
    assert loss.item() == pytest.approx(float(theirs(X, W, b)), rel=1e-12)
    gW, gb = autograd.grad(lambda p: theirs(X, *p))((W, b))
    assert relative_error(Wt.grad, gW) < 1e-10 and relative_error(bt.grad, gb) < 1e-10
