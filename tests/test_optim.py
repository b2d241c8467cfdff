"""Optimizers against their published update rules, written out here in NumPy."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyae import Tensor
from tinyae.optim import (
    SGD, Adam, AdamW, CosineLR, ExponentialLR, Optimizer, StepLR, clip_grad_norm, get_optimizer,
)

SHAPES = [(3, 4), (4,), (1, 1)]
N_STEPS = 6


# -- independent reference implementations ------------------------------------

def ref_sgd(p, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """PyTorch ``torch.optim.SGD`` documentation, dampening 0."""
    buf = None
    for g in grads:
        g = g + weight_decay * p
        if momentum != 0:
            buf = g.copy() if buf is None else momentum * buf + g
            d = g + momentum * buf if nesterov else buf
        else:
            d = g
        p = p - lr * d
    return p


def ref_adam(p, grads, lr, b1, b2, eps, weight_decay=0.0, decoupled=False):
    """Kingma & Ba (2015), Algorithm 1; L2 (Adam) or decoupled (AdamW) decay."""
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def make_problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(N_STEPS)]
    return init, grads


def run_optimizer(make, init, grads):
    params = [Tensor(a.copy(), requires_grad=True) for a in init]
    opt = make(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
    return params, opt


CASES = [
    ("sgd", lambda ps: SGD(ps, lr=0.1), lambda p, gs: ref_sgd(p, gs, 0.1)),
    ("sgd-momentum", lambda ps: SGD(ps, lr=0.05, momentum=0.9),
     lambda p, gs: ref_sgd(p, gs, 0.05, momentum=0.9)),
    ("sgd-nesterov", lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
     lambda p, gs: ref_sgd(p, gs, 0.05, momentum=0.8, nesterov=True)),
    ("sgd-momentum-wd", lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1),
     lambda p, gs: ref_sgd(p, gs, 0.05, momentum=0.9, weight_decay=0.1)),
    ("sgd-nesterov-wd", lambda ps: SGD(ps, lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.3),
     lambda p, gs: ref_sgd(p, gs, 0.05, momentum=0.5, nesterov=True, weight_decay=0.3)),
    ("adam", lambda ps: Adam(ps, lr=0.01), lambda p, gs: ref_adam(p, gs, 0.01, 0.9, 0.999, 1e-8)),
    ("adam-betas-eps", lambda ps: Adam(ps, lr=0.03, betas=(0.5, 0.9), eps=1e-3),
     lambda p, gs: ref_adam(p, gs, 0.03, 0.5, 0.9, 1e-3)),
    ("adam-l2", lambda ps: Adam(ps, lr=0.01, weight_decay=0.2),
     lambda p, gs: ref_adam(p, gs, 0.01, 0.9, 0.999, 1e-8, weight_decay=0.2)),
    ("adamw-default", lambda ps: AdamW(ps, lr=0.01),
     lambda p, gs: ref_adam(p, gs, 0.01, 0.9, 0.999, 1e-8, weight_decay=1e-2, decoupled=True)),
    ("adamw", lambda ps: AdamW(ps, lr=0.02, betas=(0.8, 0.99), weight_decay=0.5),
     lambda p, gs: ref_adam(p, gs, 0.02, 0.8, 0.99, 1e-8, weight_decay=0.5, decoupled=True)),
]


@pytest.mark.parametrize("make, ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_published_update_float64(make, ref):
    init, grads = make_problem(np.float64)
    params, _ = run_optimizer(make, init, grads)
    for i, p in enumerate(params):
        expected = ref(init[i], [g[i] for g in grads])
        assert p.data.dtype == np.float64
        np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make, ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_published_update_float32(make, ref):
    init, grads = make_problem(np.float32, seed=1)
    params, opt = run_optimizer(make, init, grads)
    for i, p in enumerate(params):
        # Reference in float64 from the same float32 inputs: the gap is float32 rounding.
        expected = ref(init[i].astype(np.float64), [g[i].astype(np.float64) for g in grads])
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, expected, rtol=1e-5, atol=1e-6)
    for buffers in opt.state.values():
        assert all(b.dtype == np.float32 for b in buffers)


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_updates_in_place_and_leaves_grad_alone(make):
    init, grads = make_problem(np.float64)
    params = [Tensor(a.copy(), requires_grad=True) for a in init]
    arrays = [p.data for p in params]
    opt = make(params)
    for p, g in zip(params, grads[0]):
        p.grad = g.copy()
    opt.step()
    for p, a, g in zip(params, arrays, grads[0]):
        assert p.data is a
        np.testing.assert_array_equal(p.grad, g)  # weight decay must not leak into .grad


def test_grads_from_backward():
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((3, 2))
    x = rng.standard_normal((5, 3))
    w = Tensor(w0.copy(), requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9)
    expected, buf = w0.copy(), None
    for _ in range(3):
        opt.zero_grad()
        assert w.grad is None
        ((Tensor(x) @ w) ** 2).sum().backward()
        g = 2 * x.T @ (x @ expected)  # d/dW sum((XW)^2)
        buf = g if buf is None else 0.9 * buf + g
        expected = expected - 0.1 * buf
        opt.step()
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)


def test_none_grads_are_skipped_with_per_parameter_adam_steps():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.full(3, 0.5)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(3))
    a.grad = np.full(3, 0.5)
    b.grad = np.full(3, 2.0)
    opt.step()
    # b's first update gets t = 1 bias correction: a step of exactly lr (up to eps).
    np.testing.assert_allclose(b.data, np.ones(3) - 0.1 * 2.0 / (2.0 + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(a.data, ref_adam(np.ones(3), [np.full(3, 0.5)] * 2, 0.1, 0.9, 0.999, 1e-8))
    assert opt.param_steps == [2, 1]


# -- state dict -------------------------------------------------------------------

def through_json_and_npz(state):
    """Store a state dict the way a checkpoint would: scalars as JSON, arrays as npz."""
    arrays, scalars = {}, {}
    for key, value in state.items():
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            for i, a in enumerate(value):
                arrays[f"{key}/{i}"] = a
            scalars[key] = {"__arrays__": len(value)}
        else:
            scalars[key] = value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    loaded = np.load(buffer, allow_pickle=False)
    out = json.loads(json.dumps(scalars))
    for key, value in out.items():
        if isinstance(value, dict) and "__arrays__" in value:
            out[key] = [loaded[f"{key}/{i}"] for i in range(value["__arrays__"])]
    return out


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_state_dict_round_trip_continues_identically(make):
    init, grads = make_problem(np.float64, seed=2)
    params, opt = run_optimizer(make, init, grads[:3])
    state = opt.state_dict()
    snapshot = [p.data.copy() for p in params]
    clone = [Tensor(a.copy(), requires_grad=True) for a in snapshot]
    resumed = make(clone)
    buffers_before = {k: list(v) for k, v in resumed.state.items()}
    resumed.load_state_dict(through_json_and_npz(state))
    for k, v in resumed.state.items():  # loaded into the same arrays
        assert all(a is b for a, b in zip(v, buffers_before[k]))
    for ps, o in ((params, opt), (clone, resumed)):
        for step_grads in grads[3:]:
            for p, g in zip(ps, step_grads):
                p.grad = g.copy()
            o.step()
    for p, q in zip(params, clone):
        np.testing.assert_array_equal(p.data, q.data)
    assert resumed.steps == opt.steps == N_STEPS


def test_state_dict_is_a_copy_and_holds_no_objects():
    init, grads = make_problem(np.float64)
    params, opt = run_optimizer(lambda ps: Adam(ps, lr=0.01, schedule=StepLR(1, 0.5)), init, grads[:2])
    state = opt.state_dict()
    m0 = state["m"][0].copy()
    params[0].grad = grads[2][0]
    opt.step()
    np.testing.assert_array_equal(state["m"][0], m0)
    scalars = {k: v for k, v in state.items() if k not in ("m", "v")}
    assert json.loads(json.dumps(scalars)) == scalars
    assert state["type"] == "Adam" and state["step"] == 2


def test_load_state_dict_rejects_mismatches():
    p = Tensor(np.zeros((2, 3)), requires_grad=True)
    adam = Adam([p])
    state = adam.state_dict()
    with pytest.raises(ValueError, match="type"):
        SGD([p]).load_state_dict(state)
    bad = dict(state, m=[np.zeros((3, 2))])
    with pytest.raises(ValueError, match="m"):
        adam.load_state_dict(bad)
    with pytest.raises(ValueError, match="eps"):
        adam.load_state_dict(dict(state, eps=-1.0))
    with pytest.raises(TypeError, match="state"):
        adam.load_state_dict([1, 2])
    # A failed load changed nothing.
    assert adam.eps == 1e-8 and adam.state["m"][0].shape == (2, 3)


def test_sgd_load_enables_momentum_buffers():
    p = Tensor(np.ones(2), requires_grad=True)
    src = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2)
    src.step()
    q = Tensor(p.data.copy(), requires_grad=True)
    dst = SGD([q], lr=0.5)
    dst.load_state_dict(src.state_dict())
    assert dst.momentum == 0.9 and dst.lr == 0.1
    p.grad = q.grad = np.ones(2)
    src.step()
    dst.step()
    np.testing.assert_array_equal(p.data, q.data)


# -- gradient clipping ------------------------------------------------------------

grad_lists = st.lists(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
               elements=st.floats(-1e3, 1e3, allow_nan=False)),
    min_size=1, max_size=4,
)


@given(grads=grad_lists, max_norm=st.floats(1e-3, 1e3))
def test_clip_grad_norm_property(grads, max_norm):
    params = [Tensor(np.zeros(g.shape), requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    skipped = Tensor(np.zeros(2), requires_grad=True)  # grad None: ignored
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    returned = clip_grad_norm(params + [skipped], max_norm)
    assert returned == pytest.approx(norm, rel=1e-12, abs=1e-300)
    assert skipped.grad is None
    after = math.sqrt(sum(float(np.sum(p.grad * p.grad)) for p in params))
    if norm > max_norm:
        assert after <= max_norm * (1 + 1e-6)
        scale = max_norm / (norm + 1e-6)
        for p, g in zip(params, grads):  # one common positive factor: direction kept
            np.testing.assert_allclose(p.grad, g * scale, rtol=1e-12, atol=1e-300)
    else:
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)


def test_clip_norm_inside_step():
    g = np.array([3.0, 4.0])
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = g.copy()
    SGD([p], lr=1.0, clip_norm=1.0).step()
    np.testing.assert_allclose(p.data, -g / (5.0 + 1e-6), rtol=1e-12)


def test_clip_grad_norm_rejects_bad_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([Tensor(np.ones(2), requires_grad=True)], 0.0)


# -- schedules ----------------------------------------------------------------------

def test_schedule_values():
    step = StepLR(step_size=2, gamma=0.5)
    assert [step(e, 0.8) for e in range(6)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    exp = ExponentialLR(0.9)
    np.testing.assert_allclose([exp(e, 2.0) for e in range(4)], [2.0, 1.8, 1.62, 1.458], rtol=1e-15)
    cos = CosineLR(t_max=10, eta_min=0.01)
    assert cos(0, 0.11) == pytest.approx(0.11, rel=1e-15)
    assert cos(5, 0.11) == pytest.approx(0.06, rel=1e-14)
    assert cos(10, 0.11) == pytest.approx(0.01, rel=1e-14)
    assert cos(25, 0.11) == pytest.approx(0.01, rel=1e-14)  # clamped after t_max
    assert CosineLR(4)(1, 1.0) == pytest.approx((1 + math.cos(math.pi / 4)) / 2, rel=1e-15)


def test_optimizer_follows_schedule_and_user_callables():
    p = Tensor(np.ones(2), requires_grad=True)
    opt = SGD([p], lr=1.0, schedule=StepLR(1, 0.1))
    assert opt.lr == 1.0
    assert opt.set_epoch(2) == pytest.approx(0.01) and opt.lr == pytest.approx(0.01)
    assert opt.base_lr == 1.0
    user = Adam([p], lr=0.5, schedule=lambda epoch, base: base / (1 + epoch))
    user.set_epoch(4)
    assert user.lr == pytest.approx(0.1)
    bad = SGD([p], lr=1.0, schedule=lambda epoch, base: base - epoch)
    with pytest.raises(ValueError, match="schedule"):
        bad.set_epoch(3)
    with pytest.raises(TypeError, match="schedule"):
        SGD([p], schedule=0.1)


@pytest.mark.parametrize("build, exc, name", [
    (lambda: StepLR(0), ValueError, "step_size"),
    (lambda: StepLR(2.5), TypeError, "step_size"),
    (lambda: ExponentialLR(-0.5), ValueError, "gamma"),
    (lambda: CosineLR(0), ValueError, "t_max"),
    (lambda: CosineLR(5, eta_min=-1.0), ValueError, "eta_min"),
    (lambda: StepLR(2)(-1, 0.1), ValueError, "epoch"),
])
def test_schedule_bad_arguments(build, exc, name):
    with pytest.raises(exc, match=name):
        build()


# -- bad arguments -----------------------------------------------------------------

def _p():
    return [Tensor(np.zeros(2), requires_grad=True)]


@pytest.mark.parametrize("build, exc, name", [
    (lambda: SGD(_p(), lr=-0.1), ValueError, "lr"),
    (lambda: Adam(_p(), lr=-1e-3), ValueError, "lr"),
    (lambda: Adam(_p(), lr=float("nan")), ValueError, "lr"),
    (lambda: SGD(_p(), lr="0.1"), TypeError, "lr"),
    (lambda: Adam(_p(), betas=(1.0, 0.999)), ValueError, "betas"),
    (lambda: Adam(_p(), betas=(0.9, -0.1)), ValueError, "betas"),
    (lambda: AdamW(_p(), betas=(0.9, 1.5)), ValueError, "betas"),
    (lambda: Adam(_p(), betas=0.9), TypeError, "betas"),
    (lambda: Adam(_p(), eps=0.0), ValueError, "eps"),
    (lambda: AdamW(_p(), eps=-1e-8), ValueError, "eps"),
    (lambda: Adam(_p(), weight_decay=-0.1), ValueError, "weight_decay"),
    (lambda: SGD(_p(), momentum=-0.5), ValueError, "momentum"),
    (lambda: SGD(_p(), momentum=1.0), ValueError, "momentum"),
    (lambda: SGD(_p(), nesterov=True), ValueError, "nesterov"),
    (lambda: SGD(_p(), clip_norm=0.0), ValueError, "clip_norm"),
    (lambda: SGD([np.zeros(2)]), TypeError, "params"),
    (lambda: Adam([Tensor(np.zeros(2))]), ValueError, "params"),
    (lambda: Adam([]), ValueError, "params"),
    (lambda: Adam(Tensor(np.zeros(2), requires_grad=True)), TypeError, "params"),
    (lambda: Adam(3), TypeError, "params"),
    (lambda: Adam(_p() * 2), ValueError, "params"),
    (lambda: get_optimizer("rmsprop", _p()), ValueError, "adamw"),
    (lambda: get_optimizer(None, _p()), TypeError, "name"),
])
def test_bad_arguments(build, exc, name):
    with pytest.raises(exc, match=name):
        build()


def test_duplicate_param_is_rejected():
    p = Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"params\[1\]"):
        SGD([p, p])


def test_grad_of_wrong_shape_is_rejected():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.zeros(3)
    with pytest.raises(ValueError, match="grad"):
        SGD([p]).step()


def test_get_optimizer():
    opt = get_optimizer("AdamW", _p(), lr=0.01, weight_decay=0.1)
    assert type(opt) is AdamW and opt.lr == 0.01 and opt.weight_decay == 0.1
    assert type(get_optimizer("sgd", _p(), momentum=0.9)) is SGD
    assert isinstance(get_optimizer("adam", _p()), Optimizer)


# -- convergence ----------------------------------------------------------------

def test_adam_minimises_a_quadratic():
    rng = np.random.default_rng(7)
    d = 5
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    a = q @ np.diag(np.linspace(0.5, 5.0, d)) @ q.T  # SPD, condition number 10
    c = rng.standard_normal((1, d))
    x = Tensor(np.zeros((1, d)), requires_grad=True)
    opt = Adam([x], lr=0.05, schedule=CosineLR(t_max=1500, eta_min=1e-4))
    A, C = Tensor(a), Tensor(c)
    for step in range(1500):
        opt.set_epoch(step)
        opt.zero_grad()
        diff = x - C
        loss = ((diff @ A) * diff).sum() * 0.5  # minimum 0 at x = c
        loss.backward()
        opt.step()
    np.testing.assert_allclose(x.data, c, atol=1e-3)
    assert loss.item() < 1e-6



@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_adam_follows_parameter_and_state_arrays_replaced_between_steps(backend):
    # Adam keeps flat views of each parameter and its moments between steps
    # (a speed-up for small models); replacing p.data (also by a non-contiguous
    # array) or the moment buffers must redirect the update, never lose it.
    from tinyae.backend import use_backend
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(5)]
    with use_backend(backend):
        p = Tensor(p0.copy(), requires_grad=True)
        opt = Adam([p], lr=0.1)
        for step, g in enumerate(grads):
            if step == 1:
                p.data = p.data.copy()
            elif step == 2:
                p.data = np.asfortranarray(p.data)
            elif step == 3:
                opt.state["m"][0] = opt.state["m"][0].copy()
                opt.state["v"][0] = opt.state["v"][0].copy()
            p.grad = g.copy()
            opt.step()
    np.testing.assert_allclose(p.data, ref_adam(p0, grads, 0.1, 0.9, 0.999, 1e-8), rtol=1e-12, atol=1e-14)
