"""Tests for tinyae.nn.penalties: gradients, values, and the math behind each penalty.

Every penalty is checked three ways: its gradient against finite differences
(``tinyae.gradcheck``), its value against an independent plain-NumPy
computation, and a property of the math it implements (the contractive
penalty against a finite-difference Jacobian, the KL sparsity's minimum and
gradient sign, the Gaussian KL against a Monte-Carlo estimate).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyae as ta
from tinyae import functional as F
from tinyae.nn import penalties as P

# deadline=None also when run without tests/conftest.py's profiles: a
# gradcheck's first call can be slow. Example counts come from the profile.
prop = settings(deadline=None)

dim = st.integers(1, 4)


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats in [-hi, -lo] U [lo, hi]: keeps |x| and relu masks off their kinks."""
    return st.tuples(floats(lo, hi), st.booleans()).map(lambda t: t[0] if t[1] else -t[0])


def arrays(shape, elements) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def batch(draw, elements, n=dim, m=dim) -> np.ndarray:
    return draw(arrays((draw(n), draw(m)), elements))


def T(x, grad: bool = True) -> ta.Tensor:
    return ta.Tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


# -- independent NumPy references -------------------------------------------

def np_sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # a form that differs from tinyae's kernel


NP_ACT = {
    "sigmoid": np_sigmoid,
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
    "softplus": lambda a: np.logaddexp(0.0, a),
    "linear": lambda a: a,
    "identity": lambda a: a,
}

# Derivatives from the pre-activation a (the penalty computes them from h).
NP_DACT = {
    "sigmoid": lambda a: np_sigmoid(a) * (1.0 - np_sigmoid(a)),
    "tanh": lambda a: 1.0 / np.cosh(a) ** 2,
    "relu": lambda a: (a > 0).astype(float),
    "softplus": np_sigmoid,
    "linear": np.ones_like,
    "identity": np.ones_like,
}

# "identity" is an alias of "linear" (checked once, below), so it is not repeated here.
ACTS = [a for a in P.CONTRACTIVE_ACTIVATIONS if a != "identity"]


def np_bernoulli_kl(rho, r):
    return rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))


# -- l1_activity --------------------------------------------------------------

@prop
@given(h=batch(away_from_zero(0.01, 3.0)), weight=floats(0.0, 5.0))
def test_l1_activity_gradcheck(h, weight):
    assert ta.gradcheck(lambda h: P.l1_activity(h, weight), h)


@prop
@given(h=batch(floats(-3.0, 3.0)), weight=floats(0.0, 5.0))
def test_l1_activity_value(h, weight):
    out = P.l1_activity(T(h), weight)
    assert out.shape == ()
    expected = weight * np.mean([np.sum(np.abs(row)) for row in h])  # per-sample L1, batch mean
    np.testing.assert_allclose(out.item(), expected, rtol=1e-12, atol=1e-12)


# -- kl_sparsity --------------------------------------------------------------

@prop
@given(h=batch(floats(0.02, 0.98)), rho=floats(0.02, 0.98), beta=floats(0.0, 5.0))
def test_kl_sparsity_gradcheck(h, rho, beta):
    assert ta.gradcheck(lambda h: P.kl_sparsity(h, rho, beta), h)


@prop
@given(h=batch(floats(0.0, 1.0)), rho=floats(0.01, 0.99), beta=floats(0.0, 5.0))
def test_kl_sparsity_value(h, rho, beta):
    eps = 1e-6
    rho_hat = np.clip(h.sum(axis=0) / h.shape[0], eps, 1 - eps)
    expected = beta * np.sum(np_bernoulli_kl(rho, rho_hat))
    np.testing.assert_allclose(P.kl_sparsity(T(h), rho, beta).item(), expected, rtol=1e-10, atol=1e-12)


