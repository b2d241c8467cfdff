"""The training loop: minibatches, validation, early stopping, callbacks, history.

Works with any module that has ``loss_terms(X, rng) -> dict[str, Tensor]``
(every model in :mod:`tinyae.models`); the loss minimised is the sum of
the terms, and the history records each term per epoch, plus a few health
metrics (dead code units, mean code activation, gradient norms).

Data larger than memory
-----------------------
``X`` may be an ``np.memmap``. Its rows are read one minibatch at a time
with ``pread`` into a fresh buffer (:func:`read_rows`), not through the
mapping, so the pages read do not accumulate in the process's resident
memory; each batch is checked for NaN/inf (and, for a BCE loss, the range
[0, 1]) as it is read.
"""

from __future__ import annotations

import math
import mmap
import os
import sys
from typing import Any, Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

from tinyae.nn.module import Module
from tinyae.optim import Optimizer
from tinyae.tensor import Tensor, as_tensor, no_grad

__all__ = ["History", "fit_module", "evaluate_terms", "iterate_minibatches", "read_rows"]

Callback = Callable[[int, dict, Module], Any]


class History:
    """Per-epoch records of every loss term, and of the training's numerical health.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (the total) and each term (e.g. ``"reconstruction"``,
        ``"sparsity"``), plus ``"val_..."`` versions when validating.
        ``keys()`` lists these.
    health : dict of str to list of float
        Per epoch (see :func:`fit_module`): ``"dead_units"``,
        ``"mean_activation"``, ``"sparsity_target"`` (KL sparsity only) and
        ``"grad_norm/<parameter name>"``. Kept apart from the loss terms (they
        do not add up to the loss); ``history["dead_units"]`` reads them too.
    epochs : list of int
    best_epoch : int or None
        The epoch whose weights were kept by early stopping.
    stopped_early : bool
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.health: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.best_epoch: int | None = None
        self.stopped_early = False

    def append(self, epoch: int, logs: dict[str, float], health: dict[str, float] | None = None) -> None:
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        for key, value in (health or {}).items():
            self.health.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        if key in self.history or key not in self.health:
            return self.history[key]
        return self.health[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history or key in self.health

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


class RowSubset:
    """Some rows of a 2-D array or memmap, without copying them (``X[rows]`` would).

    ``fit`` splits a memmap into training and validation rows with this, so
    early stopping does not load the data. ``len``, ``shape``, ``dtype`` and
    ``subset[idx]`` (rows ``rows[idx]`` of the base) behave as for an array.
    """

    def __init__(self, base: Any, rows: np.ndarray) -> None:
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.base.shape[1:])

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    def __getitem__(self, idx: Any) -> np.ndarray:
        return read_rows(self.base, self.rows[idx])


def _file_layout(X: Any) -> tuple[str, int, int] | None:
    """``(path, byte offset of row 0, bytes per row)`` to read ``X``'s rows from its file, or None.

    Only for a C-contiguous 2-D memmap sharing its file (modes "r", "r+",
    "w+"); a copy-on-write ("c") map may hold changes the file does not.
    """
    if not isinstance(X, np.memmap) or X.ndim != 2 or getattr(X, "_mmap", None) is None:
        return None
    if not (hasattr(os, "preadv") or hasattr(os, "readv")):  # pragma: no cover - Windows: read through the map
        return None
    if getattr(X, "mode", "c") == "c" or not getattr(X, "filename", None) or not X.flags.c_contiguous:
        return None
    try:
        mm_start = np.frombuffer(X._mmap, dtype=np.uint8).__array_interface__["data"][0]
    except (TypeError, ValueError, BufferError):  # a closed or empty mapping
        return None
    # np.memmap maps the file from ``offset`` rounded down to the allocation granularity.
    file_start = X.offset - X.offset % mmap.ALLOCATIONGRANULARITY
    row0 = file_start + X.__array_interface__["data"][0] - mm_start
    return X.filename, row0, X.shape[1] * X.dtype.itemsize


if hasattr(os, "preadv"):
    def _pread(fd: int, view: memoryview, pos: int) -> int:
        return os.preadv(fd, [view], pos)
else:  # pragma: no cover - e.g. macOS before Python 3.12's preadv support
    def _pread(fd: int, view: memoryview, pos: int) -> int:
        os.lseek(fd, pos, os.SEEK_SET)
        return os.readv(fd, [view])


def read_rows(X: Any, idx: Any) -> np.ndarray:
    """Rows ``X[idx]`` (``idx`` an index array or slice) as a new in-memory array.

    For an ``np.memmap`` the rows are read from its file with ``pread`` into
    a fresh buffer, one call per run of consecutive rows, instead of through
    the mapping: the mapped pages would count in the process's resident
    memory (RSS) until the kernel reclaims them, so an epoch over a file
    larger than memory would look like it loaded the whole file. Other
    arrays (and memmaps that cannot be read so, see :func:`_file_layout`)
    are indexed normally.
    """
    if isinstance(X, RowSubset):
        return X[idx]
    layout = _file_layout(X)
    if layout is None:
        return np.asarray(X[idx])
    path, row0, row_bytes = layout
    rows = np.arange(len(X))[idx] if isinstance(idx, slice) else np.asarray(idx, dtype=np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= len(X)):
        return np.asarray(X[idx])  # let NumPy raise its IndexError (or wrap negatives)
    out = np.empty((rows.size, X.shape[1]), dtype=X.dtype)
    if rows.size == 0 or row_bytes == 0:
        return out
    buf = memoryview(out).cast("B")
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    starts, ends = np.concatenate(([0], cuts)), np.concatenate((cuts, [rows.size]))
    runs = zip((starts * row_bytes).tolist(), ((ends - starts) * row_bytes).tolist(),
               (row0 + rows[starts] * row_bytes).tolist())
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        for at, size, pos in runs:
            done = _pread(fd, buf[at:at + size], pos)
            while done < size:  # short reads: only at the end of a file, or on exotic file systems
                n = _pread(fd, buf[at + done:at + size], pos + done)
                if n <= 0:
                    raise OSError(f"X: the file {path!r} behind the memmap is shorter than its shape {X.shape} needs")
                done += n
    finally:
        os.close(fd)
    return out


def _check_rows(rows: np.ndarray, idx: Any, name: str, bounds: tuple[float, float] | None) -> None:
    """NaN/inf (and range) check of rows read from a memmap, which ``validate_X`` does not scan."""
    if rows.dtype.kind != "f" and bounds is None:
        return
    index = np.arange(idx.start, idx.stop) if isinstance(idx, slice) else np.asarray(idx)
    span = f"{index.size} rows (row indices {int(index.min())}..{int(index.max())})" if index.size else "0 rows"
    if rows.dtype.kind == "f":
        finite = np.isfinite(rows)
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            raise ValueError(
                f"{name}: expected finite values, got {int((~finite).sum())} NaN or infinity entries in the "
                f"minibatch of {span}; the first at row {int(index[r])}, column {int(c)}. A memmap is checked as its "
                "rows are read"
            )
    if bounds is not None and rows.size:
        lo, hi = float(rows.min()), float(rows.max())
        if lo < bounds[0] or hi > bounds[1]:
            raise ValueError(f"{name}: loss='bce' expects values in [{bounds[0]:g}, {bounds[1]:g}], "
                             f"got range [{lo:.4g}, {hi:.4g}] in the minibatch of {span}")


def _as_batch(X: Any, idx: np.ndarray | slice, like: Tensor, name: str = "X",
              bounds: tuple[float, float] | None = None) -> Tensor:
    if isinstance(X, (np.memmap, RowSubset)):
        rows = read_rows(X, idx)
        _check_rows(rows, X.rows[idx] if isinstance(X, RowSubset) else idx, name, bounds)
    else:
        rows = X[idx]
    return as_tensor(like.backend.xp.asarray(rows, dtype=like.dtype), like=like)


def _target_bounds(model: Module) -> tuple[float, float] | None:
    """Value range the model's targets must lie in (BCE: [0, 1]), checked on streamed batches."""
    return (0.0, 1.0) if getattr(model, "loss", None) == "bce" else None


