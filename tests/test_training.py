"""Tests for tinyae.training: the fit loop, history, early stopping, callbacks,
verbosity, reproducibility, divergence handling, minibatches and memmaps.
"""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

import tinyae as ta
from tinyae import ops
from tinyae import functional as F
from tinyae.backend import available_backends, use_backend
from tinyae.models import AutoencoderModule, VAEModule
from tinyae.nn import Module, Parameter
from tinyae.optim import SGD, Adam
from tinyae.training import History, evaluate_terms, fit_module, iterate_minibatches


def data(n: int = 40, d: int = 6, seed: int = 0) -> np.ndarray:
    """Rank-2 data in [0, 1]: easy to compress to 2-3 components."""
    rng = np.random.default_rng(seed)
    return 0.5 + 0.2 * np.tanh(rng.standard_normal((n, 2)) @ rng.standard_normal((2, d)))


def penalised(seed: int = 0, **kwargs) -> AutoencoderModule:
    kwargs.setdefault("sparsity", ("l1", 0.01))
    kwargs.setdefault("contractive", 0.01)
    kwargs.setdefault("weight_decay", 1e-3)
    return AutoencoderModule(6, 3, rng=seed, **kwargs)


def fit(model: Module, X, seed: int = 0, lr: float = 0.01, **kwargs) -> History:
    kwargs.setdefault("epochs", 4)
    kwargs.setdefault("batch_size", 8)
    return fit_module(model, X, optimizer=Adam(model.parameters(), lr=lr), rng=np.random.default_rng(seed), **kwargs)


class Quadratic(Module):
    """loss = mean over the batch of (x - w)^2, one parameter: a loop with a known trajectory."""

    def __init__(self, w: float = 2.0) -> None:
        self.w = Parameter(np.array([w]))

    def loss_terms(self, X, rng=None):
        diff = X - self.w
        return {"reconstruction": (diff * diff).mean()}


# -- history -----------------------------------------------------------------------------------

def test_history_records_every_term_per_epoch():
    model = penalised()
    hist = fit(model, data(), epochs=5)
    terms = {"reconstruction", "sparsity", "contractive", "weight_decay"}
    assert set(hist.keys()) == terms | {"loss"}
    assert hist.epochs == [0, 1, 2, 3, 4]
    for key in hist.keys():
        assert len(hist[key]) == 5 and key in hist
        assert all(isinstance(v, float) and np.isfinite(v) for v in hist[key])
    for e in range(5):
        s = sum(hist[k][e] for k in terms)
        assert hist["loss"][e] == pytest.approx(s, rel=1e-12, abs=1e-15)
    assert hist.best_epoch is None and hist.stopped_early is False
    assert "epochs=5" in repr(hist)


def test_history_term_is_sample_weighted_mean_over_the_epoch():
    """With lr=0 the weights never move, so every epoch's term is the full-data value."""
    model = penalised()
    X = data(n=21)  # 21 = 8 + 8 + 5: unequal batches
    hist = fit_module(model, X, optimizer=SGD(model.parameters(), lr=0.0), epochs=2, batch_size=8,
                      rng=np.random.default_rng(0))
    full = model.loss_terms(ta.Tensor(X))
    # Reconstruction, L1 sparsity and contractive are means over samples: the
    # per-batch means weighted by batch size give the full-data mean.
    for key in ("reconstruction", "sparsity", "contractive"):
        assert hist[key][0] == pytest.approx(full[key].item(), rel=1e-12)
        assert hist[key][1] == pytest.approx(hist[key][0], rel=1e-12)  # other batches, same mean


def test_validation_adds_val_keys():
    model = penalised()
    X, V = data(seed=0), data(n=13, seed=1)
    hist = fit(model, X, validation_data=V, epochs=3)
    base = {"reconstruction", "sparsity", "contractive", "weight_decay", "loss"}
    assert set(hist.keys()) == base | {f"val_{k}" for k in base}
    for key in hist.keys():
        assert len(hist[key]) == 3
    for e in range(3):
        parts = sum(hist[f"val_{k}"][e] for k in base - {"loss"})
        assert hist["val_loss"][e] == pytest.approx(parts, rel=1e-12)
    # The last epoch's validation scores are those of the final model (no noise: eval mode).
    final = evaluate_terms(model, V, 8, np.random.default_rng(0))
    for key, value in final.items():
        assert hist[f"val_{key}"][-1] == pytest.approx(value, rel=1e-12)


