"""Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules.

Every optimizer updates ``p.data`` *in place*, so modules, closures and
checkpoints that hold the parameter arrays keep seeing the current values.
Array math uses the parameter's own array module (``p.backend.xp``), so the
same code runs on any registered backend.

``state_dict()`` returns only numbers, strings, lists and NumPy arrays (no
objects), so a checkpoint can store it as JSON plus ``.npz`` without pickle.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from tinyae.backend import backend_of
from tinyae.tensor import Tensor

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm",
    "StepLR", "ExponentialLR", "CosineLR", "OPTIMIZERS", "get_optimizer",
]

Schedule = Callable[[int, float], float]


# -- argument checks ------------------------------------------------------

def _real(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def _nonneg(name: str, value: Any) -> float:
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value}")
    return value


def _positive(name: str, value: Any) -> float:
    value = _real(name, value)
    if value <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {value}")
    return value


def _unit(name: str, value: Any) -> float:
    value = _real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value}")
    return value


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def _check_params(params: Any) -> list[Tensor]:
    if isinstance(params, Tensor):
        raise TypeError("params: expected an iterable of Tensors, got a single Tensor (wrap it in a list)")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"params: expected an iterable of Tensors, got {type(params).__name__}") from None
    if not params:
        raise ValueError("params: expected at least one Tensor, got an empty list")
    seen: set[int] = set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{i}]: expected a Tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"params[{i}]: expected a Tensor with requires_grad=True, got requires_grad=False")
        if id(p) in seen:
            raise ValueError(f"params[{i}]: expected distinct Tensors, got the same Tensor twice")
        seen.add(id(p))
    return params


def _to_numpy(array: Any) -> np.ndarray:
    # CuPy arrays expose .get(); a checkpoint must hold host memory.
    if not isinstance(array, np.ndarray) and hasattr(array, "get"):
        return array.get()
    return np.array(array, copy=True)


# -- gradient clipping ------------------------------------------------------

def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients together so their joint L2 norm is at most ``max_norm``.

    Parameters
    ----------
    params : iterable of Tensor
        Tensors whose ``.grad`` is clipped in place; those with ``grad=None``
        are skipped.
    max_norm : float
        Largest allowed total norm, > 0.

    Returns
    -------
    float
        The total norm *before* clipping.

    Notes
    -----
    With :math:`N = \\sqrt{\\sum_p \\lVert g_p \\rVert_2^2}`, every gradient is
    multiplied by :math:`c = \\text{max\\_norm} / (N + 10^{-6})` when
    :math:`N > \\text{max\\_norm}` (PyTorch's ``clip_grad_norm_``); the common
    factor keeps the direction of the joint gradient. A non-finite ``N`` leaves
    the gradients untouched: the returned ``inf``/``nan`` lets the caller
    skip the step instead of writing zeros or NaNs into every gradient.
    """
    max_norm = _positive("max_norm", max_norm)
    if isinstance(params, Tensor):
        params = [params]
    grads = [p.grad for p in params if p.grad is not None]
    # Combine per-tensor norms in Python float64 so many float32 tensors do not
    # accumulate their rounding into the total.
    total = math.sqrt(sum(float(backend_of(g).xp.linalg.norm(g.reshape(-1))) ** 2 for g in grads))
    if math.isfinite(total) and total > max_norm:
        coef = max_norm / (total + 1e-6)
        for g in grads:
            g *= coef
    return total


# -- learning-rate schedules -------------------------------------------------

