"""Reliability: validation at every public entry point (conventional exceptions whose
messages name the argument, what was expected and what was received), divergence,
determinism per backend, the health metrics in the history, and the command line's
exit codes. Companion files: test_fuzz.py (hostile inputs), test_checkpoint.py,
test_memmap.py. docs/reliability.md describes what these tests guarantee.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinyae as ta
from tinyae import functional as F
from tinyae import ops
from tinyae.backend import available_backends, current_backend, set_backend, use_backend
from tinyae.base import validate_X
from tinyae.cli import main
from tinyae.datasets.images import load_digits
from tinyae.datasets.spectra import generate_spectra, peak_spectra
from tinyae.models import AutoencoderModule, VAEModule
from tinyae.nn import Dense, Module, Parameter, TiedDense
from tinyae.optim import SGD, Adam
from tinyae.training import fit_module

CPU_BACKENDS = [b for b in ("numpy", "numba") if b in available_backends()]


def unit_data(n: int = 40, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.5 + 0.25 * np.tanh(rng.standard_normal((n, 2)) @ rng.standard_normal((2, d)))


def small_ae(**kwargs) -> ta.Autoencoder:
    params = dict(n_components=2, hidden_sizes=(4,), epochs=3, batch_size=8, random_state=0)
    params.update(kwargs)
    return ta.Autoencoder(**params)


def small_vae(**kwargs) -> ta.VariationalAutoencoder:
    params = dict(n_components=2, hidden_sizes=(4,), epochs=3, batch_size=8, random_state=0)
    params.update(kwargs)
    return ta.VariationalAutoencoder(**params)


# -- Tensor construction ------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    (np.array(["a", "b"]), "expected a real numeric dtype .* got dtype <U1"),
    (np.array([1, None], dtype=object), "got dtype object"),
    (np.array([True]), "got dtype bool"),
    (True, "expected numbers, got booleans"),
    ([[1.0, True]], "expected numbers, got booleans"),
    (np.array([1 + 2j]), "got dtype complex128"),
    (np.ones(2, dtype=np.float16), "expected float32 or float64, got float16"),
    (np.array(["2024-01-01"], dtype="datetime64[D]"), "got dtype datetime64"),
    ([[1.0, 2.0], [3.0]], "expected a numeric array-like, got list"),
    (None, "got dtype object"),
    ("text", "got dtype <U4"),
    ({"a": 1}, "got dtype object"),
    (10 ** 400, "got dtype object"),
])
def test_tensor_rejects_non_numeric_data(value, words):
    with pytest.raises(TypeError, match=r"^data: .*" + words):
        ta.Tensor(value)


@pytest.mark.parametrize("dtype", ["int32", "garbage", object, "float16", np.complex64])
def test_tensor_rejects_bad_dtype_naming_it(dtype):
    with pytest.raises(TypeError, match=r"^dtype: expected float32 or float64"):
        ta.Tensor([1.0], dtype=dtype)


def test_tensor_requires_grad_must_be_bool():
    with pytest.raises(TypeError, match="^requires_grad: expected bool, got str"):
        ta.Tensor([1.0], requires_grad="yes")


def test_tensors_hold_non_finite_values():
    """NaN and inf are legitimate values of an autodiff array (e.g. to test a
    divergence check); data are checked at the estimator, dataset and CLI entry points."""
    t = ta.Tensor([np.nan, np.inf, -np.inf, 1.0], requires_grad=True)
    (t * 2.0).sum().backward()
    assert np.array_equal(t.grad, [2.0, 2.0, 2.0, 2.0])
    assert np.isnan(t.data[0]) and np.isinf(t.data[1])


def test_integers_become_float64_exactly():
    t = ta.Tensor(np.array([2 ** 53, -3], dtype=np.int64))
    assert t.dtype == np.float64 and t.data[0] == 2.0 ** 53


# -- ops, layers and losses ---------------------------------------------------------------------

def test_ops_with_mismatched_shapes_raise_value_error():
    a, b = ta.Tensor(np.ones((3, 4))), ta.Tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match="could not be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ, got shapes \(3, 4\) and \(2, 4\)"):
        a @ b


@pytest.mark.skipif(len(CPU_BACKENDS) < 2, reason="needs two CPU backends")
def test_ops_on_two_backends_raise_type_error():
    with use_backend("numpy"):
        a = ta.Tensor(np.ones(3))
    with use_backend("numba"):
        b = ta.Tensor(np.ones(3))
    with pytest.raises(TypeError, match="one backend"):
        a + b
    with pytest.raises(TypeError, match="one backend"):
        F.mse_loss(a, b)


def test_dense_wrong_feature_count_names_x_and_n_in():
    layer = Dense(4, 2, rng=0)
    with pytest.raises(ValueError, match=r"^X: expected shape \(n_samples, 4\) for Dense with n_in=4, got shape \(5, 3\)"):
        layer(ta.Tensor(np.ones((5, 3))))
    with pytest.raises(ValueError, match=r"^X: expected shape \(n_samples, 4\).*got shape \(4,\)"):
        layer(ta.Tensor(np.ones(4)))
    with pytest.raises(TypeError, match=r"^X: expected a Tensor of shape \(n_samples, 4\), got ndarray"):
        layer(np.ones((5, 4)))
    tied = TiedDense(layer)
    with pytest.raises(ValueError, match=r"^X: expected shape \(n_samples, 2\) for TiedDense"):
        tied(ta.Tensor(np.ones((5, 4))))


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(n_in=0, n_out=2), ValueError, "n_in: expected a positive integer, got 0"),
    (dict(n_in=2.0, n_out=2), ValueError, "n_in: expected a positive integer, got 2.0"),
    (dict(n_in=True, n_out=2), ValueError, "n_in: expected a positive integer, got True"),
    (dict(n_in=2, n_out=-1), ValueError, "n_out: expected a positive integer, got -1"),
    (dict(n_in=2, n_out="3"), ValueError, "n_out: expected a positive integer, got '3'"),
    (dict(n_in=2, n_out=2, activation="swish"), ValueError, "activation: expected one of"),
    (dict(n_in=2, n_out=2, activation=None), ValueError, "activation: expected one of"),
    (dict(n_in=2, n_out=2, init="zeros"), ValueError, "init: expected one of"),
    (dict(n_in=2, n_out=2, bias="no"), TypeError, "bias: expected True or False, got str 'no'"),
    (dict(n_in=2, n_out=2, rng="seed"), TypeError, "rng: expected None, a non-negative int seed"),
    (dict(n_in=2, n_out=2, rng=-1), TypeError, "rng: expected None, a non-negative int seed"),
    (dict(n_in=2, n_out=2, dtype="int32"), TypeError, "dtype: expected float32 or float64, got int32"),
    (dict(n_in=2, n_out=2, dtype="garbage"), TypeError, "dtype: expected float32 or float64, got 'garbage'"),
])
def test_dense_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match="^" + re.escape(words)):
        Dense(**kwargs)


def test_tied_dense_needs_a_dense_layer():
    with pytest.raises(TypeError, match="^encoder: expected a Dense layer, got str"):
        TiedDense("W")


@pytest.mark.parametrize("loss", [F.mse_loss, F.binary_cross_entropy_with_logits])
def test_losses_check_shapes_reduction_and_target_type(loss):
    x = ta.Tensor(np.zeros((4, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"^target: expected shape \(4, 3\) \(the input's\), got \(4, 1\)"):
        loss(x, np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"^target: expected shape \(4, 3\)"):
        loss(x, np.zeros(3))  # would broadcast silently
    with pytest.raises(ValueError, match="^reduction: expected 'mean', 'sum' or 'none', got 'avg'"):
        loss(x, np.zeros((4, 3)), reduction="avg")
    with pytest.raises(TypeError, match="^data: expected a real numeric dtype"):
        loss(x, np.array([["a"] * 3] * 4))


# -- estimators ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["ae", "vae"])
@pytest.mark.parametrize("bad, exc, words", [
    (np.full((5, 6), np.nan), ValueError, r"X: expected finite values, got 30 NaN or infinity entries"),
    (np.array([[0.5] * 5 + [np.inf]] * 4), ValueError, r"X: expected finite values, got 4 NaN"),
    (np.ones(6) * 0.5, ValueError, r"X: expected a 2-D array of shape \(n_samples, n_features\), got 1-D shape \(6,\)"),
    (np.ones((2, 3, 6)) * 0.5, ValueError, r"X: expected a 2-D array .* got 3-D"),
    (np.float64(0.5), ValueError, r"X: expected a 2-D array .* got 0-D"),
    (np.ones((0, 6)), ValueError, r"X: expected at least 1 sample, got 0"),
    (np.ones((3, 0)), ValueError, r"X: expected at least 1 feature, got 0"),
    (np.array([["a", "b"]]), TypeError, r"X: expected numeric values, got dtype <U1"),
    (np.ones((3, 6), dtype=bool), TypeError, r"X: expected numbers, got booleans"),
    (np.ones((3, 6), dtype=complex), ValueError, r"X: expected real numbers, got dtype complex128"),
    (np.zeros((3, 6), dtype="datetime64[s]"), TypeError, r"X: expected a numeric dtype, got datetime64\[s\]"),
    ([[0.5, 0.5], [0.5]], TypeError, r"X: expected a numeric array, got list"),
    ([[10 ** 400]], ValueError, r"X: expected numbers that fit float64, got a value too large"),
])
def test_bad_X_at_fit(make, bad, exc, words):
    with pytest.raises(exc, match="^" + words):
        make().fit(bad)


def test_float32_overflow_is_named_as_such():
    with pytest.raises(ValueError, match=r"^X: expected values that fit float32, got 2 entries that overflow it "
                                         r"\(largest \|value\| 1e\+300\)"):
        small_ae(dtype="float32").fit(np.array([[1e300, 1.0], [-1e300, 0.0]]))


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["ae", "vae"])
def test_bad_X_after_fit_names_the_argument(make):
    est = make().fit(unit_data())
    with pytest.raises(ValueError, match=r"^X: expected 6 features, got 5"):
        est.transform(unit_data(d=5))
    with pytest.raises(ValueError, match=r"^X: expected finite values"):
        est.score(np.full((3, 6), np.nan))
    with pytest.raises(ValueError, match=r"^codes: expected 2 features, got 6"):
        est.inverse_transform(unit_data())
    with pytest.raises(ValueError, match=r"^codes: expected finite values"):
        est.inverse_transform(np.array([[np.inf, 0.0]]))
    with pytest.raises(ValueError, match=r"^validation_data: expected 6 features, got 5"):
        make().fit(unit_data(), validation_data=unit_data(d=5))
    with pytest.raises(ValueError, match=r"^X: expected 6 features, got 5"):
        est.resume_fit(unit_data(d=5), epochs=1)


def test_results_that_would_overflow_raise_instead_of_returning_nan():
    est = small_ae(hidden_sizes=()).fit(unit_data())
    est.model_.encoder[0].W.data[...] = 1.0  # code = sum of the features: 6e307 * 6 overflows
    with np.errstate(all="ignore"):
        with pytest.raises(ValueError, match=r"^X: row 1 gives a non-finite result: its values \(largest \|value\| "
                                             r"in rows 0\.\.1: 6e\+307\) overflow the model's float64 arithmetic"):
            est.transform(np.array([[1.0] * 6, [6e307] * 6]))
        with pytest.raises(ValueError, match=r"^X: the score is .* \(not finite\)"):
            est.score(np.full((2, 6), 6e307))


@pytest.mark.parametrize("make", [small_ae, small_vae], ids=["ae", "vae"])
def test_unfitted_methods_raise_not_fitted(make, tmp_path):
    est = make()
    for call in (lambda: est.transform(unit_data()), lambda: est.inverse_transform(np.zeros((2, 2))),
                 lambda: est.score(unit_data()), lambda: est.reconstruct(unit_data()),
                 lambda: est.resume_fit(unit_data()), lambda: est.save(tmp_path / "m.npz")):
        with pytest.raises(ta.NotFittedError, match=f"This {type(est).__name__} instance is not fitted yet"):
            call()
    if isinstance(est, ta.VariationalAutoencoder):
        with pytest.raises(ta.NotFittedError):
            est.sample(2)


@pytest.mark.parametrize("kwargs, words", [
    (dict(batch_size=0), "batch_size: expected a positive integer, got 0"),
    (dict(batch_size=-3), "batch_size: expected a positive integer, got -3"),
    (dict(batch_size=2.5), "batch_size: expected a positive integer, got 2.5"),
    (dict(epochs=None), "epochs: expected a positive integer, got None"),
    (dict(n_components="2"), "n_components: expected a positive integer, got '2'"),
    (dict(hidden_sizes=[4, 0]), "hidden_sizes: expected a positive integer, got 0"),
    (dict(learning_rate=float("nan")), "learning_rate: expected a positive finite number, got nan"),
    (dict(tol=None), "tol: expected a finite number >= 0, got None"),
    (dict(tol="small"), "tol: expected a finite number >= 0, got 'small'"),
    (dict(contractive=-1.0), "contractive: expected a finite number >= 0, got -1.0"),
    (dict(weight_decay=float("inf")), "weight_decay: expected a finite number >= 0, got inf"),
    (dict(verbose="loud"), "verbose: expected an integer >= 0, got 'loud'"),
    (dict(verbose=-1), "verbose: expected an integer >= 0, got -1"),
    (dict(callbacks=5), "callbacks: expected None or a list of callables"),
    (dict(callbacks=print), "callbacks: expected None or a list of callables"),
    (dict(callbacks=[print, 3]), "callbacks: expected None or a list of callables"),
    (dict(tied_weights="yes"), "tied_weights: expected True or False, got 'yes'"),
    (dict(early_stopping=1), "early_stopping: expected True or False, got 1"),
    (dict(early_stopping=True, validation_fraction=None), "validation_fraction: expected a number in (0, 1)"),
    (dict(activation=None), "activation: expected one of"),
    (dict(code_activation="swish"), "code_activation: expected one of"),
    (dict(noise="masking"), "noise: spec: expected None, (kind, level)"),
    (dict(noise=("masking", 2.0)), "noise: level (fraction): expected a fraction in [0, 1], got 2.0"),
    (dict(sparsity=("l1", None)), "sparsity: expected ('l1', weight >= 0)"),
    (dict(sparsity=("kl", 0.1)), "sparsity: expected ('l1', weight) or ('kl', rho, beta)"),
    (dict(dtype="float16"), "dtype: expected 'float32' or 'float64', got 'float16'"),
    (dict(random_state=-1), "random_state: expected None, a non-negative int or a numpy Generator, got -1"),
    (dict(optimizer="lbfgs"), "optimizer: expected one of ['adam', 'adamw', 'sgd'], got 'lbfgs'"),
])
def test_bad_hyperparameters_raise_value_error_naming_them(kwargs, words):
    X = unit_data()
    with pytest.raises((ValueError, TypeError), match="^" + re.escape(words)):
        small_ae(**kwargs).fit(X)


@pytest.mark.parametrize("kwargs, words", [
    (dict(beta=None), "beta: expected a finite number >= 0, got None"),
    (dict(beta=-1.0), "beta: expected a finite number >= 0, got -1.0"),
    (dict(output_activation="relu", loss="bce"), "loss: 'bce' needs output_activation='sigmoid'"),
])
def test_bad_vae_hyperparameters(kwargs, words):
    with pytest.raises(ValueError, match="^" + re.escape(words)):
        small_vae(**kwargs).fit(unit_data())


@pytest.mark.skipif(len(CPU_BACKENDS) < 2, reason="needs two CPU backends")
def test_a_fitted_estimator_keeps_its_backend():
    """Fitted on NumPy and used while Numba is current: the model's own backend computes."""
    X = unit_data()
    with use_backend("numpy"):
        est = small_ae().fit(X)
        codes = est.transform(X)
    with use_backend("numba"):
        assert np.array_equal(est.transform(X), codes)
        assert est.model_.parameters()[0].backend.name == "numpy"


