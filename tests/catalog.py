"""The op catalog: every differentiable op of tinyae, registered once.

Each :class:`OpSpec` says how to call the op on Tensors (``fn``), how to
compute the same thing on plain arrays (``ref(xp, *arrays)``, written so
``xp`` may be ``numpy`` or ``autograd.numpy``), which shapes its arguments
take and which domain each argument's values come from. ``test_ops.py``
checks every entry's forward against NumPy, its gradient with ``gradcheck``
and that ``gradcheck`` catches a corrupted backward; ``test_independent_autodiff.py``
composes entries and compares gradients with HIPS autograd.

Non-smooth ops get inputs *shifted* away from their kinks rather than
filtered: ``offint`` values sit at least 0.1 from every integer, so kinks
placed at integers (``abs``/``relu`` at 0, ``clip`` at -2 and 3,
``maximum(x, int)``) are never within a finite-difference step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

import tinyae as ta
from tinyae import functional as F
from tinyae import ops, testing

# -- domains: tinyae.testing's public ones plus three for non-smooth ops ----------


def _offint(x):  # at least 0.1 from every integer
    return np.floor(x) + 0.1 + 0.8 * (x - np.floor(x))


def _distinct(x):  # strictly increasing in x, ties broken by position, gaps >= 0.5
    ranks = np.argsort(np.argsort(x, axis=None, kind="stable"), kind="stable").reshape(np.shape(x))
    return x + 0.5 * ranks


_PRIVATE = {"offint": _offint, "int": np.round, "distinct": _distinct}


def to_domain(x: np.ndarray, domain: str) -> np.ndarray:
    """Map real ``x`` into ``domain`` (see the module docstring and ``tinyae.testing.to_domain``)."""
    if domain in _PRIVATE:
        return np.asarray(_PRIVATE[domain](x), dtype=x.dtype)
    return testing.to_domain(x, domain)


# -- the spec ------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    name: str
    fn: Callable[..., ta.Tensor]           # on Tensors
    ref: Callable[..., Any]                # ref(xp, *arrays), xp = numpy or autograd.numpy
    domains: tuple[str, ...]               # one per argument
    kind: str                              # unary, elementwise_broadcast, matmul, reduce, shape, loss
    shapes: st.SearchStrategy              # tuples of argument shapes
    example: tuple[tuple[int, ...], ...]   # fixed argument shapes for deterministic tests
    extreme: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    # extreme(x) -> (exact output, exact d(sum of output)/dx) for large |x| (others held at 0.25)

    @property
    def arity(self) -> int:
        return len(self.domains)


def inputs(spec: OpSpec, min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy:
    """Float64 argument arrays for ``spec``, each shifted into its domain."""

    @st.composite
    def draw_inputs(draw):
        shapes = draw(spec.shapes)
        return tuple(
            to_domain(draw(testing.arrays(s, np.float64, min_value, max_value)), d)
            for s, d in zip(shapes, spec.domains)
        )

    return draw_inputs()


def example_inputs(spec: OpSpec, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Deterministic float64 arguments of the ``example`` shapes."""
    rng = np.random.default_rng(seed)
    return tuple(to_domain(rng.uniform(-3, 3, s), d) for s, d in zip(spec.example, spec.domains))


# -- shape strategies --------------------------------------------------------------

def _one(**kw):
    return testing.shapes(**kw).map(lambda s: (s,))


PAIR = testing.broadcastable_shapes(2, max_dims=3, max_side=4)
SIDE = st.integers(1, 4)


@st.composite
def _matmul_shapes(draw, a_dims, b_dims):
    n, k, m, batch = draw(SIDE), draw(SIDE), draw(SIDE), draw(SIDE)
    a = {1: (k,), 2: (n, k), 3: (batch, n, k)}[a_dims]
    b = {1: (k,), 2: (k, m), 3: (batch, k, m)}[b_dims]
    return a, b


@st.composite
def _batched_shapes(draw):  # broadcast batch dimensions on both sides
    n, k, m = draw(SIDE), draw(SIDE), draw(SIDE)
    batch_a, batch_b = draw(testing.broadcastable_shapes(2, min_dims=1, max_dims=2, max_side=3))
    return batch_a + (n, k), batch_b + (k, m)


@st.composite
def _concat_shapes(draw, count, axis, ndim=2):
    base = list(draw(testing.shapes(min_dims=ndim, max_dims=ndim, max_side=4)))
    out = []
    for _ in range(count):
        base[axis] = draw(SIDE)
        out.append(tuple(base))
    return tuple(out)


def _same_pair(**kw):
    return testing.shapes(**kw).map(lambda s: (s, s))


def _pattern(shape):  # a fixed boolean mask for where() and mask indexing
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) % 3 != 1


# -- exact limiting values for |x| large (e = exp(-|x|), tiny or 0) ---------------------