class StepLR:
    """``lr = base_lr * gamma ** (epoch // step_size)``: decay by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _int("step_size", step_size, 1)
        self.gamma = _positive("gamma", gamma)

    def __call__(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (_int("epoch", epoch, 0) // self.step_size)

    def __repr__(self) -> str:
        return f"StepLR(step_size={self.step_size}, gamma={self.gamma})"


class ExponentialLR:
    """``lr = base_lr * gamma ** epoch``."""

    def __init__(self, gamma: float) -> None:
        self.gamma = _positive("gamma", gamma)

    def __call__(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** _int("epoch", epoch, 0)

    def __repr__(self) -> str:
        return f"ExponentialLR(gamma={self.gamma})"


class CosineLR:
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``t_max`` epochs.

    Notes
    -----
    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * min(epoch, t_max) / t_max)) / 2``
    (Loshchilov & Hutter 2017, without restarts). Unlike PyTorch's closed form,
    the epoch is clamped at ``t_max``, so training past ``t_max`` stays at
    ``eta_min`` instead of climbing back up the cosine.
    """

    def __init__(self, t_max: int, eta_min: float = 0.0) -> None:
        self.t_max = _int("t_max", t_max, 1)
        self.eta_min = _nonneg("eta_min", eta_min)

    def __call__(self, epoch: int, base_lr: float) -> float:
        t = min(_int("epoch", epoch, 0), self.t_max)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + math.cos(math.pi * t / self.t_max)) / 2.0

    def __repr__(self) -> str:
        return f"CosineLR(t_max={self.t_max}, eta_min={self.eta_min})"


# -- optimizers -----------------------------------------------------------------

