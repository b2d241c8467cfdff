"""The public strategies in ``tinyae.testing`` produce what they promise."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyae as ta
from tinyae import testing


@given(testing.shapes(min_dims=1, max_dims=2, min_side=2, max_side=3))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 2 and all(2 <= n <= 3 for n in shape)


@given(testing.shapes())
def test_default_shapes(shape):
    assert len(shape) <= 3 and all(1 <= n <= 5 for n in shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_arrays_are_bounded_finite_and_typed(dtype, data):
    x = data.draw(testing.arrays(dtype=dtype, min_value=-0.1, max_value=2.5))
    assert x.dtype == dtype and np.all(np.isfinite(x))
    assert np.all(x >= -0.1) and np.all(x <= 2.5)  # bounds rounded inwards for float32


@given(testing.arrays(shape=(2, 3)), testing.arrays(shape=testing.shapes(min_dims=2, max_dims=2)))
def test_arrays_take_a_fixed_shape_or_a_shape_strategy(fixed, drawn):
    assert fixed.shape == (2, 3) and drawn.ndim == 2


@given(testing.arrays(min_value=-1e-300, max_value=1e-300, allow_subnormal=False))
def test_arrays_without_subnormals(x):
    assert np.all((x == 0) | (np.abs(x) >= np.finfo(np.float64).tiny))


@given(testing.broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3
    result = np.broadcast_shapes(*shapes)
    assert all(len(s) <= 3 and all(1 <= n <= 4 for n in s) for s in shapes)
    assert len(result) == max(len(s) for s in shapes)


@given(testing.broadcastable_shapes())
def test_broadcastable_pairs(pair):
    a, b = pair
    assert np.broadcast_shapes(a, b) == np.broadcast(np.empty(a), np.empty(b)).shape


@given(testing.domain_arrays("positive"), testing.domain_arrays("pow"))
def test_positive_and_pow_domains(x, p):
    assert np.all(x >= 0.1) and np.all(p >= 0.5)
    with np.errstate(all="raise"):  # no warnings, no nan
        assert np.all(np.isfinite(np.log(x)) & np.isfinite(np.sqrt(x))) and np.all(np.isfinite(p ** -1.5))


@given(testing.domain_arrays("nonzero", margin=0.25))
def test_nonzero_domain_keeps_distance_from_zero(x):
    assert np.all(np.abs(x) >= 0.25)


@given(testing.domain_arrays("unit", dtype=np.float32))
def test_unit_domain_is_inside_the_open_interval(x):
    assert x.dtype == np.float32 and np.all(x > 0) and np.all(x < 1)
    assert np.all(x >= 0.1 - 1e-6) and np.all(x <= 0.9 + 1e-6)


@given(testing.domain_arrays("real", shape=(4,), min_value=-2, max_value=2))
def test_real_domain_is_unchanged(x):
    assert x.shape == (4,) and np.all(np.abs(x) <= 2)


def test_to_domain_shifts_instead_of_filtering():
    x = np.array([-3.0, -0.0, 0.0, 0.05, 2.0])
    np.testing.assert_allclose(testing.to_domain(x, "positive"), [3.1, 0.1, 0.1, 0.15, 2.1])
    np.testing.assert_allclose(testing.to_domain(x, "nonzero"), [-3.1, 0.1, 0.1, 0.15, 2.1])
    np.testing.assert_allclose(testing.to_domain(x, "pow"), [3.5, 0.5, 0.5, 0.55, 2.5])
    assert testing.to_domain(x, "unit")[2] == 0.5
    assert testing.to_domain(x.astype(np.float32), "positive").dtype == np.float32


@pytest.mark.parametrize("call, match", [
    (lambda: testing.to_domain(np.ones(2), "negative"), "domain"),
    (lambda: testing.domain_arrays("negative"), "domain"),
    (lambda: testing.to_domain(np.ones(2), "unit", margin=0.5), "margin"),
    (lambda: testing.to_domain(np.ones(2), "positive", margin=0.0), "margin"),
    (lambda: testing.arrays(min_value=1.0, max_value=0.0), "min_value"),
])
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_arrays_reject_integer_dtype():
    with pytest.raises(TypeError, match="dtype"):
        testing.arrays(dtype=np.int64)


@given(testing.tensors("positive", shape=(2, 2), dtype=np.float32), testing.tensors(requires_grad=False))
def test_tensors(x, c):
    assert isinstance(x, ta.Tensor) and x.requires_grad and x.dtype == np.float32 and x.shape == (2, 2)
    assert np.all(x.data >= 0.1) and not c.requires_grad


@given(testing.tensors("positive"))
def test_tensors_feed_gradcheck(x):
    assert ta.gradcheck(lambda x: ta.ops.log(x) * x, x)
