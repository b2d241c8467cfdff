"""Hypothesis strategies for property-testing ops, yours or tinyae's own.

tinyae's test-suite generates every op's inputs with these strategies; use
them to test your own ops the same way::

    from hypothesis import given
    import tinyae as ta
    from tinyae import testing

    @given(testing.tensors("positive"))
    def test_my_log_gradient(x):
        assert ta.gradcheck(my_log, x)

Every array is bounded and finite (no NaN, no inf). An op with a restricted
domain (``log``, ``sqrt``, division, ``pow``) gets inputs *shifted into* its
domain -- e.g. ``|x| + margin`` for ``log`` -- never filtered, so Hypothesis
does not waste examples and every drawn value is usable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("tinyae.testing needs hypothesis: pip install 'tinyae[test]'") from exc

from tinyae.tensor import Tensor

__all__ = ["DOMAINS", "shapes", "arrays", "broadcastable_shapes", "to_domain", "domain_arrays", "tensors"]

DOMAINS = ("real", "positive", "pow", "nonzero", "unit")


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 5) -> st.SearchStrategy:
    """Array shapes with ``min_dims..max_dims`` axes of length ``min_side..max_side``.

    Parameters
    ----------
    min_dims, max_dims : int
        Bounds on the number of axes (0 gives scalars, shape ``()``).
    min_side, max_side : int
        Bounds on the length of each axis.

    Returns
    -------
    SearchStrategy of tuple of int
    """
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def _representable(value: float, dtype: np.dtype, inward: float) -> float:
    """``value`` rounded to ``dtype``, nudged towards ``inward`` if rounding moved it outwards."""
    rounded = dtype.type(value)
    if (float(rounded) - value) * (inward - value) < 0:
        rounded = np.nextafter(rounded, dtype.type(inward))
    return float(rounded)


def arrays(
    shape: Any = None,
    dtype: Any = np.float64,
    min_value: float = -10.0,
    max_value: float = 10.0,
    allow_subnormal: bool = True,
) -> st.SearchStrategy:
    """Finite float arrays with every element in ``[min_value, max_value]``.

    Parameters
    ----------
    shape : tuple of int, int, SearchStrategy or None
        A fixed shape, or a strategy of shapes; ``None`` means :func:`shapes()`.
    dtype : {float64, float32}
    min_value, max_value : float
        Bounds on the elements (rounded inwards to ``dtype``).
    allow_subnormal : bool, default True
        Whether tiny subnormal values (e.g. ``5e-324``) may appear; switch them
        off when comparing with a reference that mishandles them.

    Returns
    -------
    SearchStrategy of numpy.ndarray
        Arrays of ``dtype`` with no NaN and no infinity.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype: expected a float dtype, got {dtype}")
    if not min_value <= max_value:
        raise ValueError(f"min_value: expected <= max_value, got {min_value} > {max_value}")
    lo = _representable(min_value, dtype, max_value)
    hi = _representable(max_value, dtype, min_value)
    elements = st.floats(
        lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=allow_subnormal, width=8 * dtype.itemsize
    )
    return hnp.arrays(dtype, shapes() if shape is None else shape, elements=elements)


def broadcastable_shapes(
    num_shapes: int = 2,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 5,
) -> st.SearchStrategy:
    """Tuples of ``num_shapes`` shapes that broadcast together.

    Parameters
    ----------
    num_shapes : int
        How many shapes per example (2 gives pairs ``(shape_a, shape_b)``).
    min_dims, max_dims, min_side, max_side : int
        As in :func:`shapes`; axes of length 1 appear so broadcasting happens.

    Returns
    -------
    SearchStrategy of tuple of tuple of int
        ``np.broadcast_shapes(*shapes)`` succeeds for every example.
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda result: tuple(result.input_shapes))


def to_domain(x: np.ndarray, domain: str, margin: float = 0.1) -> np.ndarray:
    """Shift real values ``x`` into ``domain`` (a map, not a filter).

    Parameters
    ----------
    x : numpy.ndarray
        Finite real values.
    domain : {'real', 'positive', 'pow', 'nonzero', 'unit'}
        ``real``: ``x`` unchanged.
        ``positive`` (``log``, ``sqrt``): ``|x| + margin``, so every value is ``>= margin``.
        ``pow`` (``a ** p`` for any real ``p``): ``|x| + max(margin, 0.5)``; the larger
        margin keeps negative and fractional powers and their derivatives moderate.
        ``nonzero`` (divisors, kinks at 0): ``sign(x) * (|x| + margin)`` with
        ``sign(0) = +1``, so ``|value| >= margin``.
        ``unit`` (probabilities, targets): ``margin + (1 - 2 margin) * sigmoid(x)``,
        inside the open interval ``(0, 1)``.
    margin : float
        Distance kept from the edge of the domain: positive, and below 0.5 for ``unit``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    if not margin > 0 or (domain == "unit" and not margin < 0.5):
        raise ValueError(f"margin: expected a positive number (below 0.5 for 'unit'), got {margin!r}")
    x = np.asarray(x)
    if domain == "real":
        out = x
    elif domain == "positive":
        out = np.abs(x) + margin
    elif domain == "pow":
        out = np.abs(x) + max(margin, 0.5)
    elif domain == "nonzero":
        out = np.where(x >= 0, 1.0, -1.0) * (np.abs(x) + margin)
    elif domain == "unit":
        out = 0.5 + (0.5 - margin) * np.tanh(x / 2)  # = margin + (1 - 2 margin) sigmoid(x)
    else:
        raise ValueError(f"domain: expected one of {DOMAINS}, got {domain!r}")
    return np.asarray(out, dtype=x.dtype)


def domain_arrays(
    domain: str = "real",
    shape: Any = None,
    dtype: Any = np.float64,
    margin: float = 0.1,
    min_value: float = -10.0,
    max_value: float = 10.0,
) -> st.SearchStrategy:
    """Bounded finite arrays shifted into an op's input domain.

    Parameters
    ----------
    domain : {'real', 'positive', 'pow', 'nonzero', 'unit'}
        See :func:`to_domain`.
    shape, dtype, min_value, max_value
        As in :func:`arrays` (the bounds apply before the shift).
    margin : float
        As in :func:`to_domain`.

    Returns
    -------
    SearchStrategy of numpy.ndarray
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain: expected one of {DOMAINS}, got {domain!r}")
    return arrays(shape, dtype, min_value, max_value).map(lambda x: to_domain(x, domain, margin))


def tensors(
    domain: str = "real",
    shape: Any = None,
    dtype: Any = np.float64,
    requires_grad: bool = True,
    **kwargs: Any,
) -> st.SearchStrategy:
    """Tensors whose values come from :func:`domain_arrays`.

    Parameters
    ----------
    domain, shape, dtype
        As in :func:`domain_arrays`; further keyword arguments go to it too.
    requires_grad : bool, default True
        So the Tensors are ready for ``backward()`` and :func:`tinyae.gradcheck`.

    Returns
    -------
    SearchStrategy of tinyae.Tensor
    """
    return domain_arrays(domain, shape, dtype, **kwargs).map(lambda x: Tensor(x, requires_grad=requires_grad))