@prop
@given(
    noise=batch(floats(-1.0, 1.0), n=st.integers(1, 6)),
    rho=floats(0.05, 0.95),
    beta=floats(0.1, 5.0),
)
def test_kl_sparsity_is_zero_at_target(noise, rho, beta):
    # Codes whose every column averages exactly rho (up to rounding).
    d = noise - noise.mean(axis=0)
    scale = np.abs(d).max()
    # Rescale into (0, 1) around rho, then centre again to clean up rounding;
    # a d that is pure rounding noise (constant columns) is dropped.
    d = d * (0.9 * min(rho, 1 - rho) / scale) if scale > 1e-6 else np.zeros_like(d)
    h = rho + (d - d.mean(axis=0))
    out = P.kl_sparsity(T(h), rho, beta).item()
    assert abs(out) < 1e-12


@prop
# Codes off the clip (rho_hat in [0.001, 0.999]), where the gradient is never cut.
@given(h=batch(floats(0.001, 0.999), n=st.integers(1, 6)), rho=floats(0.05, 0.95), beta=floats(0.1, 5.0))
def test_kl_sparsity_positive_and_gradient_points_to_rho(h, rho, beta):
    rho_hat = h.mean(axis=0)
    off = np.abs(rho_hat - rho) > 1e-4
    assume(off.any())
    ht = T(h)
    out = P.kl_sparsity(ht, rho, beta)
    assert out.item() > 0
    out.backward()
    # d(penalty)/d(rho_hat_j) = (1/n)^-1 * column sum of d/dh; descent moves
    # rho_hat against it, so its sign must be the sign of rho_hat - rho.
    g = ht.grad.sum(axis=0)
    assert np.all(np.sign(g[off]) == np.sign(rho_hat - rho)[off])
    # ...and a descent step on the codes brings every off-target rho_hat closer.
    # d/dh_nj = (beta/n) KL'(rho_hat_j), and |KL'(r)| <= max|KL''| |r - rho| with
    # KL''(r) = rho/r^2 + (1-rho)/(1-r)^2 convex, so largest at an end of
    # [r, rho]: this step moves each rho_hat by at most 10% of its gap.
    ends = np.concatenate([rho_hat, [rho]])
    curvature = np.max(rho / ends**2 + (1 - rho) / (1 - ends) ** 2)
    step = 0.1 * h.shape[0] / (beta * curvature)
    moved = np.clip(h - step * ht.grad, 0.0, 1.0)
    gap, new_gap = np.abs(rho_hat - rho), np.abs(moved.mean(axis=0) - rho)
    assert np.all(new_gap[off] < gap[off])
    assert P.kl_sparsity(T(moved), rho, beta).item() <= out.item() * (1 + 1e-12)


def test_kl_sparsity_dead_unit_is_finite_with_zero_gradient():
    h = np.array([[0.0, 0.3], [0.0, 0.5]])  # unit 0 never fires: rho_hat = 0
    ht = T(h)
    out = P.kl_sparsity(ht, 0.1, 1.0)
    out.backward()
    expected = np_bernoulli_kl(0.1, 1e-6) + np_bernoulli_kl(0.1, 0.4)
    np.testing.assert_allclose(out.item(), expected, rtol=1e-12)
    assert np.all(ht.grad[:, 0] == 0.0)  # the clip stops it...
    assert np.all(ht.grad[:, 1] > 0.0)  # ...but not the live unit (0.4 > rho)


# -- weight_decay -------------------------------------------------------------

weight_list = st.lists(
    st.tuples(dim, dim).flatmap(lambda s: arrays(s, floats(-3.0, 3.0))), min_size=1, max_size=3
)


@prop
@given(ws=weight_list, lam=floats(0.0, 5.0))
def test_weight_decay_gradcheck(ws, lam):
    assert ta.gradcheck(lambda *ws: P.weight_decay(list(ws), lam), *ws)