def test_inputs_are_never_modified():
    X = unit_data()
    X32 = X.astype(np.float32)
    copies = (X.copy(), X32.copy())
    for make in (small_ae, small_vae):
        est = make(noise=("masking", 0.5)) if make is small_ae else make()
        est.fit(X, validation_data=X32)
        est.transform(X32)
        est.score(X)
        codes = est.transform(X)
        codes_copy = codes.copy()
        est.inverse_transform(codes)
        est.resume_fit(X, epochs=1)
        assert np.array_equal(codes, codes_copy)
    assert np.array_equal(X, copies[0]) and np.array_equal(X32, copies[1])


# -- datasets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, exc, words", [
    (lambda: peak_spectra(0), ValueError, "n_samples: expected an integer >= 1, got 0"),
    (lambda: peak_spectra(2.5), ValueError, "n_samples: expected an integer >= 1, got 2.5"),
    (lambda: peak_spectra(True), ValueError, "n_samples: expected an integer >= 1, got True"),
    (lambda: peak_spectra(3, n_bins=1), ValueError, "n_bins: expected an integer >= 2, got 1"),
    (lambda: peak_spectra(3, noise=-1.0), ValueError, "noise: expected a finite number >= 0.0, got -1.0"),
    (lambda: peak_spectra(3, noise="x"), TypeError, "noise: expected a number, got str 'x'"),
    (lambda: peak_spectra(3, e_range=(5, 1)), ValueError, "e_range: expected low < high, got (5, 1)"),
    (lambda: peak_spectra(3, e_range="ab"), TypeError, "e_range: expected a (low, high) pair, got 'ab'"),
    (lambda: peak_spectra(3, random_state="x"), ValueError, "random_state: expected None, a non-negative int"),
    (lambda: generate_spectra(None, progress=False), ValueError, "n_samples: expected an integer >= 1, got None"),
    (lambda: generate_spectra(1, kind="3d", progress=False), ValueError, "kind: expected '2d', '1d' or 'both', got '3d'"),
    (lambda: generate_spectra(1, q_bins=0, progress=False), ValueError, "q_bins: expected an integer >= 1, got 0"),
    (lambda: generate_spectra(1, n_jobs=0, progress=False), ValueError, "n_jobs: expected a positive int or -1, got 0"),
    (lambda: generate_spectra(1, elements=["Xx"], progress=False), ValueError, "elements: unknown element symbol 'Xx'"),
    (lambda: load_digits(scale="yes"), TypeError, "scale: expected a bool, got str 'yes'"),
    (lambda: load_digits(return_X_y=None), TypeError, "return_X_y: expected a bool, got NoneType None"),
])
def test_dataset_arguments_are_validated(call, exc, words):
    with pytest.raises(exc, match="^" + re.escape(words)):
        call()


