"""Safe checkpoints: one ``.npz`` of plain arrays plus a JSON header.

A checkpoint holds everything needed to use *and to resume* a fitted
estimator: its hyperparameters, weights, optimizer state, the random
generator's state and the training history.

Safety
------
* Arrays are read with ``np.load(..., allow_pickle=False)`` and the header
  with ``json.loads``: loading a file from an untrusted source can never
  run code. There is no pickle anywhere.
* The header stores a SHA-256 digest of every array; a truncated, tampered
  or partly written file raises :class:`CheckpointError` instead of loading
  wrong numbers.
* Saving is atomic: the file is written next to its destination, flushed to
  disk and moved into place with ``os.replace``, so a process killed
  mid-save leaves the previous checkpoint intact.
* Non-finite weights are never written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

__all__ = ["save", "load", "CheckpointError", "FORMAT", "VERSION"]

FORMAT = "tinyae-checkpoint"
VERSION = 1
_HEADER = "__header__"


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, corrupted, of another version or architecture."""


def _jsonable(value: Any) -> Any:
    """Hyperparameters as JSON types (tuples become lists)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "kind") and hasattr(value, "level"):  # a parsed Noise spec
        return {"kind": value.kind, "level": value.level, **dict(getattr(value, "options", {}))}
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint header")


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(estimator: Any, path: str | os.PathLike) -> None:
    """Write a fitted ``Autoencoder`` or ``VariationalAutoencoder`` to ``path`` (.npz).

    Raises
    ------
    NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If a weight is NaN or inf (a diverged model is never saved).
    TypeError
        If a hyperparameter cannot be stored (e.g. callbacks are dropped,
        not stored: they are code).
    """
    from tinyae.base import check_is_fitted

    check_is_fitted(estimator)
    arrays: dict[str, np.ndarray] = {}
    for name, value in estimator.model_.state_dict().items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"estimator: weight {name!r} is not finite; refusing to write a checkpoint")
        arrays[f"weights/{name}"] = value
    optim_scalars: dict[str, Any] = {}
    for key, value in estimator.optimizer_.state_dict().items():
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            for i, a in enumerate(value):
                arrays[f"optimizer/{key}/{i}"] = np.asarray(a)
            optim_scalars[key] = {"__arrays__": len(value)}
        else:
            optim_scalars[key] = _jsonable(value)
    params = {k: v for k, v in estimator.get_params().items() if k != "callbacks"}
    if isinstance(params.get("random_state"), np.random.Generator):
        params["random_state"] = None
    hist = estimator.history_
    header = {
        "format": FORMAT,
        "version": VERSION,
        "estimator": type(estimator).__name__,
        "params": _jsonable(params),
        "n_features_in": int(estimator.n_features_in_),
        "optimizer": optim_scalars,
        "rng_state": _jsonable(estimator.rng_.bit_generator.state),
        "history": {"history": hist.history, "epochs": hist.epochs, "best_epoch": hist.best_epoch,
                    "stopped_early": hist.stopped_early},
        "digest": _digest(arrays),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_HEADER: np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)})
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tinyae-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(os.fspath(path), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"path: {os.fspath(path)!r} is not a readable tinyae checkpoint ({type(exc).__name__}: {exc})") from None
    raw = arrays.pop(_HEADER, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"path: {os.fspath(path)!r} has no tinyae header")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"path: the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"path: expected format {FORMAT!r}, got {header.get('format') if isinstance(header, dict) else header!r}")
    if header.get("version") != VERSION:
        raise CheckpointError(f"path: expected checkpoint version {VERSION}, got {header.get('version')!r}")
    if header.get("digest") != _digest(arrays):
        raise CheckpointError("path: the arrays do not match the header's digest (the file was modified or damaged)")
    return header, arrays


def load(path: str | os.PathLike) -> Any:
    """Read a checkpoint written by :func:`save` and return the fitted estimator.

    The estimator can transform, reconstruct and score at once, and
    ``resume_fit`` continues training exactly where the saved run stopped.

    Raises
    ------
    CheckpointError
        Truncated, tampered, wrong-format, wrong-version or wrong-architecture files.
    FileNotFoundError
        If ``path`` does not exist.
    """
    from tinyae.estimators import Autoencoder, VariationalAutoencoder
    from tinyae.optim import get_optimizer
    from tinyae.training import History

    header, arrays = _read(path)
    classes = {"Autoencoder": Autoencoder, "VariationalAutoencoder": VariationalAutoencoder}
    cls = classes.get(header.get("estimator"))
    if cls is None:
        raise CheckpointError(f"path: expected an estimator in {sorted(classes)}, got {header.get('estimator')!r}")
    try:
        est = cls(**header["params"])
        rng = np.random.default_rng()
        rng.bit_generator.state = header["rng_state"]
        model = est._build(int(header["n_features_in"]), np.random.default_rng(0))
        weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
        model.load_state_dict(weights)
        optim_state = {}
        for key, value in header["optimizer"].items():
            if isinstance(value, dict) and "__arrays__" in value:
                optim_state[key] = [arrays[f"optimizer/{key}/{i}"] for i in range(int(value["__arrays__"]))]
            else:
                optim_state[key] = value
        optimizer = get_optimizer(est.optimizer, model.parameters(), lr=float(est.learning_rate))
        optimizer.load_state_dict(optim_state)
        history = History()
        saved = header["history"]
        history.history = {k: [float(x) for x in v] for k, v in saved["history"].items()}
        history.epochs = [int(e) for e in saved["epochs"]]
        history.best_epoch = saved["best_epoch"]
        history.stopped_early = bool(saved["stopped_early"])
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"path: the checkpoint does not fit a {cls.__name__} with its stored parameters "
            f"({type(exc).__name__}: {exc})"
        ) from None
    est.n_features_in_ = int(header["n_features_in"])
    est.model_, est.optimizer_, est.history_, est.rng_ = model, optimizer, history, rng
    est.n_iter_ = len(history.epochs)
    est.loss_ = history["loss"][-1] if "loss" in history else float("nan")
    model.eval()
    return est
