"""scikit-learn-style estimators: ``Autoencoder`` and ``VariationalAutoencoder``.

    ae = Autoencoder(n_components=8, hidden_sizes=(64,), random_state=0).fit(X)
    codes = ae.transform(X)              # (n_samples, n_components)
    X_hat = ae.inverse_transform(codes)  # (n_samples, n_features)

The fitted module stays inspectable: ``ae.model_`` (layers and weights),
``ae.history_`` (every loss term per epoch), ``ae.optimizer_``.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Sequence

import numpy as np

from tinyae.base import BaseEstimator, check_is_fitted, check_random_state, validate_X
from tinyae.functional import get_activation
from tinyae.models.autoencoder import AutoencoderModule, parse_sparsity
from tinyae.models.vae import VAEModule
from tinyae.nn.module import Module
from tinyae.nn.noise import make_noise
from tinyae.optim import OPTIMIZERS, get_optimizer
from tinyae.tensor import as_tensor, no_grad
from tinyae.training import RowSubset, evaluate_terms, fit_module, read_rows

__all__ = ["Autoencoder", "VariationalAutoencoder"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _nonneg_real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _hidden(value: Any) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"hidden_sizes: expected a sequence of positive integers, got {value!r}")
    return tuple(_positive_int(v, "hidden_sizes") for v in value)


def _finite_score(value: float, X: Any) -> float:
    if not math.isfinite(value):
        raise ValueError(f"X: the score is {value} (not finite): the data overflow the model's arithmetic; "
                         "rescale the data")
    return float(value)


class _AutoencoderBase(BaseEstimator):
    """Shared fitting, batching and validation of the two estimators."""

    def _dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        return dtype

    def _validate(self, X: Any, reset: bool, target: bool = True) -> np.ndarray:
        """Check ``X``; ``target=False`` for inputs that are only encoded (no BCE range check).

        A memmap is returned unread: its rows are checked (NaN/inf, BCE range)
        one minibatch at a time as training or transform reads them.
        """
        n = None if reset else self.n_features_in_
        X = validate_X(X, "X", self._dtype(), n, type(self).__name__, streamed=True)
        if target and self.loss == "bce" and not isinstance(X, np.memmap) and (X.min() < 0 or X.max() > 1):
            raise ValueError(f"X: loss='bce' expects values in [0, 1], got range [{X.min():.4g}, {X.max():.4g}]")
        return X

    def _check_params(self) -> None:
        """Check the hyperparameters not checked where they are used, naming each bad one."""
        for name in ("tol", *(("contractive", "weight_decay") if hasattr(self, "contractive") else ("beta",))):
            _nonneg_real(getattr(self, name), name)
        for name in ("early_stopping", *(("tied_weights",) if hasattr(self, "tied_weights") else ())):
            _flag(getattr(self, name), name)
        verbose = self.verbose
        if not isinstance(verbose, (int, np.integer)) or verbose < 0:
            raise ValueError(f"verbose: expected an integer >= 0, got {verbose!r}")
        if self.callbacks is not None:
            if callable(self.callbacks) or not isinstance(self.callbacks, (list, tuple)) or not all(
                    callable(cb) for cb in self.callbacks):
                raise ValueError(f"callbacks: expected None or a list of callables f(epoch, logs, model), "
                                 f"got {self.callbacks!r}")
        names = ["activation", "output_activation"] + (["code_activation"] if hasattr(self, "code_activation") else [])
        for name in names:
            try:
                get_activation(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {str(exc).split(': ', 1)[1]}") from None
        if hasattr(self, "noise"):
            try:
                make_noise(self.noise)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"noise: {exc}") from None
            try:
                parse_sparsity(self.sparsity)
            except TypeError as exc:
                raise ValueError(f"sparsity: expected ('l1', weight >= 0) or ('kl', 0 < rho < 1, beta >= 0), "
                                 f"got {self.sparsity!r} ({exc})") from None

    def _build(self, n_features: int, rng: np.random.Generator) -> Module:
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None, validation_data: Any = None) -> _AutoencoderBase:
        """Train on ``X`` of shape (n_samples, n_features); ``y`` is ignored.

        Parameters
        ----------
        X : array_like or np.memmap, shape (n_samples, n_features)
        y : ignored
        validation_data : array_like, optional
            Scored every epoch (``history_["val_loss"]``); with
            ``early_stopping=True`` it replaces the ``validation_fraction`` split.
        """
        X = self._validate(X, reset=True)
        self._check_params()
        epochs = _positive_int(self.epochs, "epochs")
        batch_size = _positive_int(self.batch_size, "batch_size")
        lr = self.learning_rate
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, Real) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning_rate: expected a positive finite number, got {lr!r}")
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        patience = _positive_int(self.n_iter_no_change, "n_iter_no_change") if self.early_stopping else None
        rng = check_random_state(self.random_state)
        model = self._build(X.shape[1], rng)
        optimizer = get_optimizer(self.optimizer, model.parameters(), lr=float(self.learning_rate))
        train, val = X, None
        if validation_data is not None:
            val = validate_X(validation_data, "validation_data", self._dtype(), X.shape[1], type(self).__name__,
                             streamed=True)
        elif self.early_stopping:
            vf = self.validation_fraction
            if isinstance(vf, (bool, np.bool_)) or not isinstance(vf, Real) or not 0 < vf < 1:
                raise ValueError(f"validation_fraction: expected a number in (0, 1), got {self.validation_fraction!r}")
            n_val = int(round(self.validation_fraction * len(X)))
            if n_val < 1 or n_val >= len(X):
                raise ValueError(f"validation_fraction: {self.validation_fraction} of {len(X)} samples leaves an empty split")
            order = rng.permutation(len(X))
            if isinstance(X, np.memmap):  # index the rows, do not copy them into memory
                train, val = RowSubset(X, np.sort(order[n_val:])), RowSubset(X, np.sort(order[:n_val]))
            else:
                train, val = X[np.sort(order[n_val:])], X[np.sort(order[:n_val])]
        self.n_features_in_ = X.shape[1]
        self.model_ = model
        self.optimizer_ = optimizer
        self.rng_ = rng
        self.history_ = None
        return self._train(train, epochs, batch_size, val, patience)

    def _train(self, X: Any, epochs: int, batch_size: int, val: Any, patience: int | None) -> _AutoencoderBase:
        self.history_ = fit_module(
            self.model_, X, optimizer=self.optimizer_, epochs=epochs, batch_size=min(batch_size, len(X)),
            rng=self.rng_, validation_data=val, patience=patience, min_delta=float(self.tol),
            callbacks=self.callbacks or (), verbose=int(self.verbose), history=self.history_,
        )
        self.n_iter_ = len(self.history_.epochs)
        self.loss_ = self.history_["loss"][-1]
        self.model_.eval()
        return self

    def resume_fit(self, X: Any, epochs: int | None = None, validation_data: Any = None) -> _AutoencoderBase:
        """Train a fitted (or loaded) estimator for ``epochs`` more epochs.

        Continues with the same optimizer state and random generator, so
        ``fit`` for 10 epochs equals ``fit`` for 5, :meth:`save`,
        :func:`tinyae.load` and ``resume_fit`` for 5, bit for bit on the NumPy
        backend. The history is extended. Early stopping is not applied here
        (its held-out split belongs to the first fit); pass
        ``validation_data`` to keep scoring a validation set.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        self._check_params()
        epochs = _positive_int(self.epochs if epochs is None else epochs, "epochs")
        val = None
        if validation_data is not None:
            val = validate_X(validation_data, "validation_data", self._dtype(), X.shape[1], type(self).__name__,
                             streamed=True)
        self.model_.train()
        return self._train(X, epochs, _positive_int(self.batch_size, "batch_size"), val, None)

    def save(self, path: Any) -> None:
        """Write a safe checkpoint (.npz + JSON header, no pickle); see :func:`tinyae.load`."""
        from tinyae.checkpoint import save

        save(self, path)

    def _batched(self, fn: Any, A: np.ndarray, name: str = "X") -> np.ndarray:
        """Apply ``fn`` (Tensor -> Tensor) to row blocks of ``A`` without recording a graph.

        A memmap is read block by block (:func:`tinyae.training.read_rows`)
        and each block checked for NaN/inf. A non-finite result (inputs so
        large that the model's arithmetic overflows) raises ``ValueError``
        naming the rows instead of returning NaN or inf.
        """
        like = self.model_.parameters()[0]
        xp = like.backend.xp
        out = []
        with no_grad():
            for start in range(0, len(A), 1024):
                rows = slice(start, min(start + 1024, len(A)))
                if isinstance(A, np.memmap):
                    block = read_rows(A, rows)
                    if not np.isfinite(block).all():
                        bad = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                        raise ValueError(f"{name}: expected finite values, got NaN or infinity in row {bad} "
                                         f"(in the minibatch of rows {rows.start}..{rows.stop - 1}). A memmap is "
                                         "checked as its rows are read")
                else:
                    block = A[rows]
                result = fn(as_tensor(xp.asarray(block, dtype=like.dtype), like=like)).to_numpy()
                if not np.isfinite(result).all():
                    bad = start + int(np.flatnonzero(~np.isfinite(result).all(axis=1))[0])
                    raise ValueError(
                        f"{name}: row {bad} gives a non-finite result: its values (largest |value| in rows "
                        f"{rows.start}..{rows.stop - 1}: {float(np.abs(np.asarray(block, dtype=np.float64)).max()):.4g}) "
                        f"overflow the model's {np.dtype(like.dtype)} arithmetic; rescale the data"
                    )
                out.append(result)
        return np.concatenate(out, axis=0)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, codes: Any) -> np.ndarray:
        """Decode codes of shape (n_samples, n_components) to (n_samples, n_features)."""
        check_is_fitted(self)
        codes = validate_X(codes, "codes", self._dtype(), self.n_components, type(self).__name__, streamed=True)
        return self._batched(self.model_.decode, codes, "codes")

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))``: the reconstruction of ``X``."""
        return self.inverse_transform(self.transform(X))


class Autoencoder(_AutoencoderBase):
    """An autoencoder with a PCA-like interface (``fit``/``transform``/``inverse_transform``).

    Parameters
    ----------
    n_components : int, default 2
        Code size (width of the bottleneck).
    hidden_sizes : sequence of int, default ()
        Encoder hidden widths; the decoder mirrors them.
    activation : str, default "relu"
        Hidden activation: one of "sigmoid", "tanh", "relu", "leaky_relu",
        "elu", "softplus", "linear".
    code_activation : str, default "linear"
        Activation of the code layer (use "sigmoid" for KL sparsity).
    output_activation : str, default "linear"
        "sigmoid" for data in [0, 1].
    loss : {"mse", "bce"}
        "bce" needs ``output_activation="sigmoid"`` and data in [0, 1].
    sparsity : None, ("l1", weight) or ("kl", rho, beta)
    noise : None, ("gaussian", sigma), ("masking", fraction) or ("salt_and_pepper", fraction)
        Input corruption during training (denoising autoencoder); targets stay clean.
    contractive : float, default 0
        Weight of the contractive penalty λ‖∂h/∂x‖²_F (one-layer encoders).
    tied_weights : bool, default False
    weight_decay : float, default 0
    optimizer : {"adam", "adamw", "sgd"}
    learning_rate : float, default 1e-3
    epochs : int, default 200
    batch_size : int, default 32
    early_stopping : bool, default False
        Hold out ``validation_fraction`` and stop after ``n_iter_no_change``
        epochs without improvement by ``tol``; the best weights are kept.
    validation_fraction, n_iter_no_change, tol
    callbacks : list of callables, optional
        ``callback(epoch, logs, model)``; returning True stops training.
    init : str, optional
        Weight initialiser name (default: He for ReLU-like, else Glorot).
    dtype : {"float64", "float32"}
    random_state : None, int or numpy.random.Generator
        Seeds initial weights, shuffling and noise: the same int gives
        identical weights.
    verbose : int, default 0

    Attributes
    ----------
    model_ : AutoencoderModule
    history_ : History
    optimizer_ : Optimizer
    n_features_in_ : int
    n_iter_ : int
        Epochs run.
    loss_ : float
        Final training loss.
    """

    def __init__(self, n_components: int = 2, hidden_sizes: Sequence[int] = (), activation: str = "relu",
                 code_activation: str = "linear", output_activation: str = "linear", loss: str = "mse",
                 sparsity: Any = None, noise: Any = None, contractive: float = 0.0, tied_weights: bool = False,
                 weight_decay: float = 0.0, optimizer: str = "adam", learning_rate: float = 1e-3,
                 epochs: int = 200, batch_size: int = 32, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10, tol: float = 1e-4,
                 callbacks: Any = None, init: str | None = None, dtype: str = "float64",
                 random_state: Any = None, verbose: int = 0) -> None:
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.loss = loss
        self.sparsity = sparsity
        self.noise = noise
        self.contractive = contractive
        self.tied_weights = tied_weights
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.init = init
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_features: int, rng: np.random.Generator) -> AutoencoderModule:
        return AutoencoderModule(
            n_features, _positive_int(self.n_components, "n_components"), _hidden(self.hidden_sizes),
            activation=self.activation, code_activation=self.code_activation,
            output_activation=self.output_activation, loss=self.loss, tied_weights=bool(self.tied_weights),
            sparsity=self.sparsity, contractive=float(self.contractive), weight_decay=float(self.weight_decay),
            noise=self.noise, init=self.init, rng=rng, dtype=self._dtype(),
        )

    def transform(self, X: Any) -> np.ndarray:
        """The code ``h`` of each row: shape (n_samples, n_components)."""
        check_is_fitted(self)
        return self._batched(self.model_.encode, self._validate(X, reset=False, target=False))

    def score(self, X: Any, y: Any = None) -> float:
        """Negative mean reconstruction loss on ``X`` (higher is better), without penalties."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        rng = np.random.default_rng(0)
        return _finite_score(-evaluate_terms(self.model_, X, 1024, rng)["reconstruction"], X)