# -- divergence ---------------------------------------------------------------------------------

class BlowsUpAtStep(Module):
    """Two terms; ``kl`` becomes NaN at the 5th call. Records the weights each call sees."""

    def __init__(self) -> None:
        self.w = Parameter(np.array([1.0, -2.0]))
        self.calls, self.seen = 0, []

    def loss_terms(self, X, rng=None):
        self.calls += 1
        self.seen.append(self.w.data.copy())
        diff = X - self.w
        kl = (self.w * self.w).sum() * (np.nan if self.calls == 5 else 1.0)
        return {"reconstruction": (diff * diff).mean(), "kl": kl}


def test_divergence_names_epoch_step_and_term_and_keeps_the_last_finite_weights():
    model = BlowsUpAtStep()
    X = np.arange(12.0).reshape(6, 2) / 10
    with pytest.raises(FloatingPointError, match=r"^training diverged at epoch 1, step 1: loss term\(s\) \['kl'\] "
                                                 r"became nan; the model keeps the weights of the last finite step"):
        fit_module(model, X, optimizer=Adam(model.parameters(), lr=0.1), epochs=4, batch_size=2,
                   rng=np.random.default_rng(0))
    # 3 steps per epoch: the 5th call is epoch 1, step 1; its weights are the last finite ones.
    assert np.array_equal(model.w.data, model.seen[-1])
    assert not np.array_equal(model.seen[-1], model.seen[-2])  # they did move until then


