"""The Tensor and its backward walk: graph bookkeeping, accumulation, dtypes, printing."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyae as ta
from tinyae import functional as F
from tinyae import testing


def leaf(values, dtype=np.float64):
    return ta.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- deep graphs -------------------------------------------------------------------

@pytest.mark.parametrize("length", [10_000, 20_000])
def test_backward_through_a_long_chain_keeps_the_recursion_limit(length):
    limit = sys.getrecursionlimit()
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(length):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** length)
    assert sys.getrecursionlimit() == limit


def test_exponentially_many_paths_are_each_walked_once():
    x = leaf(1.0)
    y = x
    for _ in range(60):  # 2**60 paths from y to x: a walk per path would never end
        y = y + y
    y.backward()
    assert x.grad == 2.0 ** 60


# -- unbroadcast ------------------------------------------------------------------------

def _explicit_unbroadcast(grad, shape):
    """Sum by walking every output element to the operand element it came from."""
    out = np.zeros(shape)
    offset = grad.ndim - len(shape)
    for index in np.ndindex(grad.shape):
        src = tuple(0 if n == 1 else i for i, n in zip(index[offset:], shape))
        out[src] += grad[index]
    return out


def test_unbroadcast_examples():
    g = np.arange(24.0).reshape(2, 3, 4)
    assert ta.unbroadcast(g, (2, 3, 4)) is g
    np.testing.assert_array_equal(ta.unbroadcast(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(ta.unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(ta.unbroadcast(g, (1, 1, 1)), np.full((1, 1, 1), g.sum()))
    assert ta.unbroadcast(g, ()).shape == () and ta.unbroadcast(g, ()) == g.sum()


@given(testing.broadcastable_shapes(2), st.integers(0, 2**32 - 1))
def test_unbroadcast_matches_explicit_sum(shapes, seed):
    shape, other = shapes
    grad = np.random.default_rng(seed).standard_normal(np.broadcast_shapes(shape, other))
    got = ta.unbroadcast(grad, shape)
    assert got.shape == shape
    np.testing.assert_allclose(got, _explicit_unbroadcast(grad, shape), rtol=1e-12, atol=1e-12)


# -- released graphs, retain_graph and accumulation -----------------------------------------

def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    assert y._backward is None  # saved arrays released
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_keeps_the_graph_and_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert y._backward is not None
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])  # added, as in PyTorch
    x.zero_grad()
    assert x.grad is None


def test_backward_argument_errors():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward()  # non-scalar needs grad
    with pytest.raises(ValueError, match=r"\(2,\)"):
        (x * 2.0).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="require"):
        ta.Tensor([1.0]).sum().backward()
    y = x * 2.0
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_backward_does_not_write_into_arrays_it_was_given():
    x = leaf([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (x * 3.0).backward(seed)
    x.grad += 100.0  # the user owns .grad ...
    np.testing.assert_array_equal(seed, [1.0, 1.0])  # ... and not the seed
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


# -- grad mode and flags --------------------------------------------------------------------

def test_no_grad_and_enable_grad():
    x = leaf([1.0, 2.0])
    with ta.no_grad():
        assert not ta.is_grad_enabled()
        y = x * 2.0
        with ta.enable_grad():
            z = x * 2.0
        w = x * 2.0
    assert ta.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and not w.requires_grad
    assert z.requires_grad and z.parents[0] is x
    with pytest.raises(KeyError), ta.no_grad():
        raise KeyError  # the mode is restored after an exception too
    assert ta.is_grad_enabled()


def test_requires_grad_flags():
    a, c = leaf([1.0]), ta.Tensor([2.0])
    assert (a * c).requires_grad and not (c * c).requires_grad
    assert not (c * c).parents  # no graph recorded for constants
    with pytest.raises(TypeError, match="requires_grad"):
        ta.Tensor([1.0], requires_grad=1)
    with pytest.raises(RuntimeError, match="leaf"):
        (a * 2.0).requires_grad_(False)
    assert c.requires_grad_() is c and c.requires_grad


def test_detach_shares_data_without_graph():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    d = y.detach()
    assert d.data is y.data and d.is_leaf and not d.requires_grad
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # d was a constant


def test_retain_grad_on_an_intermediate():
    x = leaf([1.0, -2.0])
    y = (x * 3.0).retain_grad()
    u = x * 2.0
    (y * y + u).sum().backward()
    np.testing.assert_array_equal(y.grad, 2 * y.data)
    assert u.grad is None
    np.testing.assert_array_equal(x.grad, 18 * x.data + 2.0)


# -- nodes used more than once ------------------------------------------------------------------

def test_node_used_twice_sums_gradients():
    x = leaf([1.5, -2.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_diamond_graph():
    x = leaf([0.5, -1.0])
    a, b = x * 2.0, ta.ops.exp(x)
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(x.data) + 2 * x.data * np.exp(x.data))


def test_gradient_buffers_are_not_shared_between_nodes():
    # 'a' gets two contributions; 'b' one. If a's first contribution were
    # the very array handed to b, adding the second would change b's too.
    x = leaf([1.0, 2.0])
    a, b = x * 1.0, x * 2.0
    ((a + b) + a).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])
    x = leaf([1.0, 2.0])
    a, b = x * 1.0, x * 2.0
    (a * b + a * 3.0 + b).sum().backward()  # d/dx (2x^2 + 3x + 2x) = 4x + 5
    np.testing.assert_array_equal(x.grad, 4 * x.data + 5)


# -- dtypes --------------------------------------------------------------------------------------

def test_float32_stays_float32_with_python_and_numpy_scalars():
    x = leaf([1.0, 2.0], np.float32)
    for y in (x + 1, 2 * x, x / 3.0, 3.0 / x, 1.0 - x, x ** 2, np.float64(2.0) * x, -x, x.mean()):
        assert y.dtype == np.float32
    (x * 2.0).sum().backward()
    assert x.grad.dtype == np.float32


def test_construction_dtypes():
    assert ta.Tensor([1, 2, 3]).dtype == np.float64
    assert ta.Tensor(np.arange(3, dtype=np.int32)).dtype == np.float64
    assert ta.Tensor(2).dtype == np.float64 and ta.Tensor(2).shape == ()
    arr = np.ones(3, np.float32)
    assert ta.Tensor(arr).data is arr  # no copy
    assert ta.Tensor([1, 2], dtype="float32").dtype == np.float32


@pytest.mark.parametrize("bad", [
    np.array([True, False]), [True, 1.0], True, np.array([1 + 2j]), "abc", np.array(["a"]),
    np.array([object()]), np.ones(2, np.float16), {"a": 1},
], ids=["bool-array", "bool-list", "bool", "complex", "str", "str-array", "object", "float16", "dict"])
def test_unsupported_data_raises_type_error_naming_data(bad):
    with pytest.raises(TypeError, match="data"):
        ta.Tensor(bad)


def test_unsupported_dtype_argument():
    with pytest.raises(TypeError, match="dtype"):
        ta.Tensor([1.0], dtype=np.float16)


def test_mixing_backends_is_an_error():
    from tinyae import backend
    names = [n for n in backend.available_backends() if backend.get_backend(n).device == "cpu"]
    if len(names) < 2 or not hasattr(backend, "use_backend"):
        pytest.skip("needs two CPU backends")
    with backend.use_backend(names[0]):
        a = leaf([1.0])
    with backend.use_backend(names[1]):
        b = leaf([1.0])
    assert a.backend.name != b.backend.name
    with pytest.raises(TypeError, match="backend"):
        a + b


# -- printing ---------------------------------------------------------------------------------------

def test_repr():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    text = repr(x * 2.0)
    assert text.startswith("Tensor([[2., 4.]") and "op='mul'" in text and "requires_grad=True" in text
    assert "float64" in text
    big = repr(ta.Tensor(np.zeros((100, 50), np.float32)))
    assert "..." in big and "float32" in big and len(big) < 400 and big.startswith("Tensor([[")


def test_draw_graph_and_to_dot():
    X = ta.Tensor(np.ones((5, 4)))
    W, b = leaf(np.ones((4, 2))), leaf(np.zeros(2))
    loss = F.mse_loss(F.sigmoid(X @ W + b) @ W.T, X)
    text = ta.draw_graph(loss, {"W": W, "b": b})
    for piece in ("matmul (5, 2) float64", "sigmoid (5, 2)", "W: param (4, 2) float64", "b: param (2,)",
                  "const (5, 4)", "transpose (2, 4)", "(see above)"):
        assert piece in text, piece
    assert text.splitlines()[0].endswith("() float64")  # the loss on top
    dot = ta.to_dot(loss, {"W": W})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "W: param (4, 2) float64" in dot and dot.count("->") >= 6 and "sigmoid" in dot


def test_graph_printing_handles_a_10000_node_chain():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = -y
    text = ta.draw_graph(y, {"x": x})
    lines = text.splitlines()
    assert len(lines) == 10_001 and lines[0] == "neg (1,) float64" and lines[-1].strip() == "x: param (1,) float64"
    dot = ta.to_dot(y)
    assert dot.count("->") == 10_000 and dot.count("neg (1,)") == 10_000