def test_validation_is_scored_without_noise():
    model = AutoencoderModule(6, 3, noise=("masking", 0.5), rng=0)
    X = data()
    hist = fit(model, X, validation_data=X, epochs=1)
    assert model.training  # training mode restored after validation
    model.eval()
    clean = model.loss_terms(ta.Tensor(X))["reconstruction"].item()
    assert hist["val_reconstruction"][-1] == pytest.approx(clean, rel=1e-12)


def test_history_continues_when_passed_in():
    model = penalised()
    hist = fit(model, data(), epochs=2)
    hist = fit(model, data(), epochs=3, history=hist)
    assert hist.epochs == [0, 1, 2, 3, 4]
    assert len(hist["loss"]) == 5


# -- early stopping ----------------------------------------------------------------------------------

def test_early_stopping_known_trajectory():
    """SGD on mean (0 - w)^2 with lr 0.1 gives w = 2 * 0.8^(epoch+1): 1.6, 1.28, 1.024, 0.82, 0.66.
    The validation loss (1 - w)^2 is smallest after epoch 2; patience 2 stops after epoch 4
    and restores w = 1.024."""
    model = Quadratic(2.0)
    X, V = np.zeros((4, 1)), np.ones((3, 1))
    hist = fit_module(model, X, optimizer=SGD(model.parameters(), lr=0.1), epochs=50, batch_size=4,
                      rng=np.random.default_rng(0), validation_data=V, patience=2)
    assert hist.epochs == [0, 1, 2, 3, 4]
    assert hist.best_epoch == 2 and hist.stopped_early is True
    np.testing.assert_allclose(hist["val_loss"], (1 - 2 * 0.8 ** np.arange(1, 6)) ** 2, rtol=1e-12)
    assert model.w.data[0] == pytest.approx(2 * 0.8 ** 3, rel=1e-14)


def test_early_stopping_restores_the_state_of_the_best_epoch():
    model = penalised()
    states = []

    def record(epoch, logs, m):
        states.append(m.state_dict())

    X, V = data(seed=0), data(n=12, seed=3)
    # min_delta so large that no epoch after the first counts as an improvement.
    hist = fit(model, X, validation_data=V, patience=3, min_delta=1e6, epochs=20, callbacks=[record])
    assert hist.stopped_early and hist.best_epoch == 0
    assert len(hist.epochs) == len(states) == 4
    final = model.state_dict()
    for key in final:
        np.testing.assert_array_equal(final[key], states[hist.best_epoch][key])
    assert any(not np.array_equal(final[k], states[-1][k]) for k in final)


def test_early_stopping_monitors_training_loss_without_validation():
    model = penalised()
    states = []
    hist = fit(model, data(), patience=100, epochs=4, lr=0.01,
               callbacks=[lambda e, logs, m: states.append(m.state_dict())])
    # The training loss keeps falling: the last epoch is the best, no early stop.
    assert hist["loss"] == sorted(hist["loss"], reverse=True)
    assert hist.best_epoch == 3 and not hist.stopped_early
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, states[3][key])


# -- callbacks ---------------------------------------------------------------------------------------

def test_callbacks_all_called_and_true_stops():
    calls_a, calls_b = [], []

    def stopper(epoch, logs, model):
        calls_a.append(epoch)
        return epoch == 2

    def watcher(epoch, logs, model):
        calls_b.append((epoch, dict(logs), model))
        return "yes"  # not True: does not stop

    model = penalised()
    hist = fit(model, data(), epochs=10, callbacks=[stopper, watcher])
    assert calls_a == [0, 1, 2]
    assert [c[0] for c in calls_b] == [0, 1, 2]  # called even in the epoch where stopper said stop
    assert all(c[2] is model for c in calls_b)
    assert calls_b[-1][1]["loss"] == hist["loss"][-1]
    assert hist.epochs == [0, 1, 2] and not hist.stopped_early


def test_callback_returning_numpy_true_stops():
    hist = fit(penalised(), data(), epochs=10, callbacks=[lambda e, logs, m: np.float64(e) >= 1.0])
    assert hist.epochs == [0, 1]


def test_callback_returning_none_or_truthy_does_not_stop():
    hist = fit(penalised(), data(), epochs=3, callbacks=[lambda e, l, m: None, lambda e, l, m: 1])
    assert hist.epochs == [0, 1, 2]


# -- reproducibility ---------------------------------------------------------------------------------------