def test_estimator_divergence_leaves_a_usable_finite_model():
    X = unit_data()
    est = small_ae(learning_rate=1e300, optimizer="sgd", epochs=5)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"training diverged at epoch \d+, step \d+"):
        est.fit(X)
    assert all(np.isfinite(p.to_numpy()).all() for p in est.model_.parameters())


def test_divergence_on_huge_data_suggests_rescaling():
    X = np.full((8, 3), 1e200)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError,
                                                  match=r"the batch's largest \|value\| is 1e\+200: rescale the data"):
        small_ae(hidden_sizes=()).fit(X)


def test_save_never_writes_non_finite_weights(tmp_path):
    est = small_ae().fit(unit_data())
    est.model_.parameters()[-1].data[...] = np.inf
    with pytest.raises(ValueError, match="is not finite; refusing to write a checkpoint"):
        est.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


# -- determinism per backend --------------------------------------------------------------------

DETERMINISM = {
    "ae_masking": lambda: small_ae(noise=("masking", 0.3), epochs=4),
    "ae_kl_tied": lambda: small_ae(code_activation="sigmoid", sparsity=("kl", 0.1, 1.0), tied_weights=True,
                                   hidden_sizes=(), epochs=4),
    "vae": lambda: small_vae(epochs=4),
}


