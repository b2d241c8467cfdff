"""Noise for denoising autoencoders: properties of each corruption and spec parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyae.nn.noise import (
    Noise, gaussian_noise, make_noise, masking_noise, salt_and_pepper_noise,
)

float_arrays = hnp.arrays(
    st.sampled_from([np.float32, np.float64]),
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(-100, 100, allow_nan=False, width=32),
)
fractions = st.floats(0.0, 1.0)
seeds = st.integers(0, 2**32 - 1)


def expected_count(fraction, n_features):
    """Features corrupted per sample: fraction * n_features rounded half up."""
    return math.floor(fraction * n_features + 0.5)


def away_from_zero(X):
    # Shift the domain so no input is 0 and every zero in the output is a masked entry.
    return (np.abs(X) + 1).astype(X.dtype)


def all_noises():
    return [
        lambda X, rng: gaussian_noise(X, 0.3, rng),
        lambda X, rng: masking_noise(X, 0.4, rng),
        lambda X, rng: salt_and_pepper_noise(X, 0.4, rng),
        lambda X, rng: salt_and_pepper_noise(X, 0.4, rng, low=-1.0, high=2.0),
    ]


@pytest.mark.parametrize("noise", all_noises(), ids=["gaussian", "masking", "s&p", "s&p-lowhigh"])
@given(X=float_arrays, seed=seeds)
def test_input_untouched_shape_and_dtype_kept(noise, X, seed):
    before = X.copy()
    out = noise(X, np.random.default_rng(seed))
    np.testing.assert_array_equal(X, before)
    assert out is not X and not np.shares_memory(out, X)
    assert out.shape == X.shape and out.dtype == X.dtype


@given(X=float_arrays, fraction=fractions, seed=seeds)
def test_masking_zeroes_exactly_the_expected_count_per_row(X, fraction, seed):
    X = away_from_zero(X)
    out = masking_noise(X, fraction, np.random.default_rng(seed))
    k = expected_count(fraction, X.shape[1])
    zeros = out == 0
    assert (zeros.sum(axis=1) == k).all()
    np.testing.assert_array_equal(out[~zeros], X[~zeros])


@given(X=float_arrays, fraction=fractions, seed=seeds)
def test_salt_and_pepper_sets_exactly_the_expected_count_to_low_or_high(X, fraction, seed):
    # Inputs in [0.25, 0.75] and low/high outside it: every low/high in the output is a corrupted entry.
    X = (0.5 + 0.25 * np.tanh(X)).astype(X.dtype)
    out = salt_and_pepper_noise(X, fraction, np.random.default_rng(seed), low=0.0, high=1.0)
    k = expected_count(fraction, X.shape[1])
    hit = (out == 0.0) | (out == 1.0)
    assert (hit.sum(axis=1) == k).all()
    np.testing.assert_array_equal(out[~hit], X[~hit])


@given(X=float_arrays, seed=seeds)
def test_salt_and_pepper_defaults_to_the_array_min_and_max(X, seed):
    out = salt_and_pepper_noise(X, 0.5, np.random.default_rng(seed))
    changed = out != X
    assert np.isin(out[changed], [X.min(), X.max()]).all()


def test_salt_and_pepper_uses_both_values_about_equally():
    X = np.full((400, 50), 0.5)
    out = salt_and_pepper_noise(X, 0.5, np.random.default_rng(0), low=0.0, high=1.0)
    salt, pepper = (out == 1.0).sum(), (out == 0.0).sum()
    assert salt + pepper == 400 * 25
    assert abs(salt / (salt + pepper) - 0.5) < 0.02


def test_masking_chooses_features_uniformly():
    out = masking_noise(np.ones((4000, 10)), 0.3, np.random.default_rng(1))
    # Each feature masked with probability 3/10 per sample.
    np.testing.assert_allclose((out == 0).mean(axis=0), 0.3, atol=0.03)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [0.05, 1.0, 3.0])
def test_gaussian_noise_has_std_sigma(dtype, sigma):
    X = np.random.default_rng(0).uniform(-1, 1, (1000, 200)).astype(dtype)
    diff = gaussian_noise(X, sigma, np.random.default_rng(1)).astype(np.float64) - X
    assert abs(diff.std() / sigma - 1) < 0.01
    assert abs(diff.mean()) < 0.01 * sigma


@pytest.mark.parametrize("noise", all_noises(), ids=["gaussian", "masking", "s&p", "s&p-lowhigh"])
def test_same_seed_same_output_different_seed_different(noise):
    X = np.random.default_rng(5).uniform(0.1, 0.9, (20, 30))
    a = noise(X, np.random.default_rng(123))
    b = noise(X, np.random.default_rng(123))
    c = noise(X, np.random.default_rng(124))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@given(X=float_arrays, seed=seeds)
def test_zero_level_is_identity(X, seed):
    rng = np.random.default_rng(seed)
    for out in (gaussian_noise(X, 0.0, rng), masking_noise(X, 0.0, rng), salt_and_pepper_noise(X, 0.0, rng)):
        np.testing.assert_array_equal(out, X)
        assert out is not X


def test_integer_arrays_keep_their_dtype():
    X = np.arange(1, 41, dtype=np.uint8).reshape(4, 10)
    out = masking_noise(X, 0.5, np.random.default_rng(0))
    assert out.dtype == np.uint8 and ((out == 0).sum(axis=1) == 5).all()
    out = salt_and_pepper_noise(X, 0.2, np.random.default_rng(0), low=0, high=255)
    assert out.dtype == np.uint8 and np.isin(out[out != X], [0, 255]).all()
    with pytest.raises(TypeError, match="X"):
        gaussian_noise(X, 0.1, np.random.default_rng(0))


# -- make_noise -----------------------------------------------------------------

def test_make_noise_specs():
    X = np.random.default_rng(0).uniform(0.1, 0.9, (8, 10))
    assert make_noise(None) is None
    for spec, fn, level in [
        (("gaussian", 0.1), gaussian_noise, 0.1),
        (("masking", 0.3), masking_noise, 0.3),
        (["salt_and_pepper", 0.2], salt_and_pepper_noise, 0.2),
        ({"kind": "masking", "level": 0.5}, masking_noise, 0.5),
        (("Salt-and-Pepper", 0.1), salt_and_pepper_noise, 0.1),
    ]:
        noise = make_noise(spec)
        assert isinstance(noise, Noise) and noise.level == level
        np.testing.assert_array_equal(noise(X, np.random.default_rng(9)), fn(X, level, np.random.default_rng(9)))
    sp = make_noise({"kind": "salt_and_pepper", "level": 0.5, "low": -1, "high": 2})
    assert np.isin(sp(X, np.random.default_rng(0)), np.concatenate([X.ravel(), [-1.0, 2.0]])).all()
    assert make_noise(sp) is sp

    def custom(X, rng):
        return X * rng.uniform(0.9, 1.1, X.shape)
    assert make_noise(custom) is custom


@pytest.mark.parametrize("spec, exc, name", [
    (("speckle", 0.1), ValueError, "kind"),
    ({"kind": "poisson", "level": 0.1}, ValueError, "kind"),
    ((3, 0.1), TypeError, "kind"),
    (("masking", 1.5), ValueError, "level"),
    (("masking", -0.1), ValueError, "level"),
    (("salt_and_pepper", 2.0), ValueError, "level"),
    (("gaussian", -0.1), ValueError, "level"),
    (("gaussian", float("inf")), ValueError, "level"),
    (("gaussian", "0.1"), TypeError, "level"),
    (("gaussian",), ValueError, "spec"),
    (("gaussian", 0.1, 0.2), ValueError, "spec"),
    ({"kind": "gaussian"}, ValueError, "level"),
    ({"kind": "gaussian", "level": 0.1, "low": 0.0}, ValueError, "options"),
    ("gaussian", TypeError, "spec"),
    (0.1, TypeError, "spec"),
])
def test_bad_specs_raise(spec, exc, name):
    with pytest.raises(exc, match=name):
        make_noise(spec)


@pytest.mark.parametrize("call, exc, name", [
    (lambda X: gaussian_noise(X, 0.1, 0), TypeError, "rng"),
    (lambda X: masking_noise(X, 0.1, np.random.RandomState(0)), TypeError, "rng"),
    (lambda X: masking_noise(X, 1.1, np.random.default_rng(0)), ValueError, "fraction"),
    (lambda X: salt_and_pepper_noise(X, -0.5, np.random.default_rng(0)), ValueError, "fraction"),
    (lambda X: gaussian_noise(X, -1.0, np.random.default_rng(0)), ValueError, "sigma"),
    (lambda X: masking_noise(X.tolist(), 0.1, np.random.default_rng(0)), TypeError, "X"),
    (lambda X: masking_noise(X[0], 0.1, np.random.default_rng(0)), ValueError, "X"),
    (lambda X: salt_and_pepper_noise(X, 0.1, np.random.default_rng(0), low=1.0, high=0.0), ValueError, "low"),
    (lambda X: salt_and_pepper_noise(X, 0.1, np.random.default_rng(0), high=float("nan")), ValueError, "high"),
])
def test_bad_arguments_raise(call, exc, name):
    with pytest.raises(exc, match=name):
        call(np.ones((3, 4)))


@pytest.mark.parametrize("noise", all_noises(), ids=["gaussian", "masking", "s&p", "s&p-lowhigh"])
@given(X=float_arrays, seed=seeds)
def test_numpy_and_numba_backends_draw_the_same_noise(noise, X, seed):
    # The corruption goes through the backend's kernels; the random draws do not,
    # so a seed gives the same corrupted array on either CPU backend.
    from tinyae.backend import use_backend
    outs = []
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            outs.append(noise(X, np.random.default_rng(seed)))
    np.testing.assert_array_equal(outs[0], outs[1])