@prop
@given(ws=weight_list, lam=floats(0.0, 5.0))
def test_weight_decay_value_and_gradient(ws, lam):
    tensors = [T(w) for w in ws]
    out = P.weight_decay(iter(tensors), lam)  # any iterable, e.g. a generator of parameters
    expected = lam / 2 * sum(np.linalg.norm(w, "fro") ** 2 for w in ws)
    np.testing.assert_allclose(out.item(), expected, rtol=1e-12, atol=1e-12)
    out.backward()
    for t, w in zip(tensors, ws):
        np.testing.assert_allclose(t.grad, lam * w, rtol=1e-12, atol=1e-12)  # the point of lam/2


# -- contractive --------------------------------------------------------------

# Codes h in each activation's range, away from the points where the
# derivative-from-h formula has a kink (relu's mask at 0).
CODE_ELEMENTS = {
    "sigmoid": floats(0.01, 0.99),
    "tanh": floats(-0.99, 0.99),
    "relu": away_from_zero(0.05, 3.0),
    "softplus": floats(0.01, 4.0),
    "linear": floats(-3.0, 3.0),
    "identity": floats(-3.0, 3.0),
}


@st.composite
def code_and_weights(draw, activation):
    n, n_in, n_out = draw(dim), draw(dim), draw(dim)
    h = draw(arrays((n, n_out), CODE_ELEMENTS[activation]))
    W = draw(arrays((n_in, n_out), floats(-2.0, 2.0)))
    return h, W


@pytest.mark.parametrize("activation", ACTS)
@prop
@given(data=st.data(), lam=floats(0.0, 5.0))
def test_contractive_gradcheck_wrt_h_and_W(activation, data, lam):
    h, W = data.draw(code_and_weights(activation))
    assert ta.gradcheck(lambda h, W: P.contractive(h, W, activation, lam), h, W)


@st.composite
def encoder_inputs(draw, activation):
    """X, W, b for h = act(X W + b); for relu every |a| >= 0.25 by construction."""
    n, n_in, n_out = draw(dim), draw(st.integers(1, 3)), draw(dim)
    if activation == "relu":
        # |X W| <= 3 * 0.5 * 0.25 < 0.5 <= |b|: the sign of a is b's, far from the kink.
        X = draw(arrays((n, n_in), floats(-0.5, 0.5)))
        W = draw(arrays((n_in, n_out), floats(-0.25, 0.25)))
        b = draw(arrays((n_out,), away_from_zero(0.75, 2.0)))
    else:
        X = draw(arrays((n, n_in), floats(-2.0, 2.0)))
        W = draw(arrays((n_in, n_out), floats(-2.0, 2.0)))
        b = draw(arrays((n_out,), floats(-2.0, 2.0)))
    return X, W, b


def encoder_penalty(activation, lam):
    act = F.get_activation(activation)
    return lambda X, W, b: P.contractive(act(X @ W + b), W, activation, lam)


@pytest.mark.parametrize("activation", ACTS)
@prop
@given(data=st.data(), lam=floats(0.0, 5.0))
def test_contractive_gradcheck_through_encoder(activation, data, lam):
    # The gradient reaches W through h and through sum_i W_ij^2, and X, b through h.
    X, W, b = data.draw(encoder_inputs(activation))
    assert ta.gradcheck(encoder_penalty(activation, lam), X, W, b)


@pytest.mark.parametrize("activation", ACTS)
@prop
@given(data=st.data(), lam=floats(0.0, 5.0))
def test_contractive_value(activation, data, lam):
    X, W, b = data.draw(encoder_inputs(activation))
    a = X @ W + b
    # Per-sample Jacobian J[n, j, i] = act'(a_nj) W_ij, built explicitly.
    J = NP_DACT[activation](a)[:, :, None] * W.T[None, :, :]
    expected = lam * np.mean(np.sum(J**2, axis=(1, 2)))
    out = encoder_penalty(activation, lam)(T(X), T(W), T(b))
    np.testing.assert_allclose(out.item(), expected, rtol=1e-10, atol=1e-12)