def fitted_state(name: str, backend: str):
    X = unit_data(n=50)
    with use_backend(backend):
        est = DETERMINISM[name]().fit(X)
        return est.model_.state_dict(), est.history_.history, est.transform(X)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", sorted(DETERMINISM))
def test_same_seed_same_bits_run_to_run(name, backend):
    s1, h1, c1 = fitted_state(name, backend)
    s2, h2, c2 = fitted_state(name, backend)
    assert h1 == h2
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert np.array_equal(c1, c2)


@pytest.mark.skipif(len(CPU_BACKENDS) < 2, reason="needs NumPy and Numba")
@pytest.mark.parametrize("name", sorted(DETERMINISM))
def test_numba_matches_numpy_within_float_tolerance(name):
    s_np, h_np, c_np = fitted_state(name, "numpy")
    s_nb, h_nb, c_nb = fitted_state(name, "numba")
    for key in s_np:
        np.testing.assert_allclose(s_nb[key], s_np[key], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h_nb["loss"], h_np["loss"], rtol=1e-9)
    np.testing.assert_allclose(c_nb, c_np, rtol=1e-9, atol=1e-12)


# -- health metrics -----------------------------------------------------------------------------

def test_dead_relu_code_counts_every_unit_dead():
    X = unit_data(n=32)
    model = AutoencoderModule(6, 3, code_activation="relu", activation="relu", output_activation="linear", rng=0)
    model.encoder[0].b.data[...] = -1e6  # every code unit outputs 0 for every sample
    hist = fit_module(model, X, optimizer=SGD(model.parameters(), lr=1e-3), epochs=2, batch_size=32,
                      rng=np.random.default_rng(0))
    assert hist["dead_units"] == [3.0, 3.0]
    assert hist["mean_activation"] == [0.0, 0.0]
    assert hist["grad_norm/encoder.layers.0.W"] == [0.0, 0.0]  # no gradient flows through dead units
    assert hist["grad_norm/encoder.layers.0.b"] == [0.0, 0.0]
    assert all(v > 0 for v in hist["grad_norm/decoder.layers.0.b"])
    assert "sparsity_target" not in hist
    assert set(hist.keys()) == {"reconstruction", "loss"}  # keys(): the loss terms only