def run(kind: str, init_seed: int, fit_seed: int, X=None):
    X = data() if X is None else X
    if kind == "ae":
        model = penalised(init_seed)
    elif kind == "denoising":
        model = AutoencoderModule(6, 3, hidden_sizes=(4,), noise=("masking", 0.3), rng=init_seed)
    elif kind == "vae":
        model = VAEModule(6, 2, hidden_sizes=(5,), rng=init_seed)
    hist = fit_module(model, X, optimizer=Adam(model.parameters(), lr=0.01), epochs=3, batch_size=8,
                      rng=np.random.default_rng(fit_seed), validation_data=X[:10])
    return model.state_dict(), hist.history


CPU_BACKENDS = [b for b in ("numpy", "numba") if b in available_backends()]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", ["ae", "denoising", "vae"])
def test_same_seed_is_bit_identical(kind, backend):
    with use_backend(backend):
        s1, h1 = run(kind, 0, 1)
        s2, h2 = run(kind, 0, 1)
    assert h1 == h2  # exact float equality, every term and epoch
    assert s1.keys() == s2.keys()
    for key in s1:
        assert np.array_equal(s1[key], s2[key]), key


@pytest.mark.parametrize("kind", ["ae", "denoising", "vae"])
def test_different_seed_differs(kind):
    s1, h1 = run(kind, 0, 1)
    s2, h2 = run(kind, 0, 2)  # same initial weights, other shuffling / noise / eps
    s3, h3 = run(kind, 5, 1)  # other initial weights
    assert h1["loss"] != h2["loss"] and h1["loss"] != h3["loss"]
    assert any(not np.array_equal(s1[k], s2[k]) for k in s1)
    assert any(not np.array_equal(s1[k], s3[k]) for k in s1)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_memmap_gives_the_same_result(tmp_path, backend):
    X = data(n=30)
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_map = np.load(path, mmap_mode="r")
    assert isinstance(X_map, np.memmap)
    for kind in ("ae", "denoising"):
        with use_backend(backend):
            s1, h1 = run(kind, 0, 1, X=X)
            s2, h2 = run(kind, 0, 1, X=X_map)
        assert h1 == h2
        for key in s1:
            assert np.array_equal(s1[key], s2[key])


# -- verbosity ----------------------------------------------------------------------------------

def test_verbose_0_prints_nothing(capsys):
    fit(penalised(), data(), epochs=2, verbose=0, validation_data=data(n=5))
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_1_is_silent_when_stderr_is_not_a_tty(capsys):
    assert not sys.stderr.isatty()
    fit(penalised(), data(), epochs=2, verbose=1)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_1_shows_a_progress_bar_on_a_tty(monkeypatch, capsys):
    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    fit(penalised(), data(), epochs=2, verbose=1)
    assert "epochs" in fake.getvalue()
    assert capsys.readouterr().out == ""


def test_verbose_2_prints_one_line_per_epoch(capsys):
    fit(penalised(), data(), epochs=3, verbose=2, validation_data=data(n=5))
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 3 and err == ""
    for e, line in enumerate(lines):
        assert re.match(rf"epoch\s+{e}\b", line)
        assert "loss" in line and "val_loss" in line and "reconstruction" in line


# -- divergence ----------------------------------------------------------------------------------

def all_finite(model: Module) -> bool:
    return all(np.isfinite(p.to_numpy()).all() for p in model.parameters())


