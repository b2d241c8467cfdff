"""A small MLP regressor, for predicting latent codes from crystal parameters.

The spectra pipeline learns ``structure -> latent code`` with it and then
decodes the predicted code into a whole spectrum.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tinyae import functional as F
from tinyae.base import BaseEstimator, check_is_fitted, check_random_state, validate_X
from tinyae.nn.layers import Dense, Sequential
from tinyae.nn.module import Module
from tinyae.optim import get_optimizer
from tinyae.tensor import Tensor, as_tensor, no_grad
from tinyae.training import fit_module

__all__ = ["MLPRegressorModule", "MLPRegressor"]


class MLPRegressorModule(Module):
    """``y = MLP(x)`` with a linear output layer, trained on MSE.

    ``loss_terms`` takes one array holding inputs and targets side by side,
    ``[X | Y]`` of shape (n_samples, n_in + n_out), so the unsupervised
    training loop (:func:`tinyae.training.fit_module`) can shuffle and batch
    both together.
    """

    def __init__(self, n_in: int, n_out: int, hidden_sizes: Sequence[int] = (64, 64), activation: str = "relu",
                 rng: Any = None, dtype: Any = np.float64) -> None:
        rng = np.random.default_rng(rng)
        sizes = [n_in, *hidden_sizes, n_out]
        acts = [activation] * len(hidden_sizes) + ["linear"]
        self.net = Sequential(*[Dense(sizes[i], sizes[i + 1], acts[i], rng=rng, dtype=dtype) for i in range(len(acts))])
        self.n_in = n_in

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)

    def loss_terms(self, XY: Tensor, rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        X, Y = XY[:, :self.n_in], XY[:, self.n_in:]
        return {"mse": F.mse_loss(self(X), Y)}


class MLPRegressor(BaseEstimator):
    """Multi-output MLP regression with standardised inputs and targets.

    Parameters
    ----------
    hidden_sizes : sequence of int, default (64, 64)
    activation : str, default "relu"
    learning_rate : float, default 1e-3
    epochs : int, default 300
    batch_size : int, default 32
    random_state : None, int or Generator

    Attributes
    ----------
    model_ : MLPRegressorModule
    history_ : History
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        Standardisation applied before and undone after the network.
    """

    def __init__(self, hidden_sizes: Sequence[int] = (64, 64), activation: str = "relu", learning_rate: float = 1e-3,
                 epochs: int = 300, batch_size: int = 32, random_state: Any = None) -> None:
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Fit ``X`` (n_samples, n_features) -> ``y`` (n_samples,) or (n_samples, n_targets)."""
        X = validate_X(X, "X")
        y = np.asarray(y, dtype=np.float64)
        y2 = validate_X(y.reshape(-1, 1) if y.ndim == 1 else y, "y")
        if len(y2) != len(X):
            raise ValueError(f"y: expected {len(X)} rows (one per sample of X), got {len(y2)}")
        rng = check_random_state(self.random_state)
        self.x_mean_, self.x_scale_ = X.mean(0), X.std(0) + 1e-12
        self.y_mean_, self.y_scale_ = y2.mean(0), y2.std(0) + 1e-12
        XY = np.hstack([(X - self.x_mean_) / self.x_scale_, (y2 - self.y_mean_) / self.y_scale_])
        self.model_ = MLPRegressorModule(X.shape[1], y2.shape[1], tuple(self.hidden_sizes), self.activation, rng=rng)
        optimizer = get_optimizer("adam", self.model_.parameters(), lr=float(self.learning_rate))
        self.history_ = fit_module(self.model_, XY, optimizer=optimizer, epochs=int(self.epochs),
                                   batch_size=min(int(self.batch_size), len(X)), rng=rng)
        self.n_features_in_ = X.shape[1]
        self._y_1d = y.ndim == 1
        self.model_.eval()
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,) or (n_samples, n_targets)."""
        check_is_fitted(self)
        X = validate_X(X, "X", n_features=self.n_features_in_, estimator="MLPRegressor")
        like = self.model_.parameters()[0]
        with no_grad():
            Z = self.model_(as_tensor(((X - self.x_mean_) / self.x_scale_).astype(like.dtype), like=like)).to_numpy()
        out = Z * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_1d else out

    def score(self, X: Any, y: Any) -> float:
        """Coefficient of determination R² (averaged over targets)."""
        y = np.asarray(y, dtype=np.float64)
        pred = self.predict(X)
        ss_res = ((y - pred) ** 2).sum(axis=0)
        ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        return float(np.mean(1.0 - ss_res / np.maximum(ss_tot, 1e-300)))
