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
* Saving is atomic: the file is written next to its destination (as
  ``.tinyae-XXXXXXXX.tmp``), flushed to disk and moved into place with
  ``os.replace``, so a process killed mid-save leaves the previous checkpoint
  intact. A process killed mid-save can leave its temporary file behind;
  ``.tinyae-*.tmp`` files are never read and are safe to delete.
* Non-finite weights (or optimizer state) are never written, and a file
  holding them is not loaded.
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
        If a weight or an optimizer buffer is NaN or inf (a diverged model
        is never saved); the file at ``path`` is left untouched.
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
                a = np.asarray(a)
                if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                    raise ValueError(f"estimator: optimizer state {key!r}[{i}] is not finite (a step diverged); "
                                     "refusing to write a checkpoint")
                arrays[f"optimizer/{key}/{i}"] = a
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
        "history": {"history": hist.history, "health": getattr(hist, "health", {}), "epochs": hist.epochs,
                    "best_epoch": hist.best_epoch, "stopped_early": hist.stopped_early},
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
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    where = repr(os.fspath(path))
    unreadable = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, RuntimeError, MemoryError,
                  NotImplementedError, UnicodeDecodeError)
    try:
        npz = np.load(os.fspath(path), allow_pickle=False)
    except FileNotFoundError:
        raise
    except unreadable as exc:
        raise CheckpointError(f"path: {where} is not a readable tinyae checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(f"path: {where} holds a single .npy array, not a tinyae checkpoint (.npz)")
    try:
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except unreadable as exc:
        raise CheckpointError(f"path: {where} is not a readable tinyae checkpoint ({type(exc).__name__}: {exc})") from None
    raw = arrays.pop(_HEADER, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"path: {where} has no tinyae header")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"path: {where}: the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else header
        raise CheckpointError(f"path: {where}: expected format {FORMAT!r}, got {got!r}")
    if header.get("version") != VERSION:
        raise CheckpointError(f"path: {where}: expected checkpoint version {VERSION}, got {header.get('version')!r}")
    for name, a in arrays.items():
        if a.dtype.kind not in "fiub":
            raise CheckpointError(f"path: {where}: array {name!r} has dtype {a.dtype}, expected real numbers")
    if header.get("digest") != _digest(arrays):
        raise CheckpointError(f"path: {where}: the arrays do not match the header's digest "
                              "(the file was modified or damaged)")
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
    where = repr(os.fspath(path))
    classes = {"Autoencoder": Autoencoder, "VariationalAutoencoder": VariationalAutoencoder}
    name = header.get("estimator")
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CheckpointError(f"path: {where}: expected an estimator in {sorted(classes)}, got {name!r}")
    for key, value in arrays.items():
        if key.startswith("weights/") and not (value.dtype.kind == "f" and np.all(np.isfinite(value))):
            raise CheckpointError(f"path: {where}: weight {key[len('weights/'):]!r} is not finite real numbers "
                                  f"(dtype {value.dtype}); a checkpoint never holds such weights")
    try:
        params = header["params"]
        if not isinstance(params, dict):
            raise TypeError(f"params: expected a JSON object, got {type(params).__name__}")
        est = cls(**params)
        est._check_params()
        # Every layer width is a dimension of some stored weight: refuse a header
        # asking for wider layers before building (and allocating) them.
        widest = max((max(v.shape, default=0) for k, v in arrays.items() if k.startswith("weights/")), default=0)
        hidden = params.get("hidden_sizes", ())
        widths = [header["n_features_in"], params.get("n_components", 0),
                  *(hidden if isinstance(hidden, list) else [hidden])]
        too_wide = [w for w in widths if isinstance(w, (int, float)) and w > widest]
        if too_wide:
            raise ValueError(f"layer widths {too_wide} exceed every stored weight's shape (widest {widest})")
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
        history.history = {str(k): [float(x) for x in v] for k, v in saved["history"].items()}
        history.health = {str(k): [float(x) for x in v] for k, v in saved.get("health", {}).items()}
        history.epochs = [int(e) for e in saved["epochs"]]
        best = saved["best_epoch"]
        history.best_epoch = None if best is None else int(best)
        history.stopped_early = bool(saved["stopped_early"])
        n_features = int(header["n_features_in"])
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, OverflowError) as exc:
        raise CheckpointError(
            f"path: {where}: the checkpoint does not fit the {cls.__name__} its stored parameters describe "
            f"({type(exc).__name__}: {exc})"
        ) from None
    est.n_features_in_ = n_features
    est.model_, est.optimizer_, est.history_, est.rng_ = model, optimizer, history, rng
    est.n_iter_ = len(history.epochs)
    est.loss_ = history["loss"][-1] if "loss" in history else float("nan")
    model.eval()
    return est
