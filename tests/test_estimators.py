"""The estimator interface: scikit-learn's contract, reproducibility, fitted
attributes, input validation and dtypes of ``Autoencoder`` and
``VariationalAutoencoder``.

scikit-learn is a test extra: the tests that need it (``check_estimator``,
``Pipeline``, ``GridSearchCV``, the digits data) skip without it; the rest
use synthetic data and run on the engine alone.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinyae
from tinyae import Autoencoder, VariationalAutoencoder
from tinyae.optim import SGD, Adam

# -- data and helpers -------------------------------------------------------------


def unit_data(n=60, d=8, seed=0):
    """``n`` samples of ``d`` features in [0, 1] with low-rank structure (a compressible toy set)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((2, d))
    Z = rng.standard_normal((n, 2))
    return 1.0 / (1.0 + np.exp(-(Z @ A + 0.1 * rng.standard_normal((n, d)))))


def small_ae(**kwargs):
    params = dict(n_components=2, hidden_sizes=(6,), epochs=5, batch_size=16, learning_rate=1e-2, random_state=0)
    params.update(kwargs)
    return Autoencoder(**params)


def small_vae(**kwargs):
    params = dict(n_components=2, hidden_sizes=(6,), epochs=5, batch_size=16, learning_rate=1e-2, random_state=0)
    params.update(kwargs)
    return VariationalAutoencoder(**params)


def assert_same_weights(a, b):
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), f"parameter {key} differs between two fits with the same seed"


def weights_differ_state(a, b):
    return any(not np.array_equal(a[k], b[k]) for k in a)