def test_health_metrics_equal_an_independent_computation():
    X = unit_data(n=24)
    model = AutoencoderModule(6, 3, hidden_sizes=(5,), activation="tanh", code_activation="sigmoid",
                              output_activation="linear", sparsity=("kl", 0.05, 2.0), rng=1)
    twin = AutoencoderModule(6, 3, hidden_sizes=(5,), activation="tanh", code_activation="sigmoid",
                             output_activation="linear", sparsity=("kl", 0.05, 2.0), rng=1)
    # One step per epoch (batch = all rows): the gradient is that of the initial weights on X.
    terms = twin.loss_terms(ta.Tensor(X))
    sum(terms.values(), ta.Tensor(0.0)).backward()
    expected = {name: float(np.linalg.norm(p.grad)) for name, p in twin.named_parameters()}
    hist = fit_module(model, X, optimizer=Adam(model.parameters(), lr=0.01), epochs=1, batch_size=24,
                      rng=np.random.default_rng(0))
    for name, value in expected.items():
        assert hist[f"grad_norm/{name}"][0] == pytest.approx(value, rel=1e-12), name
    code = model.encode(ta.Tensor(X)).data  # after the step, in eval mode: what the metric saw
    assert hist["mean_activation"][0] == pytest.approx(code.mean(), rel=1e-12)
    assert hist["dead_units"][0] == float(((code.max(0) - code.min(0)) == 0).sum()) == 0.0
    assert hist["sparsity_target"] == [0.05]


def test_vae_health_uses_the_posterior_mean():
    X = unit_data(n=30)
    model = VAEModule(6, 2, hidden_sizes=(4,), rng=0)
    model.encoder[0].b.data[...] = -1e6  # dead ReLU hidden layer: mu = its bias for every input
    hist = fit_module(model, X, optimizer=SGD(model.parameters(), lr=1e-3), epochs=1, batch_size=10,
                      rng=np.random.default_rng(0))
    assert hist["dead_units"] == [2.0]
    model.encoder[0].b.data[...] = 0.0
    hist = fit_module(model, X, optimizer=SGD(model.parameters(), lr=1e-3), epochs=1, batch_size=10,
                      rng=np.random.default_rng(0))
    assert hist["dead_units"] == [0.0]