def fd_jacobian_penalty(X, W, b, activation, lam, step=1e-5):
    """lam * mean_n ||dh_n/dx_n||_F^2 with the Jacobian from central differences."""
    act = NP_ACT[activation]
    n, n_in = X.shape
    total = 0.0
    for k in range(n):
        J = np.empty((W.shape[1], n_in))
        for i in range(n_in):
            e = np.zeros(n_in)
            e[i] = step
            J[:, i] = (act((X[k] + e) @ W + b) - act((X[k] - e) @ W + b)) / (2 * step)
        total += np.sum(J**2)
    return lam * total / n


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear", "softplus"])
@prop
@given(
    n=st.integers(1, 5), n_in=st.integers(1, 6), n_out=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1), lam=floats(0.01, 5.0),
)
def test_contractive_matches_finite_difference_jacobian(activation, n, n_in, n_out, seed, lam):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    W = rng.standard_normal((n_in, n_out))
    b = rng.standard_normal(n_out)
    if activation == "relu":
        assume(np.abs(X @ W + b).min() > 1e-3)  # central differences must not straddle the kink
    expected = fd_jacobian_penalty(X, W, b, activation, lam)
    out = encoder_penalty(activation, lam)(T(X), T(W), T(b)).item()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-12)


def test_contractive_gradient_to_W_is_the_sum_of_both_paths():
    rng = np.random.default_rng(1)
    X, W0, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)

    def grad_W(through_h: bool, through_norm: bool) -> np.ndarray:
        W = T(W0)
        h = F.sigmoid(X @ (W if through_h else T(W0, grad=False)) + b)
        P.contractive(h, W if through_norm else T(W0, grad=False), "sigmoid", 1.0).backward()
        return W.grad

    full, via_h, via_norm = grad_W(True, True), grad_W(True, False), grad_W(False, True)
    assert np.abs(via_h).max() > 1e-3 and np.abs(via_norm).max() > 1e-3  # both paths matter
    np.testing.assert_allclose(full, via_h + via_norm, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_contractive_relu_and_linear_give_h_no_gradient(activation):
    h = T([[0.5, 0.0, 2.0], [1.0, 3.0, 0.0]])
    W = T(np.arange(6.0).reshape(2, 3))
    out = P.contractive(h, W, activation, 0.5)
    out.backward()
    assert h.grad is None or np.all(h.grad == 0)
    mask = np.array([[1, 0, 1], [1, 1, 0]]) if activation == "relu" else np.ones((2, 3))
    expected = 0.5 * np.mean(mask @ (W.data**2).sum(axis=0))
    np.testing.assert_allclose(out.item(), expected, rtol=1e-12)


def test_contractive_identity_is_linear():
    h, W = T(np.ones((2, 3))), T(np.arange(12.0).reshape(4, 3))
    assert P.contractive(h, W, "identity", 0.3).item() == P.contractive(h, W, "linear", 0.3).item()


# -- gaussian_kl --------------------------------------------------------------

@st.composite
def mu_logvar(draw):
    shape = (draw(dim), draw(dim))
    return draw(arrays(shape, floats(-3.0, 3.0))), draw(arrays(shape, floats(-3.0, 3.0)))


@prop
@given(pair=mu_logvar())
def test_gaussian_kl_gradcheck(pair):
    assert ta.gradcheck(P.gaussian_kl, *pair)


@prop
@given(pair=mu_logvar())
def test_gaussian_kl_value(pair):
    mu, logvar = pair
    var = np.exp(logvar)
    # KL of N(m, v) from N(0, 1) per dimension, written as 0.5 (v + m^2 - 1 - ln v).
    per_sample = 0.5 * np.sum(var + mu**2 - 1.0 - np.log(var), axis=1)
    out = P.gaussian_kl(T(mu), T(logvar)).item()
    np.testing.assert_allclose(out, per_sample.mean(), rtol=1e-10, atol=1e-12)
    assert out >= -1e-12


def test_gaussian_kl_is_zero_at_standard_normal():
    z = np.zeros((3, 4))
    assert P.gaussian_kl(T(z), T(z)).item() == 0.0


@pytest.mark.parametrize("mu, sigma", [(0.7, 1.5), (-1.2, 0.4), (0.0, 2.0)])
def test_gaussian_kl_matches_monte_carlo(mu, sigma):
    rng = np.random.default_rng(12345)
    z = mu + sigma * rng.standard_normal(1_000_000)
    # log q(z) - log p(z) for q = N(mu, sigma^2), p = N(0, 1)
    log_ratio = -np.log(sigma) - 0.5 * ((z - mu) / sigma) ** 2 + 0.5 * z**2
    estimate = log_ratio.mean()
    stderr = log_ratio.std() / math.sqrt(z.size)
    out = P.gaussian_kl(T([[mu]]), T([[math.log(sigma**2)]])).item()
    assert abs(out - estimate) < 5 * stderr, (out, estimate, stderr)


# -- dtype --------------------------------------------------------------------

def test_penalties_keep_float32():
    rng = np.random.default_rng(0)
    h = ta.Tensor(rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32), requires_grad=True)
    W = ta.Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    outs = [
        P.l1_activity(h, 0.1),
        P.kl_sparsity(h, 0.05, 3.0),
        P.weight_decay([W], 1e-3),
        P.contractive(h, W, "sigmoid", 0.1),
        P.gaussian_kl(h, h),
    ]
    for out in outs:
        assert out.shape == () and out.dtype == np.float32
    sum(outs[1:], outs[0]).backward()
    assert h.grad.dtype == np.float32 and W.grad.dtype == np.float32


