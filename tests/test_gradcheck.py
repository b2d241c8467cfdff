"""``gradcheck`` itself: it passes right gradients, names wrong ones, and checks its arguments."""

import numpy as np
import pytest

import tinyae as ta
from tinyae import functional as F
from tinyae import ops
from tinyae.tensor import Tensor, unbroadcast

RNG_SEED = 1234


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# -- user-defined ops, written the way a user would ------------------------------------

def swish(x, wrong=False):
    """``x * sigmoid(x)`` as one op; ``wrong`` drops the ``x s (1 - s)`` term."""
    s = 1.0 / (1.0 + np.exp(-x.data))
    out = Tensor._from_op(x.data * s, (x,), "swish")

    def backward(g):
        x._accumulate(g * (s if wrong else s + x.data * s * (1.0 - s)))
    out._backward = backward
    return out


def scaled_mul(a, b, wrong_b=False):
    """``2 a b`` with broadcasting; ``wrong_b`` forgets the factor 2 for ``b``."""
    out = Tensor._from_op(2.0 * a.data * b.data, (a, b), "scaled_mul")

    def backward(g):
        if a.requires_grad: a._accumulate(unbroadcast(2.0 * g * b.data, a.shape))
        if b.requires_grad: b._accumulate(unbroadcast((1.0 if wrong_b else 2.0) * g * a.data, b.shape))
    out._backward = backward
    return out


def test_correct_custom_ops_pass():
    assert ta.gradcheck(swish, rand(3, 4))
    assert ta.gradcheck(scaled_mul, rand(3, 4), rand(4, seed=1))


def test_subtly_wrong_custom_op_fails_naming_input_and_values():
    with pytest.raises(ta.GradcheckError) as info:
        ta.gradcheck(lambda x: swish(x, wrong=True), rand(3, 4), mode="full")
    err = info.value
    assert err.input_index == 0
    out_idx, in_idx = err.element
    assert len(out_idx) == 2 and len(in_idx) == 2
    assert abs(err.analytic - err.numeric) > 1e-3
    message = str(err)
    assert "input 0" in message and repr(err.analytic) in message and repr(err.numeric) in message


def test_wrong_gradient_of_the_second_input_is_blamed_on_it():
    a, b = rand(3, 4), rand(4, seed=1)
    for mode in ("full", "directional"):
        with pytest.raises(ta.GradcheckError, match="input 1") as info:
            ta.gradcheck(lambda a, b: scaled_mul(a, b, wrong_b=True), a, b, mode=mode)
        assert info.value.input_index == 1
    directional = info.value
    assert directional.element[0] == "direction" and 0 <= directional.element[1] < 4


def test_constant_inputs_are_not_checked():
    a, b = rand(3, 4), Tensor(rand(4, seed=1))  # b: requires_grad=False
    assert ta.gradcheck(lambda a, b: scaled_mul(a, b, wrong_b=True), a, b)
    with pytest.raises(ta.GradcheckError):
        ta.gradcheck(lambda a, b: scaled_mul(a, b, wrong_b=True), a, Tensor(b.data, requires_grad=True))


def test_compositions_pass_in_both_modes():
    X = rand(6, 4, seed=2)

    def tied_autoencoder_loss(W, b):
        return F.mse_loss(F.sigmoid(Tensor(X) @ W + b) @ W.T, Tensor(X))

    def messy(x, y):
        return ops.log(F.softplus(x) + 0.1).sum(axis=0) * ops.sqrt(y * y + 1.0) - F.tanh(x).max(axis=0)

    for mode in ("full", "directional", "auto"):
        assert ta.gradcheck(tied_autoencoder_loss, rand(4, 3, seed=3), rand(3, seed=4), mode=mode)
        assert ta.gradcheck(messy, rand(5, 3, seed=5), rand(3, seed=6), mode=mode)


def test_float32_inputs_are_checked_in_float64():
    x = Tensor(rand(3, 3).astype(np.float32), requires_grad=True)
    assert ta.gradcheck(lambda x: F.sigmoid(x) * x, x)
    assert x.dtype == np.float32 and x.grad is None  # the caller's Tensor is untouched


def test_large_input_in_directional_mode():
    X = Tensor(rand(10, 200, seed=7))
    W = rand(200, 50, seed=8)
    assert ta.gradcheck(lambda W: F.tanh(X @ W), W)  # auto -> directional at 10,000 elements
    with pytest.raises(ta.GradcheckError):
        ta.gradcheck(lambda W: swish(X @ W, wrong=True), W)


def test_rng_makes_directional_checks_repeatable():
    a, b = rand(3, 4), rand(4, seed=1)

    def failure(seed):
        with pytest.raises(ta.GradcheckError) as info:
            ta.gradcheck(lambda a, b: scaled_mul(a, b, wrong_b=True), a, b, mode="directional",
                         rng=np.random.default_rng(seed))
        return info.value

    first, again, other = failure(RNG_SEED), failure(RNG_SEED), failure(RNG_SEED + 1)
    assert (first.element, first.analytic, first.numeric) == (again.element, again.analytic, again.numeric)
    assert (first.analytic, first.numeric) != (other.analytic, other.numeric)


def test_vector_valued_functions_and_non_tensor_inputs():
    assert ta.gradcheck(lambda x: x * x, [1.0, 2.0, -3.0])  # lists become float64 inputs
    assert ta.gradcheck(lambda x, y: ta.concatenate([x, y * 2.0]), rand(2, 3), rand(1, 3))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"mode": "x"}, ValueError, "mode"),
    ({"eps": 0.0}, ValueError, "eps"),
    ({"eps": -1e-6}, ValueError, "eps"),
    ({"n_directions": 0}, ValueError, "n_directions"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ta.gradcheck(lambda x: x * 2.0, rand(3), **kwargs)


def test_bad_functions_and_inputs():
    with pytest.raises(TypeError, match="Tensor"):
        ta.gradcheck(lambda x: x.data * 2.0, rand(3))  # returns an array
    with pytest.raises(TypeError, match="inputs"):
        ta.gradcheck(lambda x: x, np.array(["a"]))
    with pytest.raises(ValueError, match="requires grad"):
        ta.gradcheck(lambda x: x * 2.0, Tensor(rand(3)))  # nothing to check
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="finite"):
        ta.gradcheck(lambda x: ops.log(x), np.array([1.0, 0.0, -1.0]))