class VariationalAutoencoder(_AutoencoderBase):
    """A Gaussian-encoder VAE with the estimator interface.

    ``transform`` returns the posterior means ``mu``; ``inverse_transform``
    decodes latent points; ``sample`` draws new data from the prior.

    Parameters
    ----------
    n_components : int, default 2
        Latent dimension.
    hidden_sizes : sequence of int, default (64,)
    activation : str, default "relu"
    output_activation : str, default "sigmoid"
    loss : {"bce", "mse"}, default "bce"
    beta : float, default 1
        KL weight (1 gives the ELBO).
    optimizer, learning_rate, epochs, batch_size, early_stopping, validation_fraction,
    n_iter_no_change, tol, callbacks, init, dtype, random_state, verbose
        As for :class:`Autoencoder`.

    Attributes
    ----------
    model_ : VAEModule
    history_ : History
        ``"reconstruction"`` and ``"kl"`` per epoch; ``-loss`` is the ELBO per sample (β = 1).
    """

    def __init__(self, n_components: int = 2, hidden_sizes: Sequence[int] = (64,), activation: str = "relu",
                 output_activation: str = "sigmoid", loss: str = "bce", beta: float = 1.0,
                 optimizer: str = "adam", learning_rate: float = 1e-3, epochs: int = 200, batch_size: int = 32,
                 early_stopping: bool = False, validation_fraction: float = 0.1, n_iter_no_change: int = 10,
                 tol: float = 1e-4, callbacks: Any = None, init: str | None = None, dtype: str = "float64",
                 random_state: Any = None, verbose: int = 0) -> None:
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.beta = beta
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.init = init
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_features: int, rng: np.random.Generator) -> VAEModule:
        return VAEModule(
            n_features, _positive_int(self.n_components, "n_components"), _hidden(self.hidden_sizes),
            activation=self.activation, output_activation=self.output_activation, loss=self.loss,
            beta=float(self.beta), init=self.init, rng=rng, dtype=self._dtype(),
        )

    def transform(self, X: Any) -> np.ndarray:
        """Posterior means ``mu``: shape (n_samples, n_components)."""
        check_is_fitted(self)
        return self._batched(lambda block: self.model_.encode(block)[0], self._validate(X, reset=False, target=False))

    def sample(self, n_samples: int = 1, random_state: Any = None) -> np.ndarray:
        """Decode ``n_samples`` draws from the prior N(0, I): shape (n_samples, n_features)."""
        check_is_fitted(self)
        rng = check_random_state(random_state)
        z = rng.standard_normal((_positive_int(n_samples, "n_samples"), _positive_int(self.n_components, "n_components")))
        return self.inverse_transform(z)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per sample on ``X`` (one posterior sample each, seeded), higher is better."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        logs = evaluate_terms(self.model_, X, 1024, np.random.default_rng(0))
        return _finite_score(-logs["loss"], X)
