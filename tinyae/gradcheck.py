"""``gradcheck``: compare analytic gradients with central finite differences.

Works on any function of Tensors -- tinyae's own ops or yours.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinyae.tensor import Tensor, no_grad

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate.

    Attributes
    ----------
    input_index : int
        Position of the offending input among ``inputs``.
    element : tuple
        The worst element: ``(output_index, input_index)`` in ``full`` mode,
        ``("direction", k)`` in ``directional`` mode.
    analytic, numeric : float
    """

    def __init__(self, message: str, input_index: int, element: tuple, analytic: float, numeric: float):
        super().__init__(message)
        self.input_index = input_index
        self.element = element
        self.analytic = analytic
        self.numeric = numeric


def _prepare(inputs: tuple[Any, ...]) -> list[Tensor]:
    """float64 copies of the inputs; Tensors with requires_grad=False stay constants."""
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            out.append(Tensor(x.to_numpy().astype(np.float64), requires_grad=x.requires_grad))
        else:
            arr = np.asarray(x)
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"inputs[{i}]: expected a Tensor or numeric array, got {type(x).__name__}")
            out.append(Tensor(arr.astype(np.float64), requires_grad=True))
    if not any(t.requires_grad for t in out):
        raise ValueError("inputs: expected at least one input that requires grad, got none")
    return out


def _call(fn: Callable[..., Tensor], xs: list[Tensor]) -> Tensor:
    out = fn(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"fn: expected it to return a Tensor, got {type(out).__name__}")
    return out


def _values(fn: Callable[..., Tensor], xs: list[Tensor]) -> np.ndarray:
    with no_grad():
        return _call(fn, xs).to_numpy().astype(np.float64)


def _vjp(fn: Callable[..., Tensor], xs: list[Tensor], v: np.ndarray) -> list[np.ndarray]:
    """Gradients of ``sum(v * fn(xs))`` with respect to each input."""
    for x in xs:
        x.zero_grad()
    out = _call(fn, xs)
    if out.requires_grad:
        out.backward(v.reshape(out.shape))
    return [np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=np.float64) for x in xs]


def _fail(i: int, element: tuple, a: float, n: float, tol: float, where: str) -> GradcheckError:
    return GradcheckError(
        f"gradcheck failed for input {i}: worst element {where}: analytic {a!r}, numeric {n!r} "
        f"(|difference| {abs(a - n):.3g} > tolerance {tol:.3g})",
        i, element, a, n,
    )


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "auto",
    n_directions: int = 4,
    rng: np.random.Generator | None = None,
) -> bool:
    """Check ``fn``'s gradients against central finite differences in float64.

    Parameters
    ----------
    fn : callable
        ``fn(*tensors) -> Tensor`` of any shape.
    *inputs : Tensor or array_like
        Points to check at. They are copied to float64; an input given as a
        Tensor with ``requires_grad=False`` is held constant and not checked.
    eps : float
        Finite-difference step.
    atol, rtol : float
        An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    mode : {'auto', 'full', 'directional'}
        ``full`` compares the whole Jacobian, every input element against
        every output element (``n_in`` perturbations and ``n_out`` backward
        passes: for small inputs). ``directional`` compares ``v^T J u`` for
        random unit directions ``u`` (per input) and ``v`` (output), which
        costs 2 evaluations and 1 backward pass per direction at any size.
        ``auto`` picks ``full`` when every input and the output have at most
        64 elements.
    n_directions : int
        Directions per input in ``directional`` mode.
    rng : numpy.random.Generator, optional
        Source of the random directions (default: seeded with 0, so a
        check is repeatable).

    Returns
    -------
    True
        When every comparison passes.

    Raises
    ------
    GradcheckError
        Naming the input, the worst element, and the analytic and numeric values.

    Notes
    -----
    The numeric derivative is ``(f(x + eps e) - f(x - eps e)) / (2 eps)``,
    whose error is ``O(eps^2)`` from truncation plus ``O(1e-16 |f| / eps)``
    from rounding: about 1e-10 for ``eps = 1e-6`` and ``|f| ~ 1``.
    """
    if mode not in ("auto", "full", "directional"):
        raise ValueError(f"mode: expected 'auto', 'full' or 'directional', got {mode!r}")
    if not (eps > 0):
        raise ValueError(f"eps: expected a positive number, got {eps!r}")
    if not isinstance(n_directions, (int, np.integer)) or n_directions < 1:
        raise ValueError(f"n_directions: expected a positive integer, got {n_directions!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    xs = _prepare(inputs)
    f0 = _values(fn, xs)
    if not np.all(np.isfinite(f0)):
        raise ValueError("fn: expected finite outputs at the given inputs, got nan or inf")
    if mode == "auto":
        small = f0.size <= 64 and all(x.size <= 64 for x in xs)
        mode = "full" if small else "directional"
    if mode == "full":
        _check_full(fn, xs, f0, eps, atol, rtol)
    else:
        _check_directional(fn, xs, f0, eps, atol, rtol, n_directions, rng)
    return True


def _check_full(fn, xs, f0, eps, atol, rtol) -> None:
    n_out = f0.size
    analytic = []  # analytic[i][o] = d out[o] / d xs[i], flattened
    rows = [_vjp(fn, xs, np.eye(1, n_out, o).reshape(f0.shape)) for o in range(n_out)]
    for i in range(len(xs)):
        analytic.append(np.stack([r[i].ravel() for r in rows]) if n_out else np.zeros((0, xs[i].size)))
    for i, x in enumerate(xs):
        if not x.requires_grad:
            continue
        flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
        numeric = np.empty((n_out, x.size))
        for j in range(x.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = _values(fn, xs).ravel()
            flat[j] = orig - eps
            minus = _values(fn, xs).ravel()
            flat[j] = orig
            numeric[:, j] = (plus - minus) / (2 * eps)
        excess = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and excess.max() > 0:
            o, j = np.unravel_index(np.argmax(excess), excess.shape)
            a, n = float(analytic[i][o, j]), float(numeric[o, j])
            out_idx = tuple(int(k) for k in np.unravel_index(o, f0.shape))
            in_idx = tuple(int(k) for k in np.unravel_index(j, x.shape))
            raise _fail(i, (out_idx, in_idx), a, n, atol + rtol * abs(n),
                        f"d out{list(out_idx)} / d input{list(in_idx)}")


def _check_directional(fn, xs, f0, eps, atol, rtol, n_directions, rng) -> None:
    for i, x in enumerate(xs):
        if not x.requires_grad:
            continue
        worst = None
        for k in range(n_directions):
            u = rng.standard_normal(x.shape)
            u /= np.linalg.norm(u) or 1.0
            v = rng.standard_normal(f0.shape)
            v /= np.linalg.norm(v) or 1.0
            a = float(np.sum(_vjp(fn, xs, v)[i] * u))
            orig = x.data.copy()
            x.data[...] = orig + eps * u
            plus = _values(fn, xs)
            x.data[...] = orig - eps * u
            minus = _values(fn, xs)
            x.data[...] = orig
            n = float(np.sum(v * (plus - minus)) / (2 * eps))
            tol = atol + rtol * abs(n)
            if abs(a - n) > tol and (worst is None or abs(a - n) - tol > worst[0]):
                worst = (abs(a - n) - tol, k, a, n, tol)
        if worst is not None:
            _, k, a, n, tol = worst
            raise _fail(i, ("direction", k), a, n, tol, f"v^T J u along random direction {k}")