def test_estimator_history_has_health_and_verbose_2_prints_dead_units(capsys):
    est = small_ae(verbose=2, epochs=2).fit(unit_data())
    names = [f"grad_norm/{n}" for n, _ in est.model_.named_parameters()]
    assert set(est.history_.health) == {"dead_units", "mean_activation", *names}
    assert all(len(v) == 2 for v in est.history_.health.values())
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all("dead_units" in line for line in out)


# -- command line -------------------------------------------------------------------------------

@pytest.fixture
def cli(capsys):
    """Run ``main(argv)``; return (exit code, stdout, stderr), restoring the backend."""
    def run(*argv):
        before = current_backend().name
        try:
            rc = main([str(a) for a in argv])
        finally:
            set_backend(before)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return rc, out, err
    return run


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, unit_data())
    return path


def test_cli_round_trip(cli, tmp_path, data_file):
    rc, out, _ = cli("train", data_file, "--n-components", 2, "--epochs", 2, "--verbose", 0,
                     "--out", tmp_path / "m.npz")
    assert rc == 0 and "trained Autoencoder for 2 epochs" in out
    assert cli("encode", tmp_path / "m.npz", data_file, "--out", tmp_path / "c.npy")[0] == 0
    assert cli("decode", tmp_path / "m.npz", tmp_path / "c.npy", "--out", tmp_path / "r.npy")[0] == 0
    assert np.load(tmp_path / "r.npy").shape == (40, 6)


@pytest.mark.parametrize("argv, words", [
    (("train", "{tmp}/missing.npy"), r"^tinyae: error: data: file '.*missing.npy' does not exist"),
    (("train", "{data}", "--epochs", "x"), r"argument --epochs: invalid int value: 'x'"),
    (("train", "{data}", "--epochs", "0"), r"^tinyae train: error: epochs: expected a positive integer, got 0"),
    (("train", "{data}", "--hidden", "a,b"), r"argument --hidden: expected comma-separated integers"),
    (("train", "{data}", "--noise", "blur:1"), r"noise: kind: expected one of"),
    (("train", "{data}", "--out", "{tmp}/no/m.npz"), r"^tinyae: error: --out: folder '.*no' does not exist"),
    (("train", "{tmp}", "--out", "{tmp}/m.npz"), r"^tinyae: error: data: expected a file"),
    (("encode", "{data}", "{data}", "--out", "{tmp}/c.npy"), r"path: .* holds a single .npy array"),
    (("encode", "{tmp}/missing.npz", "{data}", "--out", "{tmp}/c.npy"), r"^tinyae: error: model: file"),
    (("encode", "{data}", "{data}"), r"the following arguments are required: --out"),
    (("bogus",), r"invalid choice: 'bogus'"),
    (("--backend", "fortran", "gradcheck"), r"argument --backend: invalid choice: 'fortran'"),
])
def test_cli_errors_exit_2_with_one_line_and_no_traceback(cli, tmp_path, data_file, argv, words):
    argv = [a.format(tmp=tmp_path, data=data_file) for a in argv]
    rc, out, err = cli(*argv)
    assert rc == 2
    assert re.search(words, err.strip().splitlines()[-1]), err


def test_cli_bad_config_and_bad_data(cli, tmp_path, data_file):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"callbacks": 5}')
    rc, _, err = cli("train", data_file, "--config", cfg, "--out", tmp_path / "m.npz")
    assert rc == 2 and "callbacks: expected None or a list of callables" in err
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((4, 3), np.nan))
    rc, _, err = cli("train", nan, "--out", tmp_path / "m.npz")
    assert rc == 2 and "X: expected finite values" in err
    csv = tmp_path / "bad.csv"
    csv.write_text("1,2\n3,x\n")
    rc, _, err = cli("train", csv, "--out", tmp_path / "m.npz")
    assert rc == 2 and "tinyae: error: data: could not read" in err
    assert not (tmp_path / "m.npz").exists()


def test_cli_divergence_exits_1(cli, tmp_path, data_file):
    with np.errstate(all="ignore"):
        rc, _, err = cli("train", data_file, "--learning-rate", "1e300", "--epochs", 5, "--verbose", 0,
                         "--out", tmp_path / "m.npz")
    assert rc == 1 and "error: training diverged at epoch" in err
    assert not (tmp_path / "m.npz").exists()


def test_cli_help_and_no_command_exit_0(cli):
    assert cli("--help")[0] == 0
    assert cli()[0] == 0
