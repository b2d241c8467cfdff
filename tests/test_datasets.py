"""The data sets of ``tinyae.datasets.images`` and ``tinyae.datasets.toy``: shapes,
ranges, reproducibility, the preprocessing maths, and argument errors.

``load_digits`` needs scikit-learn (a test extra): those tests skip without
it, except the one checking the ImportError raised when it is missing.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyae.datasets import images, toy
from tinyae.datasets.images import load_digits, natural_image_patches, sample_image, zca_whiten
from tinyae.datasets.toy import circles_in_high_dim, gaussian_blobs, random_orthogonal, s_curve, swiss_roll

# -- digits -------------------------------------------------------------------------


def test_load_digits_scaled_to_unit_interval():
    pytest.importorskip("sklearn")
    X, y = load_digits(return_X_y=True)
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_unscaled_and_bunch():
    pytest.importorskip("sklearn")
    raw = load_digits(scale=False)
    assert raw.data.max() == 16.0 and raw.data.dtype == np.float64
    bunch = load_digits()
    assert bunch.images.shape == (1797, 8, 8) and bunch.image_shape == (8, 8)
    np.testing.assert_array_equal(bunch.images.reshape(1797, 64), bunch.data)
    np.testing.assert_array_equal(bunch.data * 16, raw.data)


def test_load_digits_without_sklearn_raises_import_error(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")] + ["sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules makes the import fail
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install 'tinyae\[test\]'"):
        load_digits()


@pytest.mark.parametrize("kwargs, name", [({"scale": 1}, "scale"), ({"return_X_y": "yes"}, "return_X_y")])
def test_load_digits_bad_args(kwargs, name):
    with pytest.raises(TypeError, match=name):
        load_digits(**kwargs)


# -- natural image patches -----------------------------------------------------------


def test_sample_image_is_grey_and_in_unit_range():
    img = sample_image()
    assert img.ndim == 2 and img.shape == (600, 512) and img.dtype == np.float64
    assert 0.0 <= img.min() < img.max() <= 1.0
    img[0, 0] = 5.0  # a copy: the cached image is untouched
    assert sample_image()[0, 0] <= 1.0


def test_ufldl_patches_shape_and_range():
    X = natural_image_patches(2000, 8, random_state=0)
    assert X.shape == (2000, 64) and X.dtype == np.float64
    assert X.min() == pytest.approx(0.1) and X.max() == pytest.approx(0.9)
    # Mean removal then a symmetric map: the patches centre on 0.5.
    np.testing.assert_allclose(X.mean(), 0.5, atol=1e-3)
    assert natural_image_patches(50, 12, random_state=0).shape == (50, 144)


def test_patches_reproducible_by_random_state():
    a = natural_image_patches(300, 8, random_state=3)
    np.testing.assert_array_equal(a, natural_image_patches(300, 8, random_state=3))
    assert not np.array_equal(a, natural_image_patches(300, 8, random_state=4))
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(natural_image_patches(100, random_state=g1), natural_image_patches(100, random_state=g2))


def test_patches_are_row_major_windows_of_the_image():
    img = np.arange(30 * 40, dtype=float).reshape(30, 40)
    X = natural_image_patches(200, 5, whiten=None, images=[img], random_state=0)
    for row in X[:20]:
        patch = row.reshape(5, 5)
        r, c = divmod(int(patch[0, 0]), 40)
        np.testing.assert_array_equal(patch, img[r:r + 5, c:c + 5])


def test_whiten_none_keeps_grey_levels_and_aliases():
    raw = natural_image_patches(500, 8, whiten=None, random_state=1)
    assert 0.0 <= raw.min() and raw.max() <= 1.0
    assert np.abs(raw.mean(axis=1)).min() > 0  # no per-patch mean removal
    np.testing.assert_array_equal(raw, natural_image_patches(500, 8, whiten=False, random_state=1))
    np.testing.assert_array_equal(natural_image_patches(500, 8, whiten=True, random_state=1),
                                  natural_image_patches(500, 8, whiten="ufldl", random_state=1))


def test_prewhitening_changes_the_patches():
    a = natural_image_patches(200, 8, prewhiten=True, random_state=0)
    b = natural_image_patches(200, 8, prewhiten=False, random_state=0)
    assert a.shape == b.shape and not np.allclose(a, b)
    assert 0.1 - 1e-12 <= b.min() and b.max() <= 0.9 + 1e-12


def test_zca_patches_have_identity_covariance_off_the_dc_direction():
    d = 64
    X = natural_image_patches(20000, 8, whiten="zca", zca_epsilon=1e-6, random_state=1)
    C = np.cov(X, rowvar=False, bias=True)
    # Per-patch mean removal leaves no variance along (1, ..., 1); ZCA makes the rest white.
    np.testing.assert_allclose(C, np.eye(d) - np.full((d, d), 1.0 / d), atol=0.02)
    np.testing.assert_allclose(X.sum(axis=1), 0.0, atol=1e-8)


def test_zca_epsilon_damps_small_directions():
    X = natural_image_patches(5000, 8, whiten="zca", random_state=1)  # default epsilon 1e-2
    eig = np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True))
    assert eig.max() < 1.0 + 1e-9 and eig[1] < 0.9  # damped, never amplified beyond 1


def test_zca_whiten_transform_roundtrip():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 5)) @ rng.standard_normal((5, 5)) + 3.0
    Xw, W, mean = zca_whiten(X, epsilon=1e-9, return_transform=True)
    np.testing.assert_allclose(W, W.T, atol=1e-10)
    np.testing.assert_allclose(mean, X.mean(axis=0))
    np.testing.assert_allclose(np.cov(Xw, rowvar=False, bias=True), np.eye(5), atol=1e-6)
    np.testing.assert_allclose((X - mean) @ W, Xw)
    np.testing.assert_array_equal(zca_whiten(X, epsilon=1e-9), Xw)
    # ZCA is the symmetric whitening: the closest to the identity map, so it keeps X's orientation.
    assert np.trace(np.corrcoef(X.T, Xw.T)[:5, 5:]) > 0


def test_user_images_colour_and_constant():
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
    X = natural_image_patches(100, 6, images=[rgb], random_state=0)
    assert X.shape == (100, 36) and 0.1 - 1e-12 <= X.min() and X.max() <= 0.9 + 1e-12
    bare = natural_image_patches(100, 6, images=rgb, random_state=0)  # one image given bare
    np.testing.assert_array_equal(X, bare)
    flat = natural_image_patches(50, 4, images=[np.full((10, 10), 0.3)], prewhiten=False, random_state=0)
    np.testing.assert_array_equal(flat, 0.5)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), p=st.integers(2, 6))
def test_ufldl_range_holds_for_any_images(seed, n, p):
    rng = np.random.default_rng(seed)
    imgs = [rng.random((rng.integers(p, 20), rng.integers(p, 20))) for _ in range(2)]
    X = natural_image_patches(n, p, images=imgs, random_state=seed)
    assert X.shape == (n, p * p) and np.isfinite(X).all()
    assert X.min() >= 0.1 - 1e-12 and X.max() <= 0.9 + 1e-12


@pytest.mark.parametrize("kwargs, error, name", [
    ({"n_patches": 0}, ValueError, "n_patches"),
    ({"n_patches": 2.5}, ValueError, "n_patches"),
    ({"n_patches": True}, ValueError, "n_patches"),
    ({"patch_size": 1}, ValueError, "patch_size"),
    ({"patch_size": 700}, ValueError, "patch_size"),
    ({"whiten": "pca"}, ValueError, "whiten"),
    ({"zca_epsilon": 0.0}, ValueError, "zca_epsilon"),
    ({"zca_epsilon": "small"}, TypeError, "zca_epsilon"),
    ({"prewhiten": "yes"}, TypeError, "prewhiten"),
    ({"random_state": "seed"}, ValueError, "random_state"),
    ({"images": []}, ValueError, "images"),
    ({"images": [np.zeros((10, 10, 2))]}, ValueError, r"images\[0\]"),
    ({"images": [np.array([["a", "b"], ["c", "d"]])]}, TypeError, r"images\[0\]"),
    ({"images": [np.full((10, 10), np.nan)]}, ValueError, r"images\[0\]"),
])
def test_patch_bad_args(kwargs, error, name):
    with pytest.raises(error, match=name):
        natural_image_patches(**{"n_patches": 10, **kwargs})


@pytest.mark.parametrize("X, name", [(np.zeros(5), "X"), (np.array([[np.inf, 1.0], [0.0, 1.0]]), "X")])
def test_zca_bad_args(X, name):
    with pytest.raises(ValueError, match=name):
        zca_whiten(X)
    with pytest.raises(ValueError, match="epsilon"):
        zca_whiten(np.ones((3, 2)), epsilon=-1.0)


# -- toy manifolds ---------------------------------------------------------------------

GENERATORS = [
    (swiss_roll, {}, 3),
    (s_curve, {}, 3),
    (circles_in_high_dim, {"n_features": 7}, 7),
    (circles_in_high_dim, {"n_features": 6, "manifold": "torus", "embedding": "nonlinear"}, 6),
    (gaussian_blobs, {"n_features": 4}, 4),
]


@pytest.mark.parametrize("gen, kwargs, d", GENERATORS)
def test_toy_shapes_and_reproducibility(gen, kwargs, d):
    X, t = gen(120, random_state=0, **kwargs)
    assert X.shape == (120, d) and X.dtype == np.float64 and np.isfinite(X).all()
    assert len(t) == 120
    X2, t2 = gen(120, random_state=0, **kwargs)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(t, t2)
    X3, _ = gen(120, random_state=1, **kwargs)
    assert not np.array_equal(X, X3)


def test_swiss_roll_and_s_curve_geometry():
    X, t = swiss_roll(300, noise=0.0, random_state=0)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 2]), t)
    assert t.min() >= 1.5 * np.pi and t.max() <= 4.5 * np.pi and 0 <= X[:, 1].min() and X[:, 1].max() <= 21
    X, t = s_curve(300, noise=0.0, random_state=0)
    np.testing.assert_allclose(X[:, 0], np.sin(t))
    assert np.abs(t).max() <= 1.5 * np.pi
    Xn, _ = s_curve(300, noise=0.1, random_state=0)
    assert 0.05 < np.std(Xn - X) < 0.15


def test_circle_linear_embedding_spans_two_directions():
    X, t = circles_in_high_dim(400, n_features=20, noise=0.0, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)  # an isometric embedding of the unit circle
    s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    assert s[1] > 0.5 * s[0] and s[2] < 1e-10 * s[0]  # PCA needs exactly 2 components
    assert t.shape == (400,) and 0 <= t.min() and t.max() < 2 * np.pi
    # The angle is the intrinsic coordinate: neighbouring angles give neighbouring points.
    order = np.argsort(t)
    steps = np.linalg.norm(np.diff(X[order], axis=0), axis=1)
    np.testing.assert_allclose(steps, 2 * np.sin(np.diff(t[order]) / 2), atol=1e-10)


def test_torus_and_nonlinear_embedding():
    X, t = circles_in_high_dim(400, n_features=10, noise=0.0, manifold="torus", random_state=0)
    assert t.shape == (400, 2)
    s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    assert s[3] > 0.5 * s[0] and s[4] < 1e-10 * s[0]
    Xn, _ = circles_in_high_dim(400, n_features=10, noise=0.0, embedding="nonlinear", random_state=0)
    assert np.abs(Xn).max() < 1.0
    s = np.linalg.svd(Xn - Xn.mean(axis=0), compute_uv=False)
    assert s[2] > 1e-3 * s[0]  # curved: more than 2 principal directions


def test_random_orthogonal():
    Q = random_orthogonal(6, random_state=0)
    np.testing.assert_allclose(Q @ Q.T, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(Q, random_orthogonal(6, random_state=0))


def test_gaussian_blobs_centres_and_balance():
    centres = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]])
    X, y = gaussian_blobs(900, 2, centers=centres, cluster_std=[0.1, 0.2, 0.3], random_state=0)
    assert np.bincount(y).tolist() == [300, 300, 300]
    for k in range(3):
        np.testing.assert_allclose(X[y == k].mean(axis=0), centres[k], atol=0.05)
        np.testing.assert_allclose((X[y == k] - centres[k]).std(), [0.1, 0.2, 0.3][k], rtol=0.15)


@pytest.mark.parametrize("gen, kwargs, error, name", [
    (swiss_roll, {"n_samples": 0}, ValueError, "n_samples"),
    (swiss_roll, {"noise": -1.0}, ValueError, "noise"),
    (s_curve, {"noise": "lots"}, TypeError, "noise"),
    (s_curve, {"noise": float("nan")}, ValueError, "noise"),
    (s_curve, {"random_state": -1}, ValueError, "random_state"),
    (circles_in_high_dim, {"n_features": 1}, ValueError, "n_features"),
    (circles_in_high_dim, {"n_features": 3, "manifold": "torus"}, ValueError, "n_features"),
    (circles_in_high_dim, {"manifold": "sphere"}, ValueError, "manifold"),
    (circles_in_high_dim, {"embedding": "curvy"}, ValueError, "embedding"),
    (gaussian_blobs, {"centers": np.zeros((3, 5))}, ValueError, "centers"),
    (gaussian_blobs, {"centers": 0}, ValueError, "centers"),
    (gaussian_blobs, {"cluster_std": -1.0}, ValueError, "cluster_std"),
    (gaussian_blobs, {"cluster_std": [1.0, 2.0]}, ValueError, "cluster_std"),
    (gaussian_blobs, {"center_box": (1.0, 0.0)}, ValueError, "center_box"),
    (gaussian_blobs, {"n_features": 0}, ValueError, "n_features"),
])
def test_toy_bad_args(gen, kwargs, error, name):
    with pytest.raises(error, match=name):
        gen(**kwargs)


def test_modules_export_their_names():
    for module in (images, toy):
        for name in module.__all__:
            assert callable(getattr(module, name))