class Optimizer:
    """Base class: parameter list, learning rate, schedule, clipping, state.

    Parameters
    ----------
    params : iterable of Tensor
        Distinct Tensors with ``requires_grad=True``; at least one.
    lr : float
        Base learning rate, >= 0.
    clip_norm : float, optional
        If given, :func:`clip_grad_norm` with this ``max_norm`` runs at the
        start of every :meth:`step`.
    schedule : callable, optional
        ``schedule(epoch, base_lr) -> lr`` (e.g. :class:`StepLR`); applied by
        :meth:`set_epoch`, and once at construction for epoch 0.

    Notes
    -----
    Subclasses list their per-parameter buffers in ``state`` (a dict of name
    to list of arrays, one per parameter) and implement ``_update(i, p, g)``.
    Parameters whose ``grad`` is None are skipped by :meth:`step`.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, *,
                 clip_norm: float | None = None, schedule: Schedule | None = None) -> None:
        self.params = _check_params(params)
        self.base_lr = _nonneg("lr", lr)
        self._lr = self.base_lr
        self.clip_norm = None if clip_norm is None else _positive("clip_norm", clip_norm)
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule: expected None or a callable (epoch, base_lr) -> lr, got {type(schedule).__name__}")
        self.schedule = schedule
        self.steps = 0
        self.epoch = 0
        self.state: dict[str, list[Any]] = {}
        if schedule is not None:
            self.set_epoch(0)

    @property
    def lr(self) -> float:
        """The current learning rate (set by the schedule, or by hand)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _nonneg("lr", value)

    def set_epoch(self, epoch: int) -> float:
        """Record ``epoch`` and, with a schedule, set ``lr = schedule(epoch, base_lr)``; returns ``lr``."""
        self.epoch = _int("epoch", epoch, 0)
        if self.schedule is not None:
            value = self.schedule(self.epoch, self.base_lr)
            try:
                self.lr = value
            except (TypeError, ValueError) as exc:
                raise ValueError(f"schedule: returned an invalid learning rate for epoch {epoch}: {exc}") from None
        return self._lr

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to None."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        # Check every gradient first so a bad one cannot leave a half-applied step.
        items = []
        for i, p in enumerate(self.params):
            g = p.grad
            if g is not None:
                if g.shape != p.data.shape:
                    raise ValueError(f"params[{i}].grad: expected shape {p.data.shape}, got {g.shape}")
                items.append((i, p, g))
        if self.clip_norm is not None:
            clip_grad_norm(self.params, self.clip_norm)
        self.steps += 1
        self._update_all(items)

    def _update_all(self, items: list[tuple[int, Tensor, Any]]) -> None:
        """Update every ``(index, parameter, gradient)``; subclasses may batch them."""
        for i, p, g in items:
            self._update(i, p, g)

    def _update(self, i: int, p: Tensor, g: Any) -> None:
        raise NotImplementedError

    # -- checkpointing ---------------------------------------------------------
    def _hyperparameters(self) -> dict[str, Any]:
        """Scalar settings saved in the state dict (JSON types only)."""
        return {}

    def _parse_hyperparameters(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the settings in ``state``; returns attribute name -> value."""
        return {}

    def _buffer_names(self, hyper: Mapping[str, Any]) -> tuple[str, ...]:
        """Per-parameter array buffers that exist under settings ``hyper``."""
        return ()

    def _zeros(self) -> list[Any]:
        return [p.backend.xp.zeros_like(p.data) for p in self.params]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: counters, settings and buffers (copied to NumPy)."""
        out: dict[str, Any] = {
            "type": type(self).__name__, "step": self.steps, "epoch": self.epoch,
            "lr": self._lr, "base_lr": self.base_lr, "clip_norm": self.clip_norm,
        }
        out.update(self._hyperparameters())
        for name, buffers in self.state.items():
            out[name] = [_to_numpy(b) for b in buffers]
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; buffers are copied into the existing arrays.

        Everything is validated before anything changes, so a bad dict leaves
        the optimizer as it was.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state: expected a dict from state_dict(), got {type(state).__name__}")
        kind = state.get("type")
        if kind != type(self).__name__:
            raise ValueError(f"state['type']: expected {type(self).__name__!r}, got {kind!r}")
        for key in ("step", "epoch", "lr", "base_lr", "clip_norm"):
            if key not in state:
                raise ValueError(f"state: expected key {key!r}, missing")
        steps = _int("state['step']", state["step"], 0)
        epoch = _int("state['epoch']", state["epoch"], 0)
        lr = _nonneg("state['lr']", state["lr"])
        base_lr = _nonneg("state['base_lr']", state["base_lr"])
        clip = None if state["clip_norm"] is None else _positive("state['clip_norm']", state["clip_norm"])
        hyper = self._parse_hyperparameters(state)
        names = self._buffer_names(hyper)
        n = len(self.params)
        for name in names:
            arrays = state.get(name)
            if not isinstance(arrays, (list, tuple)) or len(arrays) != n:
                got = f"length {len(arrays)}" if isinstance(arrays, (list, tuple)) else type(arrays).__name__
                raise ValueError(f"state[{name!r}]: expected a list of {n} arrays, got {got}")
            for i, (a, p) in enumerate(zip(arrays, self.params)):
                if np.shape(a) != p.data.shape:
                    raise ValueError(f"state[{name!r}][{i}]: expected shape {p.data.shape}, got {np.shape(a)}")
        self.steps, self.epoch, self._lr, self.base_lr, self.clip_norm = steps, epoch, lr, base_lr, clip
        for attr, value in hyper.items():
            setattr(self, attr, value)
        if set(self.state) != set(names):
            self.state = {name: self._zeros() for name in names}
        for name in names:
            for buf, a, p in zip(self.state[name], state[name], self.params):
                buf[...] = p.backend.xp.asarray(a, dtype=buf.dtype)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 decay.

    Parameters
    ----------
    params, lr, clip_norm, schedule
        See :class:`Optimizer`; ``lr`` defaults to 0.01.
    momentum : float in [0, 1), default 0
    nesterov : bool, default False
        Requires ``momentum > 0``.
    weight_decay : float >= 0, default 0
        L2 penalty: ``wd * p`` is added to the gradient.

    Notes
    -----
    PyTorch's convention (Sutskever et al. 2013 rearranged), per parameter::

        g   = grad + wd * p
        buf = momentum * buf + g            (buf = g at the first step)
        d   = g + momentum * buf  if nesterov  else  buf     (d = g if momentum = 0)
        p  -= lr * d

    ``buf`` starts as zeros, which gives exactly ``buf = g`` at the first step.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, *,
                 clip_norm: float | None = None, schedule: Schedule | None = None) -> None:
        super().__init__(params, lr, clip_norm=clip_norm, schedule=schedule)
        hyper = self._validate(momentum, nesterov, weight_decay, "")
        for attr, value in hyper.items():
            setattr(self, attr, value)
        self.state = {name: self._zeros() for name in self._buffer_names(hyper)}

    @staticmethod
    def _validate(momentum: Any, nesterov: Any, weight_decay: Any, prefix: str) -> dict[str, Any]:
        def name(key: str) -> str:
            return f"state[{key!r}]" if prefix else key
        momentum = _unit(name("momentum"), momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"{name('nesterov')}: expected bool, got {type(nesterov).__name__}")
        if nesterov and momentum <= 0:
            raise ValueError(f"{name('nesterov')}: nesterov=True expects momentum > 0, got momentum={momentum}")
        return {"momentum": momentum, "nesterov": bool(nesterov),
                "weight_decay": _nonneg(name("weight_decay"), weight_decay)}

    def _hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _parse_hyperparameters(self, state: Mapping[str, Any]) -> dict[str, Any]:
        for key in ("momentum", "nesterov", "weight_decay"):
            if key not in state:
                raise ValueError(f"state: expected key {key!r}, missing")
        return self._validate(state["momentum"], state["nesterov"], state["weight_decay"], "state")

    def _buffer_names(self, hyper: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if hyper["momentum"] > 0 else ()

    def _update(self, i: int, p: Tensor, g: Any) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p.data  # a new array: p.grad itself stays the raw gradient
        if self.momentum:
            buf = self.state["momentum_buffer"][i]
            buf *= self.momentum
            buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        p.data -= self._lr * g


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015, Algorithm 1).

    Parameters
    ----------
    params, lr, clip_norm, schedule
        See :class:`Optimizer`; ``lr`` defaults to 1e-3.
    betas : (float, float), each in [0, 1), default (0.9, 0.999)
        Decay rates of the first and second moment estimates.
    eps : float > 0, default 1e-8
    weight_decay : float >= 0, default 0
        L2 penalty added to the gradient (PyTorch ``Adam``); see :class:`AdamW`
        for the decoupled form.

    Notes
    -----
    With ``t`` the number of updates this parameter has received::

        g  = grad + wd * p
        m  = b1 m + (1 - b1) g
        v  = b2 v + (1 - b2) g**2
        p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)

    computed as ``p -= step * m / (sqrt(v) + eps * sqrt(1 - b2**t))`` with
    ``step = lr * sqrt(1 - b2**t) / (1 - b1**t)`` (Kingma & Ba's reordering):
    the same value with one division per element. Moments below the dtype's
    smallest normal number are set to 0 (see
    :func:`tinyae.backend.numpy_kernels.adam_update`): a dead unit's first
    moment would otherwise stick at the smallest subnormal and slow every
    step down.
    """

    _decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *,
                 clip_norm: float | None = None, schedule: Schedule | None = None) -> None:
        super().__init__(params, lr, clip_norm=clip_norm, schedule=schedule)
        for attr, value in self._validate(betas, eps, weight_decay, "").items():
            setattr(self, attr, value)
        # Per-parameter counts, as in PyTorch: a parameter skipped on some steps
        # (grad None) gets the bias correction for the updates it actually had.
        self.param_steps = [0] * len(self.params)
        self.state = {"m": self._zeros(), "v": self._zeros()}
        self._flat_cache: dict[int, tuple[Any, ...]] = {}  # see _flat_views

    @staticmethod
    def _validate(betas: Any, eps: Any, weight_decay: Any, prefix: str) -> dict[str, Any]:
        def name(key: str) -> str:
            return f"state[{key!r}]" if prefix else key
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name('betas')}: expected a pair (beta1, beta2), got {betas!r}")
        b1 = _unit(name("betas") + "[0]", betas[0])
        b2 = _unit(name("betas") + "[1]", betas[1])
        return {"betas": (b1, b2), "eps": _positive(name("eps"), eps),
                "weight_decay": _nonneg(name("weight_decay"), weight_decay)}

    def _hyperparameters(self) -> dict[str, Any]:
        return {"betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay,
                "param_steps": list(self.param_steps)}

    def _parse_hyperparameters(self, state: Mapping[str, Any]) -> dict[str, Any]:
        for key in ("betas", "eps", "weight_decay", "param_steps"):
            if key not in state:
                raise ValueError(f"state: expected key {key!r}, missing")
        hyper = self._validate(state["betas"], state["eps"], state["weight_decay"], "state")
        steps = state["param_steps"]
        if not isinstance(steps, (list, tuple)) or len(steps) != len(self.params):
            raise ValueError(f"state['param_steps']: expected a list of {len(self.params)} ints, got {steps!r}")
        hyper["param_steps"] = [_int(f"state['param_steps'][{i}]", s, 0) for i, s in enumerate(steps)]
        return hyper

    def _buffer_names(self, hyper: Mapping[str, Any]) -> tuple[str, ...]:
        return ("m", "v")

    def _update_all(self, items: list[tuple[int, Tensor, Any]]) -> None:
        backend = items[0][1]._backend if items else None
        cache = self._flat_cache
        m_all, v_all = self.state["m"], self.state["v"]
        ps, gs, ms, vs = [], [], [], []
        for i, p, g in items:
            if p._backend is not backend:
                return super()._update_all(items)
            data, m, v = p.data, m_all[i], v_all[i]
            hit = cache.get(i)
            if hit is None or hit[0] is not data or hit[1] is not m or hit[2] is not v:
                hit = cache[i] = self._flat_views(data, m, v)
            ps.append(hit[3])
            ms.append(hit[4])
            vs.append(hit[5])
            gs.append(g if hit[3] is data else g.reshape(hit[3].shape))
        steps = self.param_steps
        for i, _, _ in items:
            steps[i] += 1
        # All parameters in one kernel-module call: per-call overhead dominates small models.
        backend.kernels.adam_update_many(ps, gs, ms, vs, self._lr, *self.betas, self.eps,
                                         [steps[i] for i, _, _ in items], self.weight_decay, self._decoupled)

    @staticmethod
    def _flat_views(data: Any, m: Any, v: Any) -> tuple[Any, ...]:
        """``(data, m, v)`` and 1-D views of them, made once per parameter and reused.

        The fast kernels work on flat arrays; making 12 views per step cost
        more than the update of a small model. ``_update_all`` remakes them
        whenever ``p.data`` or a moment buffer is replaced (``load_state_dict``).
        """
        arrays = (data, m, v)
        # reshape(-1) of a non-contiguous array would be a copy, so then all three stay as they are.
        if all(a.flags.c_contiguous for a in arrays):
            return (data, m, v, *(a.reshape(-1) for a in arrays))
        return (data, m, v, data, m, v)

    def _update(self, i: int, p: Tensor, g: Any) -> None:
        b1, b2 = self.betas
        self.param_steps[i] += 1
        # One pass over memory on the Numba/CuPy backends; the NumPy twin is the specification.
        p.backend.kernels.adam_update(p.data, g, self.state["m"][i], self.state["v"][i], self._lr, b1, b2,
                                      self.eps, self.param_steps[i], self.weight_decay, self._decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019; PyTorch ``AdamW``).

    Same parameters as :class:`Adam`, but ``weight_decay`` defaults to 1e-2 and
    is applied to the weights directly, before the Adam step and without
    passing through the moment estimates::

        p -= lr * wd * p
        (then the Adam update with g = grad)
    """

    _decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, *,
                 clip_norm: float | None = None, schedule: Schedule | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, clip_norm=clip_norm, schedule=schedule)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(name: str, params: Iterable[Tensor], **kwargs: Any) -> Optimizer:
    """Build an optimizer by name (``"sgd"``, ``"adam"`` or ``"adamw"``, any case)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, one of {sorted(OPTIMIZERS)}, got {type(name).__name__}")
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"name: expected one of {sorted(OPTIMIZERS)}, got {name!r}") from None
    return cls(params, **kwargs)