def _code(model: Module, batch: Tensor) -> Any:
    """The model's code (``encode``'s output; a VAE's ``mu``) for ``batch``, in eval mode, as an array."""
    encode = getattr(model, "encode", None)
    if encode is None:
        return None
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            code = encode(batch)
    finally:
        model.train(was_training)
    if isinstance(code, (tuple, list)):
        code = code[0]
    return code.data if isinstance(code, Tensor) and code.ndim == 2 else None


def _health(model: Module, batch: Tensor | None, grad_norms: dict[str, float]) -> dict[str, float]:
    """The epoch's health metrics (see :func:`fit_module`)."""
    out: dict[str, float] = {}
    code = _code(model, batch) if batch is not None else None
    if code is not None:
        xp = model.parameters()[0].backend.xp
        out["dead_units"] = float(int((code.max(axis=0) == code.min(axis=0)).sum()))
        out["mean_activation"] = float(xp.mean(code))
    sparsity = getattr(model, "sparsity", None)
    if isinstance(sparsity, dict) and sparsity.get("kind") == "kl":
        out["sparsity_target"] = float(sparsity["rho"])
    out.update(grad_norms)
    return out


def _is_true(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) and bool(value)


def evaluate_terms(model: Module, X: Any, batch_size: int, rng: np.random.Generator,
                   name: str = "X") -> dict[str, float]:
    """Mean of every loss term over ``X`` in eval mode (no noise, no graph).

    ``name`` is the argument named in the error raised when a memmap's rows
    hold NaN or inf.
    """
    was_training = model.training
    model.eval()
    like = model.parameters()[0]
    sums: dict[str, float] = {}
    try:
        with no_grad():
            for idx in iterate_minibatches(len(X), batch_size, None):
                idx = slice(int(idx[0]), int(idx[-1]) + 1)
                terms = model.loss_terms(_as_batch(X, idx, like, name, _target_bounds(model)), rng)
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
        0: silent. 1: a progress bar (loss, dead units) when stderr is a
        terminal. 2: also one line per epoch on stdout.

    Returns
    -------
    History
        Per epoch, the loss terms in ``history.history`` and these health
        metrics in ``history.health`` (computed once per epoch, not per step):

        ``"dead_units"``
            Code units (outputs of ``model.encode``; a VAE's ``mu``) with the
            same value for every sample of the epoch's last full-size
            training batch, evaluated in eval mode (no input noise): ReLU
            units that output 0 for everything, units saturated to the same
            float, units whose weights died. Only for models with ``encode``.
        ``"mean_activation"``
            Mean of the code over that batch (compare with the target
            ``"sparsity_target"`` = rho, logged for KL sparsity).
        ``"grad_norm/<parameter name>"``
            L2 norm of each parameter's gradient at the epoch's last step,
            before the update.

    Raises
    ------
    FloatingPointError
        When a loss term becomes NaN or inf, naming the epoch, step and term,
        or when an update makes a parameter NaN or inf (the parameters are
        checked after every step). The weights are those of the last finite step.
    ValueError
        When a memmap's minibatch holds NaN or inf, or values outside [0, 1]
        for a model whose ``loss`` is ``"bce"``; the message names the rows.
        Training stops there (the weights are those of the last step).
    """
    history = history if history is not None else History()
    monitor = "val_loss" if validation_data is not None else "loss"
    best, best_state, waited = math.inf, None, 0
    like = model.parameters()[0]
    named = list(model.named_parameters())
    backup = [p.data.copy() for _, p in named]  # the weights before each step, restored if it diverges
    start = len(history.epochs)
    show_bar = verbose >= 1 and sys.stderr.isatty()
    bounds = _target_bounds(model)
    n_steps = math.ceil(len(X) / batch_size)
    bar = tqdm(range(start, start + epochs), disable=not show_bar, desc="epochs", leave=False)
    model.train()
    for epoch in bar:
        optimizer.set_epoch(epoch)
        sums: dict[str, float] = {}
        last_batch, grad_norms = None, {}
        for step, idx in enumerate(iterate_minibatches(len(X), batch_size, rng)):
            batch = _as_batch(X, np.sort(idx), like, "X", bounds)
            if last_batch is None or len(idx) == min(batch_size, len(X)):
                last_batch = batch  # for the health metrics: the last full-size batch
            terms = model.loss_terms(batch, rng)
            total = None
            for key, t in terms.items():
                total = t if total is None else total + t
            value = total.item()
            if not math.isfinite(value):
                bad = [k for k, t in terms.items() if not math.isfinite(t.item())]
                scale = float(batch.backend.xp.abs(batch.data).max())
                raise FloatingPointError(
                    f"training diverged at epoch {epoch}, step {step}: loss term(s) {bad} became {value}; "
                    "the model keeps the weights of the last finite step (try a smaller learning_rate"
                    + (f"; the batch's largest |value| is {scale:.3g}: rescale the data" if scale > 1e6 else "")
                    + ")"
                )
            optimizer.zero_grad()
            total.backward()
            if step == n_steps - 1:
                grad_norms = {f"grad_norm/{name}": (0.0 if p.grad is None else
                                                    float(p.backend.xp.linalg.norm(p.grad.reshape(-1))))
                              for name, p in named}
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
            val = evaluate_terms(model, validation_data, batch_size, rng, "validation_data")
            logs.update({f"val_{k}": v for k, v in val.items()})
        health = _health(model, last_batch, grad_norms)
        history.append(epoch, logs, health)
        shown = {k: v for k, v in health.items() if k == "dead_units"}
        if show_bar:
            bar.set_postfix({**{k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")},
                             **{"dead": int(v) for v in shown.values()}})
        if verbose >= 2:
            print(f"epoch {epoch:4d}  " + "  ".join(f"{k} {v:.5g}" for k, v in {**logs, **shown}.items()))
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