def weights_differ(a, b):
    return weights_differ_state(a.model_.state_dict(), b.model_.state_dict())


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits scaled to [0, 1], split 1300 / 497 by a seeded permutation."""
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_digits()
    X, y = bunch.data / 16.0, bunch.target
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1300], order[1300:]
    return X[train], y[train], X[test], y[test]


# -- scikit-learn's estimator checks --------------------------------------------------

ESTIMATORS_FOR_CHECKS = {
    "Autoencoder": lambda: Autoencoder(epochs=20, random_state=0),
    "VariationalAutoencoder": lambda: VariationalAutoencoder(
        epochs=10, hidden_sizes=(8,), loss="mse", output_activation="linear", random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(ESTIMATORS_FOR_CHECKS))
def test_sklearn_check_estimator(name):
    # check_estimator(on_fail=None) and the Tags API of __sklearn_tags__ are scikit-learn >= 1.6.
    pytest.importorskip("sklearn", minversion="1.6")
    from sklearn.exceptions import SkipTestWarning
    from sklearn.utils import estimator_checks

    with warnings.catch_warnings():
        # tinyae's BaseEstimator is its own (the engine never imports scikit-learn).
        warnings.filterwarnings("ignore", message=".*does not inherit from.*BaseEstimator", category=UserWarning)
        warnings.filterwarnings("ignore", category=SkipTestWarning)  # the array-API check needs SCIPY_ARRAY_API
        results = estimator_checks.check_estimator(ESTIMATORS_FOR_CHECKS[name](), on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    passed = [r["check_name"] for r in results if r["status"] == "passed"]
    assert not failed, f"{len(failed)} of {len(results)} scikit-learn checks failed for {name}: {failed}"
    assert len(passed) >= 40, f"only {len(passed)} of {len(results)} checks ran and passed for {name}"


# -- scikit-learn composition ------------------------------------------------------


def test_pipeline_with_classifier_on_digits(digits):
    pipeline_mod = pytest.importorskip("sklearn.pipeline")
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    X_train, y_train, X_test, y_test = digits
    pipe = pipeline_mod.Pipeline([
        ("ae", Autoencoder(n_components=16, hidden_sizes=(64,), activation="relu", output_activation="sigmoid",
                           loss="bce", learning_rate=1e-2, epochs=20, batch_size=32, random_state=0)),
        ("clf", LogisticRegression(max_iter=2000)),
    ])
    pipe.fit(X_train, y_train)
    pred = pipe.predict(X_test)
    assert pred.shape == y_test.shape
    accuracy = pipe.score(X_test, y_test)
    assert accuracy == pytest.approx(np.mean(pred == y_test))
    assert accuracy > 0.9, f"held-out accuracy of AE(16 codes) + logistic regression: {accuracy:.3f} (chance 0.1)"
    assert pipe.named_steps["ae"].transform(X_test).shape == (len(X_test), 16)

    cloned = clone(pipe)
    assert not hasattr(cloned.named_steps["ae"], "model_"), "clone must return an unfitted estimator"
    assert cloned.named_steps["ae"].get_params() == pipe.named_steps["ae"].get_params()
    assert cloned.named_steps["ae"] is not pipe.named_steps["ae"]


def test_clone_keeps_params_and_drops_fit():
    base = pytest.importorskip("sklearn.base")
    for est in (small_ae(n_components=3, sparsity=("l1", 1e-3)), small_vae(beta=0.5)):
        est.fit(unit_data())
        cloned = base.clone(est)
        assert type(cloned) is type(est)
        assert cloned.get_params() == est.get_params()
        assert not hasattr(cloned, "model_") and not hasattr(cloned, "history_")
        cloned.fit(unit_data())
        assert_same_weights(cloned, est)


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["Autoencoder", "VariationalAutoencoder"])
def test_fitted_estimator_pickles(make):
    import pickle

    X = unit_data()
    est = make(noise=("masking", 0.2)) if make is small_ae else make()
    est.fit(X)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.get_params().keys() == est.get_params().keys()
    np.testing.assert_array_equal(restored.transform(X), est.transform(X))
    np.testing.assert_array_equal(restored.reconstruct(X), est.reconstruct(X))
    assert restored.history_.history == est.history_.history
    assert restored.score(X) == est.score(X)
    # An unfitted one, too.
    assert pickle.loads(pickle.dumps(make())).get_params() == make().get_params()


def test_grid_search_over_n_components(digits):
    model_selection = pytest.importorskip("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X_train, y_train, _, _ = digits
    X, y = X_train[:300], y_train[:300]
    # Unsupervised: GridSearchCV ranks by the estimator's own score (negative reconstruction error).
    search = model_selection.GridSearchCV(
        Autoencoder(epochs=3, batch_size=64, learning_rate=1e-2, random_state=0), {"n_components": [2, 8]}, cv=2
    ).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    assert search.best_params_["n_components"] in (2, 8)
    assert search.best_estimator_.n_components == search.best_params_["n_components"]
    assert search.best_estimator_.transform(X).shape[1] == search.best_params_["n_components"]

    # Supervised: the nested parameter reaches the autoencoder inside a Pipeline.
    pipe = Pipeline([("ae", Autoencoder(epochs=3, batch_size=64, learning_rate=1e-2, random_state=0)),
                     ("clf", LogisticRegression(max_iter=500))])
    search = model_selection.GridSearchCV(pipe, {"ae__n_components": [2, 8]}, cv=2).fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.named_steps["ae"].n_components == search.best_params_["ae__n_components"]


# -- get_params / set_params / repr ---------------------------------------------------


@pytest.mark.parametrize("cls", [Autoencoder, VariationalAutoencoder])
def test_get_set_params_round_trip(cls):
    est = cls()
    params = est.get_params()
    assert "n_components" in params and "random_state" in params and "learning_rate" in params
    assert est.set_params(**params) is est
    assert est.get_params() == params
    rebuilt = cls(**params)
    assert rebuilt.get_params() == params

    changed = {"n_components": 7, "epochs": 3, "learning_rate": 0.05, "random_state": 11, "hidden_sizes": (5, 4)}
    est.set_params(**changed)
    got = est.get_params()
    for key, value in changed.items():
        assert got[key] == value
    for key in params.keys() - changed.keys():
        assert got[key] == params[key]
    # get_params returns the very objects stored, not copies.
    callbacks = [lambda *a: None]
    assert cls(callbacks=callbacks).get_params()["callbacks"] is callbacks


@pytest.mark.parametrize("cls", [Autoencoder, VariationalAutoencoder])
def test_set_params_unknown_name(cls):
    est = cls()
    with pytest.raises(ValueError, match="n_componnets"):
        est.set_params(n_componnets=3)
    with pytest.raises(ValueError, match="not_a_param"):
        est.set_params(epochs=5, not_a_param=1)
    assert not hasattr(est, "not_a_param") and not hasattr(est, "n_componnets")


def test_repr_shows_changed_params_only():
    assert repr(Autoencoder()) == "Autoencoder()"
    assert repr(VariationalAutoencoder()) == "VariationalAutoencoder()"
    text = repr(Autoencoder(n_components=5, hidden_sizes=(32, 8), noise=("masking", 0.3), learning_rate=0.01))
    assert text.startswith("Autoencoder(")
    for part in ("n_components=5", "hidden_sizes=(32, 8)", "noise=('masking', 0.3)", "learning_rate=0.01"):
        assert part in text, f"{part!r} missing from {text!r}"
    for default in ("epochs=", "batch_size=", "activation=", "random_state="):
        assert default not in text, f"default {default!r} shown in {text!r}"
    est = Autoencoder().set_params(epochs=3)
    assert repr(est) == "Autoencoder(epochs=3)"
    assert "beta=0.5" in repr(VariationalAutoencoder(beta=0.5))


# -- not fitted ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["Autoencoder", "VariationalAutoencoder"])
def test_unfitted_raises_not_fitted(make):
    est = make()
    X = unit_data()
    calls = {
        "transform": lambda: est.transform(X),
        "inverse_transform": lambda: est.inverse_transform(np.zeros((3, 2))),
        "score": lambda: est.score(X),
        "reconstruct": lambda: est.reconstruct(X),
    }
    if isinstance(est, VariationalAutoencoder):
        calls["sample"] = lambda: est.sample(3, random_state=0)
    for name, call in calls.items():
        with pytest.raises(tinyae.NotFittedError, match="not fitted"):
            call()
        # NotFittedError is also a ValueError and an AttributeError, as scikit-learn's is.
        with pytest.raises(ValueError):
            call()
        with pytest.raises(AttributeError):
            call()

    sk_exceptions = pytest.importorskip("sklearn.exceptions")
    for name, call in calls.items():
        with pytest.raises(sk_exceptions.NotFittedError):
            call()
        with pytest.raises(tinyae.NotFittedError):
            call()

    from sklearn.utils.validation import check_is_fitted
    with pytest.raises(sk_exceptions.NotFittedError):
        check_is_fitted(est)
    est.fit(X)
    check_is_fitted(est)


# -- reproducibility -------------------------------------------------------------------

REPRO_CONFIGS = {
    "plain": lambda seed: small_ae(random_state=seed),
    "masking-noise": lambda seed: small_ae(noise=("masking", 0.3), random_state=seed),
    "gaussian-noise": lambda seed: small_ae(noise=("gaussian", 0.2), random_state=seed),
    "salt-and-pepper": lambda seed: small_ae(noise=("salt_and_pepper", 0.2), random_state=seed),
    "kl-sparse": lambda seed: small_ae(hidden_sizes=(), n_components=6, code_activation="sigmoid",
                                       sparsity=("kl", 0.1, 3.0), random_state=seed),
    "l1-sparse+noise": lambda seed: small_ae(sparsity=("l1", 1e-2), noise=("masking", 0.2), random_state=seed),
    "contractive": lambda seed: small_ae(hidden_sizes=(), n_components=3, code_activation="sigmoid",
                                         contractive=0.1, random_state=seed),
    "tied+weight-decay": lambda seed: small_ae(tied_weights=True, weight_decay=1e-3, random_state=seed),
    "early-stopping": lambda seed: small_ae(early_stopping=True, validation_fraction=0.2, epochs=8,
                                            random_state=seed),
    "vae": lambda seed: small_vae(random_state=seed),
    "vae-mse": lambda seed: small_vae(loss="mse", output_activation="linear", random_state=seed),
}


@pytest.mark.parametrize("config", sorted(REPRO_CONFIGS))
def test_same_seed_identical_weights_different_seed_different(config):
    X = unit_data()
    make = REPRO_CONFIGS[config]
    a, b, c = make(3).fit(X), make(3).fit(X), make(4).fit(X)
    assert_same_weights(a, b)
    assert a.history_.history == b.history_.history
    assert a.history_.epochs == b.history_.epochs
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert weights_differ(a, c), "a different random_state gave identical weights"
    # Refitting the same estimator restarts from its seed.
    a.fit(X)
    assert_same_weights(a, b)
    assert a.history_.history == b.history_.history


def test_noise_draws_come_from_the_seeded_stream():
    """Two fits that differ only in noise must differ (the noise is really drawn), yet each repeats."""
    X = unit_data()
    clean = small_ae().fit(X)
    noisy1, noisy2 = small_ae(noise=("masking", 0.3)).fit(X), small_ae(noise=("masking", 0.3)).fit(X)
    assert weights_differ(clean, noisy1)
    assert_same_weights(noisy1, noisy2)


def test_generator_random_state_and_none():
    X = unit_data()
    a = small_ae(random_state=np.random.default_rng(5)).fit(X)
    b = small_ae(random_state=np.random.default_rng(5)).fit(X)
    assert_same_weights(a, b)
    u, v = small_ae(random_state=None).fit(X), small_ae(random_state=None).fit(X)
    assert weights_differ(u, v), "random_state=None should draw fresh entropy"


def test_fit_transform_equals_fit_then_transform():
    X = unit_data()
    for make in (small_ae, small_vae, lambda: small_ae(noise=("masking", 0.3))):
        codes = make().fit_transform(X)
        np.testing.assert_array_equal(codes, make().fit(X).transform(X))


# -- fitted attributes -------------------------------------------------------------------


def test_fitted_attributes_autoencoder():
    X = unit_data()
    est = small_ae(epochs=6)
    assert est.fit(X) is est
    assert isinstance(est.model_, tinyae.AutoencoderModule)
    assert isinstance(est.optimizer_, Adam)
    assert isinstance(est.history_, tinyae.History)
    assert est.n_features_in_ == X.shape[1]
    assert est.n_iter_ == 6 == len(est.history_.epochs)
    assert est.history_.epochs == list(range(6))
    assert set(est.history_.keys()) == {"loss", "reconstruction"}
    assert isinstance(est.loss_, float) and est.loss_ == est.history_["loss"][-1]
    assert est.history_.best_epoch is None and not est.history_.stopped_early
    assert not est.model_.training, "a fitted model is left in eval mode"
    assert est.history_["loss"][-1] < est.history_["loss"][0]
    assert isinstance(small_ae(optimizer="sgd").fit(X).optimizer_, SGD)


@pytest.mark.parametrize("kwargs, terms", [
    (dict(sparsity=("l1", 1e-3)), {"sparsity"}),
    (dict(hidden_sizes=(), code_activation="sigmoid", sparsity=("kl", 0.1, 3.0)), {"sparsity"}),
    (dict(hidden_sizes=(), code_activation="sigmoid", contractive=0.1), {"contractive"}),
    (dict(weight_decay=1e-3), {"weight_decay"}),
    (dict(hidden_sizes=(), code_activation="sigmoid", contractive=0.1, weight_decay=1e-3,
          sparsity=("kl", 0.2, 1.0)), {"sparsity", "contractive", "weight_decay"}),
])
def test_history_records_each_penalty(kwargs, terms):
    est = small_ae(**kwargs).fit(unit_data())
    assert set(est.history_.keys()) == {"loss", "reconstruction"} | terms
    for epoch in range(est.n_iter_):
        parts = sum(est.history_[k][epoch] for k in est.history_.keys() if k != "loss")
        assert est.history_["loss"][epoch] == pytest.approx(parts, rel=1e-12)
    for term in terms:
        assert all(v >= 0 for v in est.history_[term])


def test_fitted_attributes_vae():
    X = unit_data()
    est = small_vae(epochs=4).fit(X)
    assert isinstance(est.model_, tinyae.VAEModule)
    assert set(est.history_.keys()) == {"loss", "reconstruction", "kl"}
    for epoch in range(4):
        assert est.history_["loss"][epoch] == pytest.approx(
            est.history_["reconstruction"][epoch] + est.history_["kl"][epoch], rel=1e-12)
    assert all(v >= 0 for v in est.history_["kl"])
    assert est.n_iter_ == 4 and est.loss_ == est.history_["loss"][-1]
    assert est.n_features_in_ == 8


def test_early_stopping_on_a_plateau_stops_and_restores_best():
    # A learning rate far too small to move the loss by ``tol``: the first epoch
    # is the best, and training stops n_iter_no_change epochs later.
    X = unit_data(n=80)
    states = []
    est = small_ae(learning_rate=1e-7, epochs=100, early_stopping=True, validation_fraction=0.25,
                   n_iter_no_change=3, tol=1e-2, callbacks=[lambda e, logs, m: states.append(m.state_dict())])
    est.fit(X)
    assert est.n_iter_ == 4 < est.epochs
    assert est.history_.stopped_early and est.history_.best_epoch == 0
    assert "val_loss" in est.history_ and "val_reconstruction" in est.history_
    assert len(est.history_["val_loss"]) == est.n_iter_
    for key, value in est.model_.state_dict().items():
        np.testing.assert_array_equal(value, states[0][key], err_msg=f"best weights not restored for {key}")
    assert weights_differ_state(states[0], states[-1])


def test_early_stopping_natural_plateau_with_validation_data():
    data = unit_data(n=160)
    X, V = data[:120], data[120:]
    est = small_ae(learning_rate=3e-2, epochs=400, early_stopping=True, n_iter_no_change=5, tol=1e-4,
                   batch_size=32)
    est.fit(X, validation_data=V)
    val = est.history_["val_loss"]
    best = est.history_.best_epoch
    assert est.n_iter_ < 400, f"no early stop in 400 epochs; last val_loss {val[-5:]}"
    assert est.history_.stopped_early
    assert best is not None and best < est.n_iter_ - 1
    assert val[best] == min(val)
    # The kept weights are those of the best epoch: scoring V reproduces its val_reconstruction.
    assert -est.score(V) == pytest.approx(est.history_["val_reconstruction"][best], rel=1e-9)


def test_validation_data_logged_without_early_stopping():
    X = unit_data(n=60)
    V = unit_data(n=20, seed=1)
    est = small_ae(epochs=5, sparsity=("l1", 1e-3)).fit(X, validation_data=V)
    assert est.n_iter_ == 5
    assert {"val_loss", "val_reconstruction", "val_sparsity"} <= set(est.history_.keys())
    assert est.history_.best_epoch is None
    # The last epoch's validation terms are the fitted model's on V (eval mode, no noise).
    assert -est.score(V) == pytest.approx(est.history_["val_reconstruction"][-1], rel=1e-9)
    vae = small_vae(epochs=3).fit(X, validation_data=V)
    assert {"val_loss", "val_reconstruction", "val_kl"} <= set(vae.history_.keys())


def test_callbacks_called_and_true_stops():
    X = unit_data()
    calls = []

    def record(epoch, logs, model):
        calls.append((epoch, dict(logs), model))

    est = small_ae(epochs=4, callbacks=[record]).fit(X)
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert all(c[2] is est.model_ for c in calls)
    assert [c[1]["loss"] for c in calls] == est.history_["loss"]

    seen = []
    stopper = small_ae(epochs=50, callbacks=[lambda e, logs, m: seen.append(e), lambda e, logs, m: e == 2])
    stopper.fit(X)
    assert stopper.n_iter_ == 3 and seen == [0, 1, 2], "every callback runs each epoch; True stops after it"

    not_true = small_ae(epochs=4, callbacks=[lambda e, logs, m: None, lambda e, logs, m: 0]).fit(X)
    assert not_true.n_iter_ == 4


# -- transform / inverse_transform / sample / score -----------------------------------------


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["Autoencoder", "VariationalAutoencoder"])
def test_output_shapes(make):
    X = unit_data(n=50, d=8)
    est = make(n_components=3).fit(X)
    codes = est.transform(X)
    assert codes.shape == (50, 3) and codes.dtype == np.float64
    assert est.inverse_transform(codes).shape == (50, 8)
    assert est.reconstruct(X[:7]).shape == (7, 8)
    assert est.transform(X[:1]).shape == (1, 3)
    # Lists and integer arrays are accepted as data.
    assert est.transform(X.tolist()).shape == (50, 3)
    assert est.inverse_transform(np.zeros((2, 3), dtype=np.int64)).shape == (2, 8)
    # More rows than one inference block.
    big = np.tile(X, (25, 1))
    np.testing.assert_allclose(est.transform(big)[-50:], codes, rtol=1e-12, atol=1e-14)


def test_vae_sample_shape_and_seed():
    est = small_vae(n_components=3).fit(unit_data())
    a, b, c = est.sample(5, random_state=1), est.sample(5, random_state=1), est.sample(5, random_state=2)
    assert a.shape == (5, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all((a >= 0) & (a <= 1)), "sigmoid output samples lie in [0, 1]"
    assert est.sample(random_state=0).shape == (1, 8)
    assert est.sample(2).shape == (2, 8)
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(0)


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["Autoencoder", "VariationalAutoencoder"])
def test_score_is_float_and_improves_with_training(make):
    X = unit_data(n=100)
    short = make(epochs=1, learning_rate=1e-3).fit(X)
    long = make(epochs=150, learning_rate=1e-2).fit(X)
    s_short, s_long = short.score(X), long.score(X)
    assert isinstance(s_short, float) and isinstance(s_long, float)
    assert np.isfinite(s_short) and s_short == short.score(X), "score is deterministic"
    assert s_long > s_short, f"longer training should score higher: {s_long} vs {s_short}"


def test_autoencoder_score_is_negative_reconstruction_mse():
    X = unit_data()
    est = small_ae(output_activation="sigmoid").fit(X)
    assert est.score(X) == pytest.approx(-np.mean((est.reconstruct(X) - X) ** 2), rel=1e-10)
    # Penalties are not part of the score.
    sparse = small_ae(sparsity=("l1", 1.0)).fit(X)
    assert sparse.score(X) == pytest.approx(-np.mean((sparse.reconstruct(X) - X) ** 2), rel=1e-10)


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("bad, exc, words", [
    (np.array([[0.1, np.nan], [0.2, 0.3]]), ValueError, ["X", "finite"]),
    (np.array([[0.1, np.inf], [0.2, 0.3]]), ValueError, ["X", "finite"]),
    (np.array([[0.1, -np.inf], [0.2, 0.3]]), ValueError, ["X", "finite"]),
    (np.array([0.1, 0.2, 0.3]), ValueError, ["X", "2-D"]),
    (np.zeros((2, 2, 2)), ValueError, ["X", "2-D"]),
    (np.empty((0, 4)), ValueError, ["X", "sample"]),
    (np.empty((4, 0)), ValueError, ["X", "feature"]),
    (np.array([[1 + 1j, 0.5], [0.2, 0.3]]), ValueError, ["X", "omplex"]),
    (np.array([[True, False], [False, True]]), TypeError, ["X", "bool"]),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, ["X"]),
    ([["a", 1.0], [2.0, 3.0]], TypeError, ["X"]),
    ("not an array", (TypeError, ValueError), ["X"]),
], ids=["nan", "inf", "-inf", "1-D", "3-D", "no-samples", "no-features", "complex", "bool", "str",
        "mixed-str", "a-string"])
@pytest.mark.parametrize("cls", [Autoencoder, VariationalAutoencoder])
def test_bad_X_at_fit(cls, bad, exc, words):
    est = cls(epochs=1, loss="mse", output_activation="linear")
    with pytest.raises(exc) as info:
        est.fit(bad)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
    assert not hasattr(est, "model_")


def test_bad_X_at_transform_and_wrong_feature_count():
    X = unit_data(d=8)
    est = small_ae(n_components=3).fit(X)
    with pytest.raises(ValueError, match="finite"):
        est.transform(np.where(X > 0.5, np.nan, X))
    with pytest.raises(ValueError) as info:
        est.transform(X[:, :5])
    assert "8" in str(info.value) and "5" in str(info.value), str(info.value)
    with pytest.raises(ValueError) as info:
        est.score(np.hstack([X, X]))
    assert "8" in str(info.value) and "16" in str(info.value), str(info.value)
    with pytest.raises(ValueError) as info:
        est.inverse_transform(np.zeros((4, 2)))
    assert "codes" in str(info.value) and "3" in str(info.value) and "2" in str(info.value), str(info.value)
    with pytest.raises(ValueError, match="2-D"):
        est.transform(X[0])
    with pytest.raises(ValueError) as info:
        small_ae().fit(X, validation_data=X[:, :4])
    assert "validation_data" in str(info.value) and "4" in str(info.value)


def test_bce_needs_data_in_unit_interval():
    X = unit_data()
    with pytest.raises(ValueError, match="bce") as info:
        small_ae(loss="bce", output_activation="sigmoid").fit(X * 2.0)
    assert "X" in str(info.value)
    with pytest.raises(ValueError, match="bce"):
        small_ae(loss="bce", output_activation="sigmoid").fit(X - 0.5)
    with pytest.raises(ValueError, match="bce"):
        small_vae(loss="bce").fit(X + 1.0)
    # bce needs a sigmoid output.
    with pytest.raises(ValueError, match="output_activation"):
        small_ae(loss="bce", output_activation="linear").fit(X)
    small_ae(loss="bce", output_activation="sigmoid").fit(X)


@pytest.mark.parametrize("kwargs, name", [
    (dict(activation="swish"), "activation"),
    (dict(code_activation="swish"), "activation"),
    (dict(output_activation="swish"), "activation"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(optimizer=3), "optimizer"),
    (dict(loss="l2"), "loss"),
    (dict(loss="bce", output_activation="linear"), "loss"),
    (dict(n_components=0), "n_components"),
    (dict(n_components=-2), "n_components"),
    (dict(n_components=2.5), "n_components"),
    (dict(n_components=True), "n_components"),
    (dict(hidden_sizes=(4, 0)), "hidden_sizes"),
    (dict(hidden_sizes="4"), "hidden_sizes"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=1.5), "batch_size"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=-1), "epochs"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(learning_rate=float("inf")), "learning_rate"),
    (dict(learning_rate=True), "learning_rate"),
    (dict(learning_rate="0.01"), "learning_rate"),
    (dict(sparsity=("kl", 0.05)), "sparsity"),
    (dict(sparsity=("kl", 1.5, 3.0)), "sparsity"),
    (dict(sparsity=("kl", 0.0, 3.0)), "sparsity"),
    (dict(sparsity=("l1",)), "sparsity"),
    (dict(sparsity=("l1", -1.0)), "sparsity"),
    (dict(sparsity=("l2", 0.1)), "sparsity"),
    (dict(sparsity="kl"), "sparsity"),
    (dict(sparsity=()), "sparsity"),
    (dict(contractive=0.1, hidden_sizes=(6,)), "contractive"),
    (dict(contractive=-0.1, hidden_sizes=()), "contractive"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(dtype="int32"), "dtype"),
    (dict(dtype="float16"), "dtype"),
    (dict(random_state=-1), "random_state"),
    (dict(random_state="seed"), "random_state"),
    (dict(early_stopping=True, validation_fraction=0.0), "validation_fraction"),
    (dict(early_stopping=True, validation_fraction=1.0), "validation_fraction"),
    (dict(early_stopping=True, n_iter_no_change=0), "n_iter_no_change"),
])
def test_bad_hyperparameters_raise_naming_them(kwargs, name):
    est = small_ae(**kwargs)
    with pytest.raises((ValueError, TypeError)) as info:
        est.fit(unit_data())
    assert name in str(info.value), f"{name!r} not named in {str(info.value)!r}"
    assert not hasattr(est, "model_")


@pytest.mark.parametrize("kwargs, name", [
    (dict(activation="swish"), "activation"),
    (dict(output_activation="swish"), "activation"),
    (dict(loss="hinge"), "loss"),
    (dict(beta=-1.0), "beta"),
    (dict(n_components=0), "n_components"),
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(optimizer="lbfgs"), "optimizer"),
])
def test_bad_vae_hyperparameters(kwargs, name):
    est = small_vae(**kwargs)
    with pytest.raises((ValueError, TypeError)) as info:
        est.fit(unit_data())
    assert name in str(info.value), f"{name!r} not named in {str(info.value)!r}"


def test_numeric_hyperparameters_accept_numpy_scalars():
    # Grids built with NumPy (np.logspace, np.arange) hand NumPy scalars to set_params.
    X = unit_data()
    est = small_ae(n_components=np.int64(3), epochs=np.int32(2), batch_size=np.int64(16),
                   learning_rate=np.float32(1e-2), hidden_sizes=[np.int64(5)]).fit(X)
    assert est.transform(X).shape == (60, 3) and est.n_iter_ == 2
    small_vae(learning_rate=np.float32(1e-2)).fit(X)


def test_inputs_never_modified():
    X = unit_data()
    V = unit_data(n=20, seed=3)
    X32 = X.astype(np.float32)
    copies = (X.copy(), V.copy(), X32.copy())
    for est in (small_ae(noise=("masking", 0.5)), small_ae(noise=("gaussian", 0.3)),
                small_ae(noise=("salt_and_pepper", 0.3), sparsity=("l1", 1e-3)),
                small_ae(early_stopping=True), small_vae()):
        est.fit(X, validation_data=V)
        est.fit(X32)
        codes = est.transform(X)
        codes_copy = codes.copy()
        est.inverse_transform(codes)
        est.score(X)
        est.fit_transform(X)
        est.transform(X32)
        np.testing.assert_array_equal(codes, codes_copy)
        np.testing.assert_array_equal(X, copies[0])
        np.testing.assert_array_equal(V, copies[1])
        np.testing.assert_array_equal(X32, copies[2])
        assert X32.dtype == np.float32


# -- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["Autoencoder", "VariationalAutoencoder"])
def test_float32_option(make):
    X = unit_data()
    est = make(dtype="float32").fit(X)
    for key, value in est.model_.state_dict().items():
        assert value.dtype == np.float32, f"{key} is {value.dtype}"
    codes = est.transform(X)
    assert codes.dtype == np.float32
    assert est.inverse_transform(codes).dtype == np.float32
    assert np.isfinite(est.score(X)) and isinstance(est.score(X), float)
    # float32 training tracks float64 training closely for a few epochs.
    ref = make(dtype="float64").fit(X)
    np.testing.assert_allclose(codes, ref.transform(X), rtol=0, atol=1e-3)
    # float64 input to a float32 model and float32 input to a float64 model both work.
    assert ref.transform(X.astype(np.float32)).dtype == np.float64
    assert est.transform(X.astype(np.float64)).dtype == np.float32
    # Same seed, same float32 weights.
    assert_same_weights(est, make(dtype="float32").fit(X))


def test_float32_data_in_default_float64():
    X = unit_data().astype(np.float32)
    est = small_ae().fit(X)
    assert all(v.dtype == np.float64 for v in est.model_.state_dict().values())
    assert est.transform(X).dtype == np.float64