# -- bad arguments ------------------------------------------------------------

_h = ta.Tensor(np.full((2, 3), 0.5))
_W = ta.Tensor(np.ones((4, 3)))

BAD = [
    # (call, exception, argument named at the start of the message)
    (lambda: P.l1_activity(np.ones((2, 3)), 1.0), TypeError, "h"),
    (lambda: P.l1_activity(ta.Tensor(np.ones(3)), 1.0), ValueError, "h"),
    (lambda: P.l1_activity(ta.Tensor(np.ones((2, 3, 1))), 1.0), ValueError, "h"),
    (lambda: P.l1_activity(ta.Tensor(np.ones((0, 3))), 1.0), ValueError, "h"),
    (lambda: P.l1_activity(_h, -0.1), ValueError, "weight"),
    (lambda: P.l1_activity(_h, float("nan")), ValueError, "weight"),
    (lambda: P.l1_activity(_h, "1"), TypeError, "weight"),
    (lambda: P.l1_activity(_h, True), TypeError, "weight"),
    (lambda: P.kl_sparsity(_h, 0.0, 1.0), ValueError, "rho"),
    (lambda: P.kl_sparsity(_h, 1.0, 1.0), ValueError, "rho"),
    (lambda: P.kl_sparsity(_h, 1.5, 1.0), ValueError, "rho"),
    (lambda: P.kl_sparsity(_h, None, 1.0), TypeError, "rho"),
    (lambda: P.kl_sparsity(_h, 0.1, -1.0), ValueError, "beta"),
    (lambda: P.kl_sparsity(_h, 0.1, 1.0, eps=0.0), ValueError, "eps"),
    (lambda: P.kl_sparsity(_h, 0.1, 1.0, eps=0.5), ValueError, "eps"),
    (lambda: P.kl_sparsity(ta.Tensor([[-0.5, 0.2]]), 0.1, 1.0), ValueError, "h"),  # tanh-like codes
    (lambda: P.kl_sparsity(ta.Tensor([[1.5, 0.2]]), 0.1, 1.0), ValueError, "h"),
    (lambda: P.kl_sparsity(ta.Tensor([[np.nan, 0.2]]), 0.1, 1.0), ValueError, "h"),
    (lambda: P.weight_decay(_W, 0.1), TypeError, "weights"),
    (lambda: P.weight_decay(3.0, 0.1), TypeError, "weights"),
    (lambda: P.weight_decay([], 0.1), ValueError, "weights"),
    (lambda: P.weight_decay([_W, np.ones(2)], 0.1), TypeError, "weights[1]"),
    (lambda: P.weight_decay([_W], -1.0), ValueError, "lam"),
    (lambda: P.contractive(_h, np.ones((4, 3)), "sigmoid", 0.1), TypeError, "W"),
    (lambda: P.contractive(_h, ta.Tensor(np.ones(3)), "sigmoid", 0.1), ValueError, "W"),
    (lambda: P.contractive(_h, ta.Tensor(np.ones((3, 4))), "sigmoid", 0.1), ValueError, "W"),
    (lambda: P.contractive(ta.Tensor(np.ones(3)), _W, "sigmoid", 0.1), ValueError, "h"),
    (lambda: P.contractive(_h, _W, "elu", 0.1), ValueError, "activation"),
    (lambda: P.contractive(_h, _W, None, 0.1), ValueError, "activation"),
    (lambda: P.contractive(_h, _W, F.sigmoid, 0.1), ValueError, "activation"),
    (lambda: P.contractive(_h, _W, "sigmoid", -0.1), ValueError, "lam"),
    (lambda: P.gaussian_kl(ta.Tensor(np.ones(3)), ta.Tensor(np.ones(3))), ValueError, "mu"),
    (lambda: P.gaussian_kl(_h, np.ones((2, 3))), TypeError, "logvar"),
    (lambda: P.gaussian_kl(_h, ta.Tensor(np.ones((3, 2)))), ValueError, "logvar"),
]