def test_absurd_learning_rate_raises_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6)) * 3
    model = AutoencoderModule(6, 3, hidden_sizes=(16,), activation="relu", output_activation="linear", rng=0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as info:
        fit_module(model, X, optimizer=SGD(model.parameters(), lr=1e6), epochs=50, batch_size=8,
                   rng=np.random.default_rng(1))
    msg = str(info.value)
    assert re.search(r"epoch \d+, step \d+", msg)
    assert "reconstruction" in msg
    assert all_finite(model)


@pytest.mark.parametrize("seed, hidden, loss, dtype, lr", [
    # Configurations where, when only the loss was checked, training stopped with a
    # FloatingPointError but left inf/nan weights in the model.
    (2, (32, 16, 8), "mse", np.float32, 1e6),
    (3, (16, 8), "mse", np.float32, 1e6),
    (4, (32, 16, 8), "bce", np.float32, 1e3),
    (5, (16, 8), "bce", np.float64, 1e10),
])
def test_diverging_relu_nets_never_end_with_nonfinite_weights(seed, hidden, loss, dtype, lr):
    X = np.random.default_rng(seed).random((64, 6))
    out = "sigmoid" if loss == "bce" else "linear"
    model = AutoencoderModule(6, 3, hidden_sizes=hidden, activation="relu", output_activation=out, loss=loss,
                              rng=seed, dtype=dtype)
    with np.errstate(all="ignore"):
        try:
            fit_module(model, X, optimizer=SGD(model.parameters(), lr=lr, momentum=0.9), epochs=20,
                       batch_size=8, rng=np.random.default_rng(1))
        except FloatingPointError as exc:
            assert re.search(r"epoch \d+, step \d+", str(exc))
    assert all_finite(model)


class DeadRelu(Module):
    """loss = 1e300 * relu(w): finite; one SGD step with lr 1e10 sends w to -inf, after which
    the loss is relu(-inf) = 0, still finite -- only a check of the weights catches it."""

    def __init__(self) -> None:
        self.w = Parameter(np.array([1.0]))

    def loss_terms(self, X, rng=None):
        return {"reconstruction": F.relu(self.w).sum() * 1e300}


def test_update_to_nonfinite_weight_is_caught_and_undone():
    model = DeadRelu()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as info:
        fit_module(model, np.zeros((4, 1)), optimizer=SGD(model.parameters(), lr=1e10), epochs=3,
                   batch_size=2, rng=np.random.default_rng(0))
    msg = str(info.value)
    assert "epoch 0, step 0" in msg and "'w'" in msg and "reconstruction" in msg
    assert model.w.data[0] == 1.0  # the weights before the bad step


class LogPenalty(Module):
    """Two terms, a = w^2 and b = log(w); b becomes nan once w < 0."""

    def __init__(self) -> None:
        self.w = Parameter(np.array([0.5]))

    def loss_terms(self, X, rng=None):
        return {"a": (self.w * self.w).sum(), "b": ops.log(self.w).sum()}


def test_nonfinite_loss_names_epoch_step_and_term():
    # d(a + b)/dw = 2w + 1/w = 3 at w = 0.5; lr 1 gives w = -2.5, where log(w) is nan.
    model = LogPenalty()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as info:
        fit_module(model, np.zeros((4, 1)), optimizer=SGD(model.parameters(), lr=1.0), epochs=3,
                   batch_size=2, rng=np.random.default_rng(0))
    msg = str(info.value)
    assert "epoch 0, step 1" in msg
    assert "['b']" in msg  # only the offending term
    assert model.w.data[0] == pytest.approx(-2.5)
    assert all_finite(model)


# -- minibatches --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, batch_size", [(23, 5), (20, 5), (3, 10), (1, 1)])
def test_iterate_minibatches_covers_every_index_once(n, batch_size):
    rng = np.random.default_rng(0)
    for epoch_rng in (rng, None):
        batches = list(iterate_minibatches(n, batch_size, epoch_rng))
        assert [len(b) for b in batches] == [min(batch_size, n - s) for s in range(0, n, batch_size)]
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))
    np.testing.assert_array_equal(np.concatenate(list(iterate_minibatches(n, batch_size, None))), np.arange(n))


def test_iterate_minibatches_shuffles_differently_each_epoch():
    rng = np.random.default_rng(0)
    a = np.concatenate(list(iterate_minibatches(50, 7, rng)))
    b = np.concatenate(list(iterate_minibatches(50, 7, rng)))
    assert not np.array_equal(a, np.arange(50)) and not np.array_equal(a, b)


# -- it learns ---------------------------------------------------------------------------------------------

def test_training_reduces_the_loss():
    X = data(n=80)
    model = AutoencoderModule(6, 2, activation="linear", output_activation="linear", rng=0)
    before = model.loss_terms(ta.Tensor(X))["reconstruction"].item()
    hist = fit_module(model, X, optimizer=Adam(model.parameters(), lr=0.02), epochs=60, batch_size=16,
                      rng=np.random.default_rng(0))
    after = model.loss_terms(ta.Tensor(X))["reconstruction"].item()
    assert after < 0.1 * before
    assert hist["loss"][-1] < 0.2 * hist["loss"][0]
    # A linear autoencoder with 2 components approaches PCA's rank-2 error.
    Xc = X - X.mean(axis=0)
    s = np.linalg.svd(Xc, compute_uv=False)
    pca_error = np.sum(s[2:] ** 2) / X.size
    assert after < pca_error + 0.05 * before
