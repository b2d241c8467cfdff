"""The training loop: minibatches, validation, early stopping, callbacks, history.

Works with any module that has ``loss_terms(X, rng) -> dict[str, Tensor]``
(every model in :mod:`tinyae.models`); the loss minimised is the sum of
the terms, and the history records each term per epoch.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

from tinyae.nn.module import Module
from tinyae.optim import Optimizer
from tinyae.tensor import Tensor, as_tensor, no_grad

__all__ = ["History", "fit_module", "evaluate_terms", "iterate_minibatches"]

Callback = Callable[[int, dict, Module], Any]


class History:
    """Per-epoch records of every loss term.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (the total) and each term (e.g. ``"reconstruction"``,
        ``"sparsity"``), plus ``"val_..."`` versions when validating.
    epochs : list of int
    best_epoch : int or None
        The epoch whose weights were kept by early stopping.
    stopped_early : bool
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.best_epoch: int | None = None
        self.stopped_early = False

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self) -> Iterable[str]:
        return self.history.keys()

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epochs)}, last={last})"


def iterate_minibatches(n_samples: int, batch_size: int, rng: np.random.Generator | None) -> Iterable[np.ndarray]:
    """Index arrays of one epoch; shuffled by ``rng`` (in order when ``rng`` is None)."""
    order = rng.permutation(n_samples) if rng is not None else np.arange(n_samples)
    for start in range(0, n_samples, batch_size):
        yield order[start:start + batch_size]


def _as_batch(X: Any, idx: np.ndarray | slice, like: Tensor) -> Tensor:
    # Fancy-indexing a memmap reads only the selected rows.
    return as_tensor(like.backend.xp.asarray(X[idx], dtype=like.dtype), like=like)


def _is_true(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) and bool(value)


def evaluate_terms(model: Module, X: Any, batch_size: int, rng: np.random.Generator) -> dict[str, float]:
    """Mean of every loss term over ``X`` in eval mode (no noise, no graph)."""
    was_training = model.training
    model.eval()
    like = model.parameters()[0]
    sums: dict[str, float] = {}
    try:
        with no_grad():
            for idx in iterate_minibatches(len(X), batch_size, None):
                idx = slice(int(idx[0]), int(idx[-1]) + 1)
                terms = model.loss_terms(_as_batch(X, idx, like), rng)
                n = idx.stop - idx.start
                for key, t in terms.items():
                    sums[key] = sums.get(key, 0.0) + t.item() * n
    finally:
        model.train(was_training)
    logs = {k: v / len(X) for k, v in sums.items()}
    logs["loss"] = sum(logs.values())
    return logs


def fit_module(model: Module, X: Any, *, optimizer: Optimizer, epochs: int, batch_size: int,
               rng: np.random.Generator, validation_data: Any = None, patience: int | None = None,
               min_delta: float = 0.0, callbacks: Iterable[Callback] = (), verbose: int = 0,
               history: History | None = None) -> History:
    """Train ``model`` on the rows of ``X`` and return the per-epoch history.

    Parameters
    ----------
    model : Module with ``loss_terms(X, rng)``
    X : array, shape (n_samples, n_features)
        NumPy array or ``np.memmap`` (rows are read one minibatch at a time).
    optimizer : Optimizer over ``model.parameters()``
    epochs, batch_size : int
    rng : numpy.random.Generator
        Shuffling, input noise and VAE sampling all draw from it, so the same
        seed gives the same run.
    validation_data : array, optional
        Scored after every epoch in eval mode; logged as ``"val_..."``.
    patience : int, optional
        Early stopping: stop when the monitored loss (``val_loss`` if there is
        validation data, else ``loss``) has not improved by ``min_delta`` for
        ``patience`` epochs, and restore the best weights.
    callbacks : iterable of callables
        ``callback(epoch, logs, model)``; returning True stops training.
    verbose : int
        0: silent. 1: a progress bar when stderr is a terminal. 2: also one
        line per epoch on stdout.

    Raises
    ------
    FloatingPointError
        When a loss term becomes NaN or inf, naming the epoch, step and term,
        or when an update makes a parameter NaN or inf (the parameters are
        checked after every step). The weights are those of the last finite step.
    """
    history = history if history is not None else History()
    monitor = "val_loss" if validation_data is not None else "loss"
    best, best_state, waited = math.inf, None, 0
    like = model.parameters()[0]
    named = list(model.named_parameters())
    backup = [p.data.copy() for _, p in named]  # the weights before each step, restored if it diverges
    start = len(history.epochs)
    show_bar = verbose >= 1 and sys.stderr.isatty()
    bar = tqdm(range(start, start + epochs), disable=not show_bar, desc="epochs", leave=False)
    model.train()
    for epoch in bar:
        optimizer.set_epoch(epoch)
        sums: dict[str, float] = {}
        for step, idx in enumerate(iterate_minibatches(len(X), batch_size, rng)):
            terms = model.loss_terms(_as_batch(X, np.sort(idx), like), rng)
            total = None
            for key, t in terms.items():
                total = t if total is None else total + t
            value = total.item()
            if not math.isfinite(value):
                bad = [k for k, t in terms.items() if not math.isfinite(t.item())]
                raise FloatingPointError(
                    f"training diverged at epoch {epoch}, step {step}: loss term(s) {bad} became {value}; "
                    "the model keeps the weights of the last finite step (try a smaller learning_rate)"
                )
            optimizer.zero_grad()
            total.backward()
            for saved, (_, p) in zip(backup, named):
                saved[...] = p.data
            optimizer.step()
            # A finite loss can still give an update that overflows (or a NaN
            # hidden behind a dead relu): check the weights, not only the loss.
            broken = [name for name, p in named if not bool(p.backend.xp.isfinite(p.data).all())]
            if broken:
                for saved, (_, p) in zip(backup, named):
                    p.data[...] = saved
                described = ", ".join(f"{k} {t.item():.6g}" for k, t in terms.items())
                raise FloatingPointError(
                    f"training diverged at epoch {epoch}, step {step}: the update made parameter(s) {broken} "
                    f"non-finite (loss terms before it: {described}); the model keeps the weights of the "
                    "last finite step (try a smaller learning_rate)"
                )
            for key, t in terms.items():
                sums[key] = sums.get(key, 0.0) + t.item() * len(idx)
        logs = {k: v / len(X) for k, v in sums.items()}
        logs["loss"] = sum(logs.values())
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in evaluate_terms(model, validation_data, batch_size, rng).items()})
        history.append(epoch, logs)
        if show_bar:
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")})
        if verbose >= 2:
            print(f"epoch {epoch:4d}  " + "  ".join(f"{k} {v:.5g}" for k, v in logs.items()))
        # Call every callback (no short-circuit); True or a NumPy True (e.g. from
        # ``logs["loss"] < np.float64(0.1)``) stops, None or other values do not.
        stop = any([_is_true(cb(epoch, logs, model)) for cb in callbacks])
        if patience is not None:
            if logs[monitor] < best - min_delta:
                best, best_state, waited = logs[monitor], model.state_dict(), 0
                history.best_epoch = epoch
            else:
                waited += 1
                if waited >= patience:
                    history.stopped_early = True
                    stop = True
        if stop:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