@pytest.mark.parametrize("call, exc, name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_arguments_name_the_argument(call, exc, name):
    with pytest.raises(exc, match=rf"^{re.escape(name)}:"):
        call()


def test_unsupported_activation_lists_supported_ones():
    with pytest.raises(ValueError) as info:
        P.contractive(_h, _W, "leaky_relu", 0.1)
    for name in P.CONTRACTIVE_ACTIVATIONS:
        assert name in str(info.value)


# -- the fused activity penalties against their compositions --------------------

def _l1_composed(h, weight):
    from tinyae import ops
    return ops.abs(h).sum() * (weight / h.shape[0])


def _kl_composed(h, rho, beta, eps=1e-6):
    from tinyae import ops
    rho_hat = ops.clip(h.mean(axis=0), eps, 1.0 - eps)
    return (rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat))).sum() * beta


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@prop
@given(h=batch(floats(0.0, 1.0)), rho=floats(0.01, 0.99), beta=floats(0.0, 5.0), weight=floats(0.0, 5.0),
       dead=st.booleans())
def test_fused_activity_penalties_equal_their_compositions(backend, h, rho, beta, weight, dead):
    # l1_activity and kl_sparsity are single ops over one kernel (for speed); value
    # and gradient must be those of the compositions of primitives they replace,
    # including a dead unit whose clipped rho_hat passes no gradient.
    if dead:
        h = h.copy()
        h[:, 0] = 0.0
    for fused, composed in [(lambda t: P.l1_activity(t, weight), lambda t: _l1_composed(t, weight)),
                            (lambda t: P.kl_sparsity(t, rho, beta), lambda t: _kl_composed(t, rho, beta))]:
        results = []
        for fn in (fused, composed):
            with ta.use_backend(backend):
                t = ta.Tensor(h, requires_grad=True)
            out = fn(t)
            out.backward()
            results.append((out.item(), t.grad))
        (v1, g1), (v2, g2) = results
        np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)
