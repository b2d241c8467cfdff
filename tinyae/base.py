"""The estimator contract (scikit-learn's), without needing scikit-learn.

``__init__`` stores hyperparameters only; ``get_params``/``set_params`` read
them from the constructor's signature; input checks live in
:func:`validate_X`. When scikit-learn *is* installed, ``__sklearn_tags__``
describes the estimator to it, so ``clone``, ``Pipeline`` and
``check_estimator`` work.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import numpy as np

__all__ = ["BaseEstimator", "NotFittedError", "validate_X", "check_is_fitted", "check_random_state"]

class NotFittedError(ValueError, AttributeError):
    """A method needing a fitted estimator was called before ``fit``.

    When scikit-learn has been imported, the error raised is also an instance
    of ``sklearn.exceptions.NotFittedError`` (importing scikit-learn costs
    over a second, so tinyae never imports it just for this).
    """


_ERROR_CLASS: dict[str, type] = {}


def _not_fitted_class() -> type:
    if "sklearn" not in sys.modules:
        return NotFittedError
    if "sklearn" not in _ERROR_CLASS:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError

        _ERROR_CLASS["sklearn"] = type("NotFittedError", (NotFittedError, SklearnNotFittedError), {})
    return _ERROR_CLASS["sklearn"]


def check_random_state(random_state: Any) -> np.random.Generator:
    """A Generator from ``None`` (fresh entropy), an int seed, or a Generator (used as is)."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return np.random.default_rng(int(random_state))
    raise ValueError(f"random_state: expected None, a non-negative int or a numpy Generator, got {random_state!r}")


def validate_X(X: Any, name: str = "X", dtype: Any = np.float64, n_features: int | None = None,
               estimator: str = "estimator", streamed: bool = False) -> np.ndarray:
    """Check a data matrix and return it as a 2-D array of ``dtype``.

    Integers and numeric objects are converted to ``dtype`` (exactly, for
    values a float holds); booleans, strings, complex numbers, dates, sparse
    matrices, NaN/inf, values that overflow ``dtype``, empty arrays and a
    wrong number of features raise ``TypeError`` or ``ValueError`` naming
    ``name``, what was expected and what was received. The input is never
    modified.

    With ``streamed=True`` an ``np.memmap`` of real numbers is returned as
    is, neither loaded nor converted nor scanned: the caller reads it one
    minibatch at a time (:func:`tinyae.training.read_rows`) and checks each
    batch for NaN/inf as it is read. Without it a memmap is checked and
    converted like any array (which reads it whole).
    """
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(f"{name}: expected a dense array, got a sparse matrix; convert it with .toarray()")
    if streamed and isinstance(X, np.memmap) and X.dtype.kind in "fiu":
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a numeric array, got {type(X).__name__} ({exc})") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype} (Complex data not supported)")
    if arr.dtype.kind == "b":
        raise TypeError(f"{name}: expected numbers, got booleans (dtype bool); convert explicitly with .astype(float)")
    if arr.dtype.kind in "OUSV":
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by name
                arr = arr.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected numeric values, got dtype {arr.dtype}: {exc}") from None
        except OverflowError as exc:
            raise ValueError(f"{name}: expected numbers that fit {np.dtype(dtype)}, got a value too large ({exc})") from None
    elif arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric dtype, got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n_samples, n_features), got {arr.ndim}-D shape {arr.shape}. "
            "Reshape your data with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least 1 sample, got 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: expected at least 1 feature, got 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features, got {arr.shape[1]}. "
            f"X has {arr.shape[1]} features, but {estimator} is expecting {n_features} features as input."
        )
    if arr is X and isinstance(arr, np.memmap):
        return arr  # streamed: checked batch by batch as it is read
    source = arr
    with np.errstate(over="ignore", invalid="ignore"):
        arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        if source.dtype.kind in "iu" or np.isfinite(source).all():
            raise ValueError(
                f"{name}: expected values that fit {np.dtype(dtype)}, got {bad} entries that overflow it "
                f"(largest |value| {float(np.abs(source).max()):.4g}); rescale the data or use dtype='float64'"
            )
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or infinity entries")
    return arr


def check_is_fitted(estimator: Any, attribute: str = "model_") -> None:
    if not hasattr(estimator, attribute):
        raise _not_fitted_class()(
            f"This {type(estimator).__name__} instance is not fitted yet; call fit(X) before using this method."
        )


class BaseEstimator:
    """``get_params``/``set_params``/``repr`` from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseEstimator:
        """Set hyperparameters by name (checked at ``fit``, as in scikit-learn)."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"set_params: invalid parameter {key!r} for {type(self).__name__}; expected one of {valid}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if sig.parameters[k].default is not v
                   and not (isinstance(v, (int, float, str)) and v == sig.parameters[k].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self):  # only scikit-learn calls this, so it is there
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=["float64"]), input_tags=InputTags())