def _e(x):
    with np.errstate(under="ignore"):
        return np.exp(-np.abs(x))


def _sigmoid_limit(x):
    e = _e(x)
    return np.where(x > 0, 1 - e, e), e


def _bce_limit(reduction):
    def limit(z):  # target 0.25: softplus(z) - 0.25 z, gradient sigmoid(z) - 0.25
        e = _e(z)
        value = np.maximum(z, 0) + e - 0.25 * z
        grad = np.where(z > 0, 1 - e, e) - 0.25
        if reduction == "mean":
            return value.mean(), grad / z.size
        return (value.sum(), grad) if reduction == "sum" else (value, grad)
    return limit


# -- references written once for numpy and autograd.numpy ----------------------------

def _sigmoid(xp, x):
    return 0.5 * (xp.tanh(0.5 * x) + 1.0)


def _softplus(xp, x):
    return xp.logaddexp(0.0, x)


def _reduce(xp, v, reduction):
    return xp.mean(v) if reduction == "mean" else xp.sum(v) if reduction == "sum" else v


def _elu(xp, x, alpha=1.0):
    return xp.where(x > 0, x, alpha * (xp.exp(xp.where(x > 0, 0.0, x)) - 1.0))


def _clip(xp, x, lo, hi):  # the gradient passes at the bounds, as in tinyae
    if lo is not None:
        x = xp.where(x < lo, lo, x)
    if hi is not None:
        x = xp.where(x > hi, hi, x)
    return x


def _where(xp, a, b):  # broadcast explicitly: autograd's where() gradient does not unbroadcast
    zeros = np.zeros(np.broadcast_shapes(np.shape(a), np.shape(b)))
    return xp.where(_pattern(zeros.shape), a + zeros, b + zeros)


# -- the catalog ---------------------------------------------------------------------

UNARY = _one(max_dims=3, max_side=4)
EX1, EX2 = ((3, 4),), ((3, 4), (4,))
CATALOG: list[OpSpec] = []


def op(name, fn, ref, domains=("real",), kind="unary", shapes=UNARY, example=EX1, extreme=None):
    CATALOG.append(OpSpec(name, fn, ref, tuple(domains), kind, shapes, example, extreme))


# arithmetic, with broadcasting and with Python scalars on either side
B = "elementwise_broadcast"
op("add", lambda a, b: a + b, lambda xp, a, b: a + b, ("real", "real"), B, PAIR, EX2)
op("sub", lambda a, b: a - b, lambda xp, a, b: a - b, ("real", "real"), B, PAIR, EX2)
op("mul", lambda a, b: a * b, lambda xp, a, b: a * b, ("real", "real"), B, PAIR, EX2)
op("div", lambda a, b: a / b, lambda xp, a, b: a / b, ("real", "nonzero"), B, PAIR, EX2)
op("neg", lambda a: -a, lambda xp, a: -a)
op("add_scalar", lambda a: a + 1.5, lambda xp, a: a + 1.5)
op("radd_scalar", lambda a: 1.5 + a, lambda xp, a: 1.5 + a)
op("rsub_scalar", lambda a: 2.0 - a, lambda xp, a: 2.0 - a)
op("sub_scalar", lambda a: a - 2.0, lambda xp, a: a - 2.0)
op("rmul_scalar", lambda a: 3.0 * a, lambda xp, a: 3.0 * a)
op("div_scalar", lambda a: a / 3.0, lambda xp, a: a / 3.0)
op("rdiv_scalar", lambda a: 3.0 / a, lambda xp, a: 3.0 / a, ("nonzero",))
op("rsub_ndarray", lambda a: np.full(a.shape, 2.0, a.dtype) - a, lambda xp, a: np.full(np.shape(a), 2.0) - a)
for p, dom in ((2, "real"), (3, "real"), (0.5, "pow"), (-1.5, "pow")):
    op(f"pow{p}", lambda a, p=p: a ** p, lambda xp, a, p=p: a ** p, (dom,))

# matmul: NumPy's rules for 1-D operands and broadcast batch dimensions
M = "matmul"
for a_dims, b_dims in ((2, 2), (1, 2), (2, 1), (1, 1), (3, 1), (1, 3), (3, 2)):
    ex = {1: (4,), 2: (3, 4), 3: (2, 3, 4)}[a_dims], {1: (4,), 2: (4, 2), 3: (2, 4, 2)}[b_dims]
    op(f"matmul_{a_dims}d@{b_dims}d", lambda a, b: a @ b, lambda xp, a, b: xp.matmul(a, b),
       ("real", "real"), M, _matmul_shapes(a_dims, b_dims), ex)
op("matmul_batched", lambda a, b: a @ b, lambda xp, a, b: xp.matmul(a, b), ("real", "real"), M,
   _batched_shapes(), ((2, 1, 3, 4), (3, 4, 2)))

