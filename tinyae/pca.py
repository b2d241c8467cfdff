"""A small PCA (via the SVD) so demos can compare with PCA without scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyae.base import BaseEstimator, check_is_fitted, validate_X

__all__ = ["PCA"]


class PCA(BaseEstimator):
    """Principal component analysis with the Autoencoder's interface.

    Parameters
    ----------
    n_components : int
        Number of components kept.

    Attributes
    ----------
    mean_ : ndarray, shape (n_features,)
    components_ : ndarray, shape (n_components, n_features)
        Orthonormal rows spanning the principal subspace.
    explained_variance_ : ndarray, shape (n_components,)

    Notes
    -----
    With ``X - mean = U S V^T``, the codes are ``(X - mean) V_k`` and the
    reconstruction ``codes V_k^T + mean``: the rank-k least-squares optimum
    (Eckart-Young), which a linear autoencoder with MSE can only match.
    """

    def __init__(self, n_components: int = 2) -> None:
        self.n_components = n_components

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "components_")

    def fit(self, X: Any, y: Any = None) -> PCA:
        X = validate_X(X, "X")
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= min(X.shape):
            raise ValueError(f"n_components: expected an integer in [1, {min(X.shape)}], got {k!r}")
        self.mean_ = X.mean(axis=0)
        _, s, vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        self.components_ = vt[:k]
        self.explained_variance_ = s[:k] ** 2 / max(len(X) - 1, 1)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "components_")
        return (validate_X(X, "X", n_features=self.n_features_in_, estimator="PCA") - self.mean_) @ self.components_.T

    def inverse_transform(self, codes: Any) -> np.ndarray:
        check_is_fitted(self, "components_")
        return validate_X(codes, "codes", n_features=len(self.components_), estimator="PCA") @ self.components_ + self.mean_

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)
