"""``tinyae.plots``: every function returns a Figure with the expected axes,
images and lines, saves a PNG to ``path=``, and names the bad argument.

Runs on the non-interactive Agg backend; every figure is closed after each test.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tinyae import plots  # noqa: E402
from tinyae.nn.layers import Dense, TiedDense  # noqa: E402
from tinyae.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


RNG = np.random.default_rng(0)
IMGS = RNG.random((10, 64))                      # 10 flat 8x8 images
IMGS_HAT = np.clip(IMGS + 0.05 * RNG.standard_normal(IMGS.shape), 0, 1)
SPEC = RNG.random((6, 30))                        # 6 spectra of 30 bins
E_AXIS = np.linspace(-5.0, 40.0, 30)
MAPS = RNG.random((4, 12, 15))                   # 4 maps (n_q=12, n_e=15)
Q_MAP, E_MAP = np.linspace(0.5, 6.0, 12), np.linspace(0.0, 28.0, 15)


def n_images(fig):
    return sum(len(ax.images) for ax in fig.axes)


def n_colorbars(fig):
    return sum(1 for ax in fig.axes if ax.get_label() == "<colorbar>")


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def make_history(best=None, val=True):
    h = History()
    for epoch in range(5):
        logs = {"reconstruction": 1.0 / (epoch + 1), "sparsity": 0.1 + 0.01 * epoch}
        logs["loss"] = sum(logs.values())
        if val:
            logs.update({f"val_{k}": 1.1 * v for k, v in list(logs.items())})
        h.append(epoch, logs)
    h.best_epoch = best
    return h


# -- reconstruction_grid ------------------------------------------------------------------


def test_reconstruction_grid_images():
    fig = plots.reconstruction_grid(IMGS, IMGS_HAT)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 16 and n_images(fig) == 16  # 2 rows x 8 columns
    assert fig.axes[0].get_ylabel() == "original"
    assert fig.axes[0].images[0].get_array().shape == (8, 8)
    assert fig.axes[8].get_xlabel().startswith("mse")
    # Each column shares the original's grey range.
    assert fig.axes[0].images[0].get_clim() == fig.axes[8].images[0].get_clim()


def test_reconstruction_grid_images_shapes_and_selection():
    X = RNG.random((5, 6, 4))
    fig = plots.reconstruction_grid(X, X.reshape(5, 24), n=3, titles=["a", "b", "c"])  # X_hat may come flat
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "a"
    fig = plots.reconstruction_grid(X.reshape(5, 24), X.reshape(5, 24), image_shape=(6, 4), indices=[4, -1, 0])
    assert len(fig.axes) == 6 and fig.axes[0].images[0].get_array().shape == (6, 4)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), X[4])


def test_reconstruction_grid_spectra():
    fig = plots.reconstruction_grid(SPEC, SPEC * 0.9, kind="spectrum1d", e_axis=E_AXIS)
    assert len(fig.axes) == 4  # default 4 spectra
    for ax in fig.axes:
        assert len(ax.lines) == 2
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), E_AXIS)
    assert fig.axes[0].get_legend() is not None
    fig = plots.reconstruction_grid(SPEC, SPEC, kind="spectrum1d", n=5)  # a 2x4 grid, 3 panels removed
    assert len(fig.axes) == 5
    assert plots.reconstruction_grid(SPEC[0], SPEC[0], kind="spectrum1d").axes[0].lines[0].get_ydata().shape == (30,)


def test_reconstruction_grid_maps():
    fig = plots.reconstruction_grid(MAPS, MAPS + 0.1, kind="map2d", q_axis=Q_MAP, e_axis=E_MAP, n=2)
    assert n_images(fig) == 6 and n_colorbars(fig) == 6 and len(fig.axes) == 12
    im = fig.axes[0].images[0]
    assert im.get_array().shape == (15, 12)  # E up, |Q| across
    dq, de = Q_MAP[1] - Q_MAP[0], E_MAP[1] - E_MAP[0]
    np.testing.assert_allclose(im.get_extent(), [0.5 - dq / 2, 6.0 + dq / 2, 0.0 - de / 2, 28.0 + de / 2])
    err = [ax for ax in fig.axes if ax.images and "error" in ax.get_title()]
    assert len(err) == 2
    np.testing.assert_allclose(err[0].images[0].get_array(), 0.1 * np.ones((15, 12)))
    lo, hi = err[0].images[0].get_clim()
    assert lo == -hi  # symmetric error scale
    flat = plots.reconstruction_grid(MAPS.reshape(4, -1), MAPS.reshape(4, -1), kind="map2d", image_shape=(12, 15), n=1)
    assert n_images(flat) == 3


def test_map_colour_norms():
    from matplotlib.colors import LogNorm, PowerNorm

    fig = plots.reconstruction_grid(MAPS, MAPS, kind="map2d", n=1, norm="log")
    norms = [ax.images[0].norm for ax in fig.axes if ax.images]
    assert isinstance(norms[0], LogNorm) and isinstance(norms[1], LogNorm)
    assert not isinstance(norms[2], LogNorm)  # the error map stays linear and symmetric
    fig = plots.denoising_triplets(MAPS, MAPS, MAPS, kind="map2d", n=1, norm="sqrt")
    assert all(isinstance(ax.images[0].norm, PowerNorm) for ax in fig.axes if ax.images)
    fig = plots.latent_traversal(Recorder(2, 180), np.zeros(2), 0, [0.0, 1.0], kind="map2d", image_shape=(12, 15),
                                 norm="log")
    assert isinstance(fig.axes[0].images[0].norm, LogNorm)
    with pytest.raises(ValueError, match="norm"):
        plots.reconstruction_grid(MAPS, MAPS, kind="map2d", norm="symlog")


def test_reconstruction_grid_draws_into_a_subfigure():
    root = plt.figure()
    left, _ = root.subfigures(1, 2)
    fig = plots.reconstruction_grid(IMGS, IMGS_HAT, n=2, fig=left)
    assert fig is root and len(left.axes) == 4


@pytest.mark.parametrize("kwargs, error, name", [
    ({"kind": "volume"}, ValueError, "kind"),
    ({"X_hat": IMGS[:, :60]}, ValueError, "X_hat"),
    ({"X": IMGS[:, :60], "X_hat": IMGS[:, :60]}, ValueError, "image_shape"),
    ({"image_shape": (4, 4)}, ValueError, "image_shape"),
    ({"kind": "map2d", "X": MAPS.reshape(4, -1), "X_hat": MAPS.reshape(4, -1)}, ValueError, "image_shape"),
    ({"kind": "spectrum1d", "X": SPEC, "X_hat": SPEC, "e_axis": E_AXIS[:-1]}, ValueError, "e_axis"),
    ({"kind": "map2d", "X": MAPS, "X_hat": MAPS, "q_axis": E_MAP}, ValueError, "q_axis"),
    ({"titles": ["just one"]}, ValueError, "titles"),
    ({"n": 0}, ValueError, "n"),
    ({"indices": [0, 10]}, ValueError, "indices"),
    ({"X": np.array([["a"] * 64]), "X_hat": IMGS[:1]}, TypeError, "X"),
    ({"fig": "figure"}, TypeError, "fig"),
    ({"path": 3}, TypeError, "path"),
])
def test_reconstruction_grid_bad_args(kwargs, error, name):
    args = {"X": IMGS, "X_hat": IMGS_HAT, **kwargs}
    with pytest.raises(error, match=name):
        plots.reconstruction_grid(**args)


def test_non_empty_figure_is_refused():
    fig = plt.figure()
    fig.add_subplot()
    with pytest.raises(ValueError, match="fig"):
        plots.reconstruction_grid(IMGS, IMGS_HAT, fig=fig)


# -- denoising_triplets ------------------------------------------------------------------


def test_denoising_triplets_all_kinds():
    fig = plots.denoising_triplets(IMGS + 0.1, IMGS_HAT, IMGS, n=5)
    assert len(fig.axes) == 15 and [fig.axes[i].get_ylabel() for i in (0, 5, 10)] == ["noisy", "denoised", "clean"]
    fig = plots.denoising_triplets(SPEC + 0.1, SPEC, SPEC, kind="spectrum1d", n=3, e_axis=E_AXIS)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 3 for ax in fig.axes)
    fig = plots.denoising_triplets(MAPS + 0.1, MAPS, MAPS, kind="map2d", n=2)
    assert n_images(fig) == 6 and n_colorbars(fig) == 6
    # One colour scale per row, from the clean map.
    assert len({ax.images[0].get_clim() for ax in fig.axes[:6] if ax.images and "sample 0" in ax.get_title()}) == 1


def test_denoising_triplets_bad_args():
    with pytest.raises(ValueError, match="noisy"):
        plots.denoising_triplets(IMGS[:3], IMGS, IMGS)
    with pytest.raises(ValueError, match="reconstructed"):
        plots.denoising_triplets(IMGS, IMGS[:, :49], IMGS)
    with pytest.raises(ValueError, match="kind"):
        plots.denoising_triplets(IMGS, IMGS, IMGS, kind="image3d")


# -- filter_mosaic / decoder_basis_1d ------------------------------------------------------


def test_filter_mosaic_layout_and_normalisation():
    W = RNG.standard_normal((64, 25))
    fig = plots.filter_mosaic(W)
    assert len(fig.axes) == 1 and n_images(fig) == 1
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (1 + 5 * 9, 1 + 5 * 9)
    tile = mosaic[1:9, 1:9]
    expected = W[:, 0].reshape(8, 8) - W.mean()
    np.testing.assert_allclose(tile, expected / np.abs(expected).max())
    tiles = [mosaic[1 + r * 9:9 + r * 9, 1 + c * 9:9 + c * 9] for r in range(5) for c in range(5)]
    np.testing.assert_allclose([np.abs(t).max() for t in tiles], 1.0)
    assert fig.axes[0].images[0].get_clim() == (-1.0, 1.0)
    wide = plots.filter_mosaic(W[:, :7], n_cols=7, border=0).axes[0].images[0].get_array()
    assert wide.shape == (8, 56)
    odd = plots.filter_mosaic(RNG.standard_normal((24, 3)), image_shape=(4, 6), normalize=None)
    assert odd.axes[0].images[0].get_array().shape == (1 + 2 * 5, 1 + 2 * 7)


def test_filter_mosaic_accepts_layers_and_tensors():
    layer = Dense(64, 9, rng=0)
    from_layer = plots.filter_mosaic(layer).axes[0].images[0].get_array()
    from_param = plots.filter_mosaic(layer.W).axes[0].images[0].get_array()
    from_array = plots.filter_mosaic(layer.W.to_numpy()).axes[0].images[0].get_array()
    np.testing.assert_array_equal(from_layer, from_array)
    np.testing.assert_array_equal(from_param, from_array)


@pytest.mark.parametrize("kwargs, name", [
    ({"W": RNG.standard_normal((60, 4))}, "image_shape"),
    ({"W": RNG.standard_normal((64, 4)), "image_shape": (4, 8)}, "image_shape"),
    ({"W": RNG.standard_normal(64)}, "W"),
    ({"W": RNG.standard_normal((64, 4)), "normalize": "max"}, "normalize"),
    ({"W": RNG.standard_normal((64, 4)), "border": -1}, "border"),
    ({"W": RNG.standard_normal((64, 4)), "n_cols": 0}, "n_cols"),
])
def test_filter_mosaic_bad_args(kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.filter_mosaic(**kwargs)


def test_decoder_basis_1d():
    W = RNG.standard_normal((6, 30))
    fig = plots.decoder_basis_1d(W, E_AXIS)
    ax = fig.axes[0]
    rows = [line for line in ax.lines if line.get_label().startswith("h")]
    assert len(rows) == 6 and len(ax.lines) == 12  # plus a zero line per row
    np.testing.assert_array_equal(rows[0].get_xdata(), E_AXIS)
    np.testing.assert_allclose(rows[0].get_ydata(), W[0])
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"h{j}" for j in range(1, 7)]
    overlaid = plots.decoder_basis_1d(W, n=3, stacked=False).axes[0]
    assert len(overlaid.lines) == 3 and overlaid.get_legend() is not None
    np.testing.assert_allclose(overlaid.lines[2].get_ydata(), W[2])


def test_decoder_basis_1d_from_layers():
    dec = Dense(4, 30, rng=0)  # W (4, 30): rows are the basis functions
    ax = plots.decoder_basis_1d(dec, stacked=False).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), dec.W.to_numpy()[0])
    enc = Dense(30, 4, rng=1)
    tied = TiedDense(enc)  # shares enc.W (30, 4); its rows-as-outputs are enc.W.T
    ax = plots.decoder_basis_1d(tied, stacked=False).axes[0]
    assert len(ax.lines) == 4
    np.testing.assert_allclose(ax.lines[1].get_ydata(), enc.W.to_numpy()[:, 1])
    with pytest.raises(ValueError, match="e_axis"):
        plots.decoder_basis_1d(dec, E_AXIS[:5])


# -- latent_scatter / latent_traversal ------------------------------------------------------


def test_latent_scatter_categorical_and_continuous():
    Z = RNG.standard_normal((90, 2))
    labels = np.repeat([0, 1, 2], 30)
    fig = plots.latent_scatter(Z, labels, label_name="digit")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.collections) == 3
    assert ax.get_legend().get_title().get_text() == "digit"
    np.testing.assert_allclose(ax.collections[1].get_offsets(), Z[30:60])
    fig = plots.latent_scatter(Z, RNG.random(90), label_name="t")
    assert len(fig.axes) == 2 and n_colorbars(fig) == 1  # scatter + colour bar
    assert len(plots.latent_scatter(Z, np.array(list("ab") * 45)).axes[0].collections) == 2
    assert len(plots.latent_scatter(Z).axes[0].collections) == 1


def test_latent_scatter_projections():
    rng = np.random.default_rng(1)
    Z = np.zeros((200, 5))
    Z[:, 3] = 3 * rng.standard_normal(200)  # the largest variance
    Z[:, 1] = rng.standard_normal(200)
    ax = plots.latent_scatter(Z).axes[0]
    assert ax.get_xlabel().startswith("PC1") and "%" in ax.get_xlabel()
    P = np.asarray(ax.collections[0].get_offsets())
    # Rank-2 codes: the projection on 2 principal components keeps every distance.
    dist = lambda A: np.linalg.norm(A[:, None] - A[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(P), dist(Z), atol=1e-9)
    assert abs(np.corrcoef(P[:, 0], Z[:, 3])[0, 1]) > 0.99  # PC1 follows the widest unit
    ax = plots.latent_scatter(Z, projection="first").axes[0]
    assert ax.get_xlabel() == "z[0]"
    np.testing.assert_allclose(ax.collections[0].get_offsets(), Z[:, :2])
    ax = plots.latent_scatter(Z[:, :1], np.arange(200.0)).axes[0]  # 1-D codes against the labels
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], np.arange(200.0))


@pytest.mark.parametrize("args, kwargs, name", [
    ((np.zeros(5),), {}, "codes"),
    ((np.zeros((5, 2)), np.zeros(4)), {}, "labels"),
    ((np.zeros((5, 3)),), {"projection": "tsne"}, "projection"),
])
def test_latent_scatter_bad_args(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.latent_scatter(*args, **kwargs)


class Recorder:
    """A decoder ``z -> z @ A`` that remembers the codes it was given."""

    def __init__(self, k, n_out):
        self.A = np.random.default_rng(2).standard_normal((k, n_out))
        self.codes = None

    def __call__(self, Z):
        self.codes = np.array(Z)
        return Z @ self.A


def test_latent_traversal_images_decodes_the_sweep():
    dec = Recorder(3, 64)
    base, values = np.array([0.5, -1.0, 2.0]), np.linspace(-2, 2, 5)
    fig = plots.latent_traversal(dec, base, 1, values)
    assert len(fig.axes) == 5 and n_images(fig) == 5
    np.testing.assert_array_equal(dec.codes[:, 1], values)
    np.testing.assert_array_equal(dec.codes[:, [0, 2]], np.tile([0.5, 2.0], (5, 1)))
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), (dec.codes[2] @ dec.A).reshape(8, 8))
    assert fig.axes[0].get_title() == "z[1] = -2"
    assert len({ax.images[0].get_clim() for ax in fig.axes}) == 1  # one grey scale


def test_latent_traversal_spectra_maps_and_estimators():
    fig = plots.latent_traversal(Recorder(2, 30), np.zeros(2), 0, [-1.0, 0.0, 1.0], kind="spectrum1d", e_axis=E_AXIS)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3 and n_colorbars(fig) == 1
    est = SimpleNamespace(inverse_transform=Recorder(2, 12 * 15))
    fig = plots.latent_traversal(est, np.zeros((1, 2)), 1, [0.0, 1.0, 2.0, 3.0], kind="map2d",
                                 image_shape=(12, 15), q_axis=Q_MAP, e_axis=E_MAP)
    assert n_images(fig) == 4 and n_colorbars(fig) == 1 and len(fig.axes) == 5


@pytest.mark.parametrize("kwargs, error, name", [
    ({"decode_fn": 3}, TypeError, "decode_fn"),
    ({"dim": 2}, ValueError, "dim"),
    ({"dim": -1}, ValueError, "dim"),
    ({"values": [0.0, np.nan]}, ValueError, "values"),
    ({"values": []}, ValueError, "values"),
    ({"base_code": np.zeros((2, 2))}, ValueError, "base_code"),
    ({"decode_fn": lambda Z: np.zeros((1, 64))}, ValueError, "decode_fn"),
    ({"kind": "map2d"}, ValueError, "image_shape"),
])
def test_latent_traversal_bad_args(kwargs, error, name):
    args = {"decode_fn": Recorder(2, 64), "base_code": np.zeros(2), "dim": 0, "values": [0.0, 1.0], **kwargs}
    with pytest.raises(error, match=name):
        plots.latent_traversal(**args)


# -- loss_curves / error_vs_code_size -------------------------------------------------------


def test_loss_curves_every_term_and_validation():
    fig = plots.loss_curves(make_history(best=3))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["loss", "val_loss"]
    assert set(labels) == {"loss", "val_loss", "reconstruction", "val_reconstruction", "sparsity", "val_sparsity",
                           "best epoch (3)"}
    assert ax.get_yscale() == "log"
    val = next(line for line in ax.lines if line.get_label() == "val_sparsity")
    assert val.get_linestyle() == "--"
    np.testing.assert_array_equal(val.get_xdata(), np.arange(5))


def test_loss_curves_inputs_scales_and_panels():
    h = make_history(val=False)
    assert len(plots.loss_curves(SimpleNamespace(history_=h)).axes[0].lines) == 3  # a fitted estimator
    d = {"loss": [1.0, 0.5, -0.1], "kl": [0.0, 0.1, 0.2]}  # non-positive values: linear axis
    ax = plots.loss_curves(d).axes[0]
    assert ax.get_yscale() == "linear" and len(ax.lines) == 2
    assert plots.loss_curves(h, logy=False).axes[0].get_yscale() == "linear"
    ax = plots.loss_curves(make_history(), keys=["sparsity"]).axes[0]
    assert [line.get_label() for line in ax.lines] == ["sparsity", "val_sparsity"]
    fig = plots.loss_curves(make_history(), separate=True)
    assert len(fig.axes) == 3 and all(len(a.lines) == 2 for a in fig.axes)


@pytest.mark.parametrize("args, kwargs, error, name", [
    (({},), {}, ValueError, "history"),
    (([1.0, 2.0],), {}, TypeError, "history"),
    ((make_history(),), {"keys": ["kl"]}, ValueError, "keys"),
    ((make_history(),), {"separate": True, "ax": "an axes"}, ValueError, "ax"),
    ((make_history(),), {"fig": "a figure"}, ValueError, "fig"),
    (({"loss": [[1.0]]},), {}, ValueError, "history"),
])
def test_loss_curves_bad_args(args, kwargs, error, name):
    with pytest.raises(error, match=name):
        plots.loss_curves(*args, **kwargs)


def test_error_vs_code_size():
    sizes = [1, 2, 4, 8, 16, 32]
    pca = np.geomspace(0.1, 0.001, 6)
    ax = plots.error_vs_code_size(sizes, 0.7 * pca, pca).axes[0]
    assert len(ax.lines) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == ["autoencoder", "PCA"]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[1].get_ydata(), pca)
    reps = 0.7 * pca[:, None] * np.array([0.9, 1.0, 1.1])
    ax = plots.error_vs_code_size(sizes, reps, pca).axes[0]
    assert len(ax.containers) == 1  # the error bars of the repeated runs
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), reps.mean(axis=1))
    ax = plots.error_vs_code_size([1, 2, 3], {"deep": [3.0, 2.0, 1.0], "shallow": [3.5, 2.5, 2.0]}, logy=False).axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "linear" and ax.get_xscale() == "linear"


@pytest.mark.parametrize("args, name", [
    (([1, 2, 3], [1.0, 2.0]), "ae_errors"),
    (([1, 2, 3], [1.0, 2.0, 3.0], [1.0]), "pca_errors"),
    (([0, 1, 2], [1.0, 2.0, 3.0]), "sizes"),
    (([1, 2], {}), "ae_errors"),
])
def test_error_vs_code_size_bad_args(args, name):
    with pytest.raises(ValueError, match=name):
        plots.error_vs_code_size(*args)


# -- every function: saving, ax=, a real model ----------------------------------------------

CALLS = {
    "reconstruction_grid": lambda **kw: plots.reconstruction_grid(IMGS, IMGS_HAT, n=3, **kw),
    "reconstruction_grid_maps": lambda **kw: plots.reconstruction_grid(MAPS, MAPS, kind="map2d", n=1, **kw),
    "denoising_triplets": lambda **kw: plots.denoising_triplets(SPEC, SPEC, SPEC, kind="spectrum1d", n=2, **kw),
    "filter_mosaic": lambda **kw: plots.filter_mosaic(RNG.standard_normal((64, 16)), **kw),
    "decoder_basis_1d": lambda **kw: plots.decoder_basis_1d(RNG.standard_normal((3, 30)), **kw),
    "latent_scatter": lambda **kw: plots.latent_scatter(RNG.standard_normal((20, 2)), np.arange(20) % 2, **kw),
    "latent_traversal": lambda **kw: plots.latent_traversal(Recorder(2, 64), np.zeros(2), 0, [0.0, 1.0], **kw),
    "loss_curves": lambda **kw: plots.loss_curves(make_history(), **kw),
    "error_vs_code_size": lambda **kw: plots.error_vs_code_size([1, 2], [2.0, 1.0], [3.0, 2.0], **kw),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_plot_saves_a_png(name, tmp_path):
    path = tmp_path / f"{name}.png"
    fig = CALLS[name](path=path)
    assert isinstance(fig, Figure)
    assert_png(path)
    CALLS[name](path=str(tmp_path / "again.png"), dpi=40)
    assert_png(tmp_path / "again.png")


@pytest.mark.parametrize("name", ["filter_mosaic", "decoder_basis_1d", "latent_scatter", "loss_curves",
                                  "error_vs_code_size"])
def test_one_panel_plots_draw_into_a_given_ax(name):
    fig, axes = plt.subplots(1, 2)
    assert CALLS[name](ax=axes[1]) is fig
    assert axes[1].has_data() or axes[1].images
    with pytest.raises(TypeError, match="ax"):
        CALLS[name](ax="not an axes")


def test_plots_of_a_fitted_autoencoder():
    from tinyae import Autoencoder

    X = np.random.default_rng(0).random((60, 16))
    ae = Autoencoder(n_components=4, hidden_sizes=(), epochs=3, batch_size=20, early_stopping=True,
                     n_iter_no_change=5, random_state=0).fit(X)
    fig = plots.loss_curves(ae)
    labels = {line.get_label() for line in fig.axes[0].lines}
    assert {"loss", "reconstruction", "val_loss", "val_reconstruction"} <= labels
    assert n_images(plots.filter_mosaic(ae.model_.encoder[0])) == 1
    assert len(plots.decoder_basis_1d(ae.model_.decoder[-1]).axes[0].lines) == 8
    assert len(plots.reconstruction_grid(X, ae.reconstruct(X), n=4).axes) == 8
    assert len(plots.latent_traversal(ae, ae.transform(X[:1])[0], 2, [-1.0, 1.0]).axes) == 2