# reductions: axis None / int / tuple, keepdims False / True
for red in ("sum", "mean", "max"):
    for axis, keep in ((None, False), (None, True), (0, False), (-1, True), ((0, -1), False), ((0, -1), True)):
        label = "" if axis is None else f"_axis{axis}" if isinstance(axis, int) else "_axes0,-1"
        dims = 0 if axis is None else 1 if isinstance(axis, int) else 2
        op(f"{red}{label}{'_keepdims' if keep else ''}",
           lambda a, red=red, axis=axis, keep=keep: getattr(a, red)(axis=axis, keepdims=keep),
           lambda xp, a, red=red, axis=axis, keep=keep: getattr(xp, red)(a, axis=axis, keepdims=keep),
           ("distinct" if red == "max" else "real",), "reduce", _one(min_dims=dims, max_side=4), ((2, 3, 4),))

# shape ops
S = "shape"
op("reshape_flat", lambda a: a.reshape(-1), lambda xp, a: xp.reshape(a, (-1,)), kind=S)
op("reshape_reversed", lambda a: a.reshape(a.shape[::-1]), lambda xp, a: xp.reshape(a, np.shape(a)[::-1]), kind=S)
op("reshape_rows", lambda a: ops.reshape(a, a.shape[0], -1), lambda xp, a: xp.reshape(a, (np.shape(a)[0], -1)),
   kind=S, shapes=_one(min_dims=1, max_side=4))
op("transpose", lambda a: a.transpose(), lambda xp, a: xp.transpose(a), kind=S)
op(".T", lambda a: a.T, lambda xp, a: xp.transpose(a), kind=S)
op("transpose_axes", lambda a: a.transpose(2, 0, -2), lambda xp, a: xp.transpose(a, (2, 0, 1)), kind=S,
   shapes=_one(min_dims=3, max_dims=3, max_side=4), example=((2, 3, 4),))
op("getitem_slices", lambda a: a[1:, ::-2], lambda xp, a: a[1:, ::-2], kind=S,
   shapes=_one(min_dims=2, min_side=2, max_side=4))
op("getitem_int_newaxis", lambda a: a[-1, None, ..., 0], lambda xp, a: a[-1, None, ..., 0], kind=S,
   shapes=_one(min_dims=2, max_side=4))
op("getitem_repeated", lambda a: a[[0, 2, 0, 0]], lambda xp, a: a[np.array([0, 2, 0, 0])], kind=S,
   shapes=_one(min_dims=1, min_side=3, max_side=4))
op("getitem_mixed_repeated", lambda a: a[1:, [1, 1, 0]], lambda xp, a: a[1:, np.array([1, 1, 0])], kind=S,
   shapes=_one(min_dims=2, min_side=2, max_side=4))
op("getitem_mask", lambda a: a[_pattern(a.shape)], lambda xp, a: a[_pattern(np.shape(a))], kind=S)
op("concatenate_axis0", lambda a, b: ta.concatenate([a, b]), lambda xp, a, b: xp.concatenate([a, b]),
   ("real", "real"), S, _concat_shapes(2, 0), ((2, 4), (3, 4)))
op("concatenate3_axis-1", lambda a, b, c: ta.concatenate((a, b, c), axis=-1),
   lambda xp, a, b, c: xp.concatenate([a, b, c], axis=-1), ("real",) * 3, S,
   _concat_shapes(3, 1), ((3, 1), (3, 2), (3, 4)))

# elementwise math; kinks of abs, clip, maximum and minimum sit at integers
op("exp", ops.exp, lambda xp, a: xp.exp(a))
op("log", ops.log, lambda xp, a: xp.log(a), ("positive",))
op("sqrt", ops.sqrt, lambda xp, a: xp.sqrt(a), ("positive",))
op("abs", ops.abs, lambda xp, a: xp.abs(a), ("offint",))
op("clip", lambda a: a.clip(-2.0, 3.0), lambda xp, a: _clip(xp, a, -2.0, 3.0), ("offint",))
op("clip_min", lambda a: ops.clip(a, min=-1.0), lambda xp, a: _clip(xp, a, -1.0, None), ("offint",))
op("clip_max", lambda a: ops.clip(a, max=1.0), lambda xp, a: _clip(xp, a, None, 1.0), ("offint",))
op("maximum", ta.maximum, lambda xp, a, b: xp.maximum(a, b), ("offint", "int"), B, PAIR, EX2)
op("minimum", ta.minimum, lambda xp, a, b: xp.minimum(a, b), ("offint", "int"), B, PAIR, EX2)
op("maximum_scalar", lambda a: ta.maximum(a, 1.0), lambda xp, a: xp.maximum(a, 1.0), ("offint",))
op("where", lambda a, b: ta.where(_pattern(np.broadcast_shapes(a.shape, b.shape)), a, b),
   lambda xp, a, b: _where(xp, a, b),
   ("real", "real"), B, PAIR, EX2)

# activations (kinks at 0: 'offint' keeps |x| >= 0.1)
op("sigmoid", F.sigmoid, _sigmoid, extreme=_sigmoid_limit)
op("tanh", F.tanh, lambda xp, a: xp.tanh(a),
   extreme=lambda x: (np.sign(x) * (1 - 2 * _e(x) ** 2), 4 * _e(x) ** 2))
op("relu", F.relu, lambda xp, a: xp.where(a > 0, a, 0.0), ("offint",))
op("leaky_relu", F.leaky_relu, lambda xp, a: xp.where(a > 0, a, 0.01 * a), ("offint",))
op("leaky_relu_0.2", lambda a: F.leaky_relu(a, 0.2), lambda xp, a: xp.where(a > 0, a, 0.2 * a), ("offint",))
op("elu", F.elu, _elu, ("offint",),
   extreme=lambda x: (np.where(x > 0, x, _e(x) - 1), np.where(x > 0, 1.0, _e(x))))
op("elu_alpha0.5", lambda a: F.elu(a, 0.5), lambda xp, a: _elu(xp, a, 0.5), ("offint",))
op("softplus", F.softplus, _softplus,
   extreme=lambda x: (np.maximum(x, 0) + _e(x), _sigmoid_limit(x)[0]))
op("log_sigmoid", F.log_sigmoid, lambda xp, a: -_softplus(xp, -a),
   extreme=lambda x: (np.minimum(x, 0) - _e(x), _sigmoid_limit(-x)[0]))
op("identity", F.identity, lambda xp, a: a)

# losses: (input, target) of one shape
for red in ("mean", "sum", "none"):
    op(f"mse_loss_{red}", lambda a, b, red=red: F.mse_loss(a, b, reduction=red),
       lambda xp, a, b, red=red: _reduce(xp, (a - b) ** 2, red), ("real", "real"), "loss", _same_pair(), EX1 * 2)
    op(f"bce_with_logits_{red}", lambda z, y, red=red: F.binary_cross_entropy_with_logits(z, y, reduction=red),
       lambda xp, z, y, red=red: _reduce(xp, _softplus(xp, z) - y * z, red), ("real", "unit"), "loss",
       _same_pair(), EX1 * 2, extreme=_bce_limit(red))

# ... and with a constant target (no gradient), which takes the fused one-kernel path for 'mean'
def _target(shape, dtype, unit=False):
    t = np.cos(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape)
    return np.asarray(0.5 + 0.4 * t if unit else 3.0 * t, dtype=dtype)


for red in ("mean", "sum"):
    op(f"mse_loss_{red}_const_target", lambda a, red=red: F.mse_loss(a, _target(a.shape, a.dtype), red),
       lambda xp, a, red=red: _reduce(xp, (a - _target(np.shape(a), np.float64)) ** 2, red), kind="loss")
    op(f"bce_with_logits_{red}_const_target",
       lambda z, red=red: F.binary_cross_entropy_with_logits(z, _target(z.shape, z.dtype, True), red),
       lambda xp, z, red=red: _reduce(xp, _softplus(xp, z) - _target(np.shape(z), np.float64, True) * z, red),
       kind="loss")

# dense(X, W, b, activation), fused: integer X and W and an 'offint' bias keep the
# pre-activation X @ W + b at least 0.1 from every integer, so from the kinks at 0
ACTIVATION_REFS = {
    "linear": lambda xp, a: a, "sigmoid": _sigmoid, "tanh": lambda xp, a: xp.tanh(a),
    "relu": lambda xp, a: xp.where(a > 0, a, 0.0), "leaky_relu": lambda xp, a: xp.where(a > 0, a, 0.01 * a),
    "elu": _elu, "softplus": _softplus,
}


@st.composite
def _dense_shapes(draw):
    n, k, m = draw(SIDE), draw(SIDE), draw(SIDE)
    return (n, k), (k, m), (m,)


for act, act_ref in ACTIVATION_REFS.items():
    op(f"dense_{act}", lambda X, W, b, act=act: F.dense(X, W, b, act),
       lambda xp, X, W, b, act_ref=act_ref: act_ref(xp, xp.matmul(X, W) + b), ("int", "int", "offint"),
       "matmul", _dense_shapes(), ((3, 4), (4, 2), (2,)))
op("dense_nobias", lambda X, W: F.dense(X, W), lambda xp, X, W: xp.matmul(X, W), ("real", "real"), "matmul",
   _dense_shapes().map(lambda s: s[:2]), ((3, 4), (4, 2)))

BY_NAME = {spec.name: spec for spec in CATALOG}
assert len(BY_NAME) == len(CATALOG), "op names must be unique"
