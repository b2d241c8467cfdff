"""Tests for tinyae.nn.module, tinyae.nn.layers and tinyae.nn.init.

Modules: parameter discovery (order, names, tied weights once), state dicts
(copies, round trip, errors), train/eval propagation. Layers: forward against
a plain-NumPy reference for every activation, tied weights (shared object,
gradients of both uses add up), argument errors, and gradcheck of a small
network w.r.t. every Parameter. Initialisers: each one's empirical moments
and bounds against its formula, and seeding.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyae as ta
from tinyae import functional as F
from tinyae.models import AutoencoderModule
from tinyae.nn import Activation, Dense, Module, Parameter, Sequential, TiedDense
from tinyae.nn import init as I
from tinyae.nn.layers import default_init

from helpers import module_gradcheck




# -- NumPy references for the activations ---------------------------------------

NP_ACTIVATIONS = {
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
    "leaky_relu": lambda a: np.where(a > 0, a, 0.01 * a),
    "elu": lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0.0))),
    "softplus": lambda a: np.logaddexp(0.0, a),
    "linear": lambda a: a,
    "identity": lambda a: a,
}


def test_reference_covers_every_activation():
    assert set(NP_ACTIVATIONS) == set(F.ACTIVATIONS)


# -- Parameter --------------------------------------------------------------------

@pytest.mark.parametrize("data", [np.zeros((2, 3)), [1.0, 2.0], np.arange(4), 3.0])
def test_parameter_always_requires_grad(data):
    p = Parameter(data)
    assert p.requires_grad is True
    assert p.is_leaf
    assert p.dtype in (np.float32, np.float64)
    assert repr(p).startswith("Parameter(")


def test_parameter_dtype_and_rejects_tensor():
    assert Parameter(np.ones(3), dtype=np.float32).dtype == np.float32
    assert Parameter(np.ones(3), dtype=np.float32).requires_grad
    with pytest.raises(TypeError):
        Parameter(ta.Tensor([1.0]))


def test_layer_parameters_are_parameters():
    layer = Dense(3, 2, rng=0)
    for p in layer.parameters():
        assert isinstance(p, Parameter) and p.requires_grad
    no_bias = Dense(3, 2, bias=False, rng=0)
    assert no_bias.b is None and no_bias.parameters() == [no_bias.W]


# -- parameter discovery ------------------------------------------------------------

def test_named_parameters_order_and_names():
    model = AutoencoderModule(6, 2, hidden_sizes=(4,), rng=0)
    names = [n for n, _ in model.named_parameters()]
    assert names == [
        "encoder.layers.0.W", "encoder.layers.0.b", "encoder.layers.1.W", "encoder.layers.1.b",
        "decoder.layers.0.W", "decoder.layers.0.b", "decoder.layers.1.W", "decoder.layers.1.b",
    ]
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(6, 4), (4,), (4, 2), (2,), (2, 4), (4,), (4, 6), (6,)]
    assert model.parameters() == [p for _, p in model.named_parameters()]
    assert list(model.state_dict()) == names
    # Same call twice: same objects in the same order.
    assert [id(p) for p in model.parameters()] == [id(p) for p in model.parameters()]


def test_named_parameters_prefix_and_plain_layer():
    layer = Dense(3, 2, rng=0)
    assert [n for n, _ in layer.named_parameters()] == ["W", "b"]
    assert [n for n, _ in layer.named_parameters(prefix="enc")] == ["enc.W", "enc.b"]
    assert [n for n, _ in Dense(3, 2, bias=False, rng=0).named_parameters()] == ["W"]
    seq = Sequential(Dense(3, 4, rng=0), Activation("tanh"), Dense(4, 2, rng=1))
    assert [n for n, _ in seq.named_parameters()] == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]


def test_tied_weights_listed_once():
    model = AutoencoderModule(6, 2, hidden_sizes=(4,), tied_weights=True, rng=0)
    names = [n for n, _ in model.named_parameters()]
    assert names == [
        "encoder.layers.0.W", "encoder.layers.0.b", "encoder.layers.1.W", "encoder.layers.1.b",
        "decoder.layers.0.b", "decoder.layers.1.b",
    ]
    params = model.parameters()
    assert len({id(p) for p in params}) == len(params)
    assert model.decoder[0].W is model.encoder[1].W
    assert model.decoder[1].W is model.encoder[0].W
    assert model.n_parameters() == 6 * 4 + 4 + 4 * 2 + 2 + 4 + 6
    # An optimizer (which refuses duplicates) accepts the list.
    ta.optim.SGD(params, lr=0.1)


def test_modules_depth_first_includes_every_layer():
    model = AutoencoderModule(6, 2, hidden_sizes=(4,), rng=0)
    mods = list(model.modules())
    assert mods[0] is model
    assert mods[1] is model.encoder and mods[2] is model.encoder[0]
    assert sum(isinstance(m, Dense) for m in mods) == 4


# -- state dicts ------------------------------------------------------------------------

def test_state_dict_returns_copies():
    model = AutoencoderModule(5, 2, rng=0)
    state = model.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    for v in state.values():
        assert isinstance(v, np.ndarray)
        v[...] = 123.0  # mutating the copy ...
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.to_numpy(), before[name])  # ... leaves the model alone
    # ... and changing the model leaves an earlier state dict alone.
    state = model.state_dict()
    model.encoder[0].W.data[...] = -7.0
    np.testing.assert_array_equal(state["encoder.layers.0.W"], before["encoder.layers.0.W"])


def test_load_state_dict_round_trip():
    a = AutoencoderModule(5, 2, hidden_sizes=(3,), tied_weights=True, rng=0)
    b = AutoencoderModule(5, 2, hidden_sizes=(3,), tied_weights=True, rng=1)
    X = ta.Tensor(np.random.default_rng(0).random((4, 5)))
    assert not np.allclose(a(X).to_numpy(), b(X).to_numpy())
    state = a.state_dict()
    b.load_state_dict(state)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.to_numpy(), pb.to_numpy())
    np.testing.assert_array_equal(a(X).to_numpy(), b(X).to_numpy())
    # The tied weight is still one object, updated in place.
    assert b.decoder[1].W is b.encoder[0].W
    # Loading copies: changing the dict afterwards does not reach the model.
    state["encoder.layers.0.W"][...] = 0.0
    assert not np.all(b.encoder[0].W.to_numpy() == 0.0)


def test_load_state_dict_missing_and_unexpected_keys():
    model = AutoencoderModule(5, 2, rng=0)
    state = model.state_dict()
    missing = dict(state)
    del missing["decoder.layers.0.b"]
    with pytest.raises(KeyError, match="decoder.layers.0.b"):
        model.load_state_dict(missing)
    extra = dict(state, **{"decoder.layers.0.gamma": np.zeros(5)})
    with pytest.raises(KeyError, match="decoder.layers.0.gamma"):
        model.load_state_dict(extra)


def test_load_state_dict_shape_mismatch_changes_nothing():
    model = AutoencoderModule(5, 2, rng=0)
    before = model.state_dict()
    bad = {k: np.zeros_like(v) for k, v in before.items()}
    bad["decoder.layers.0.b"] = np.zeros(4)  # the last parameter: the others were checked first
    with pytest.raises(ValueError, match=r"decoder\.layers\.0\.b.*\(5,\).*\(4,\)"):
        model.load_state_dict(bad)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.to_numpy(), before[name])


# -- train / eval ------------------------------------------------------------------------

def test_train_eval_propagate_to_submodules():
    model = AutoencoderModule(5, 2, hidden_sizes=(3,), tied_weights=True, rng=0)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.encoder.eval()  # only that subtree
    assert not any(m.training for m in model.encoder.modules())
    assert model.training and all(m.training for m in model.decoder.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


# -- Dense / TiedDense / Sequential forward -------------------------------------------------

@pytest.mark.parametrize("activation", sorted(F.ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
def test_dense_forward_matches_numpy(activation, bias):
    rng = np.random.default_rng(3)
    layer = Dense(4, 3, activation, bias=bias, rng=0)
    if bias:
        layer.b.data[...] = rng.standard_normal(3)
    X = rng.standard_normal((6, 4)) * 2
    a = X @ layer.W.to_numpy() + (layer.b.to_numpy() if bias else 0.0)
    expected = NP_ACTIVATIONS[activation](a)
    out = layer(ta.Tensor(X))
    assert out.shape == (6, 3)
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.pre_activation(ta.Tensor(X)).to_numpy(), a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_tied_dense_forward_matches_numpy(activation):
    enc = Dense(5, 3, "tanh", rng=0)
    dec = TiedDense(enc, activation)
    dec.b.data[...] = np.linspace(-1, 1, 5)
    assert (dec.n_in, dec.n_out) == (3, 5) and dec.b.shape == (5,)
    H = np.random.default_rng(1).standard_normal((4, 3))
    expected = NP_ACTIVATIONS[activation](H @ enc.W.to_numpy().T + dec.b.to_numpy())
    np.testing.assert_allclose(dec(ta.Tensor(H)).to_numpy(), expected, rtol=1e-12, atol=1e-14)


def test_sequential_applies_layers_in_order():
    seq = Sequential(Dense(4, 3, "tanh", rng=0), Activation("relu"), Dense(3, 2, "sigmoid", rng=1))
    X = np.random.default_rng(2).standard_normal((5, 4))
    h = np.maximum(np.tanh(X @ seq[0].W.to_numpy()), 0.0)
    expected = 1 / (1 + np.exp(-(h @ seq[2].W.to_numpy())))
    np.testing.assert_allclose(seq(ta.Tensor(X)).to_numpy(), expected, rtol=1e-12)
    assert len(seq) == 3


def test_dense_dtype_float32():
    layer = Dense(4, 3, "sigmoid", rng=0, dtype=np.float32)
    assert layer.W.dtype == np.float32 and layer.b.dtype == np.float32
    assert TiedDense(layer).b.dtype == np.float32
    out = layer(ta.Tensor(np.ones((2, 4), dtype=np.float32)))
    assert out.dtype == np.float32


# -- tied weights: shared object and summed gradients ---------------------------------------------

def test_tied_dense_shares_the_encoder_weight_object():
    enc = Dense(5, 3, "sigmoid", rng=0)
    dec = TiedDense(enc)
    assert dec.W is enc.W
    enc.W.data[0, 0] = 42.0  # in-place change is seen by both
    assert dec.W.data[0, 0] == 42.0


def test_tied_gradient_is_the_sum_of_both_uses():
    rng = np.random.default_rng(0)
    enc = Dense(5, 3, "sigmoid", rng=1)
    dec = TiedDense(enc, "linear")
    enc.b.data[...] = rng.standard_normal(3)
    dec.b.data[...] = rng.standard_normal(5)
    X = ta.Tensor(rng.random((7, 5)))

    loss = F.mse_loss(dec(enc(X)), X)
    loss.backward()
    tied_grad = enc.W.grad.copy()

    # The same network with the weight split into two independent copies.
    W1 = ta.Tensor(enc.W.to_numpy().copy(), requires_grad=True)
    W2 = ta.Tensor(enc.W.to_numpy().copy(), requires_grad=True)
    b1, b2 = ta.Tensor(enc.b.to_numpy()), ta.Tensor(dec.b.to_numpy())
    h = F.sigmoid(X @ W1 + b1)
    split = F.mse_loss(h @ W2.T + b2, X)
    split.backward()
    assert split.item() == pytest.approx(loss.item(), rel=1e-14)
    g1, g2 = W1.grad, W2.grad
    # Both uses contribute, so the tied gradient equals neither alone ...
    assert np.abs(g1).max() > 1e-4 and np.abs(g2).max() > 1e-4
    assert not np.allclose(tied_grad, g1) and not np.allclose(tied_grad, g2)
    # ... but their sum.
    np.testing.assert_allclose(tied_grad, g1 + g2, rtol=1e-12, atol=1e-15)


def test_tied_network_gradcheck():
    enc = Dense(4, 3, "tanh", rng=0)
    net = Sequential(enc, TiedDense(enc, "sigmoid"))
    assert len(net.parameters()) == 3
    net[1].b.data[...] = np.random.default_rng(5).standard_normal(4) * 0.3
    X = ta.Tensor(np.random.default_rng(1).random((5, 4)))
    assert module_gradcheck(net, lambda m: F.mse_loss(m(X), X), mode="full")


# -- argument errors ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(n_in=0, n_out=3), ValueError, "n_in"),
    (dict(n_in=-2, n_out=3), ValueError, "n_in"),
    (dict(n_in=2.0, n_out=3), ValueError, "n_in"),
    (dict(n_in=True, n_out=3), ValueError, "n_in"),
    (dict(n_in=3, n_out=0), ValueError, "n_out"),
    (dict(n_in=3, n_out="4"), ValueError, "n_out"),
    (dict(n_in=3, n_out=2, activation="swish"), ValueError, "activation"),
    (dict(n_in=3, n_out=2, activation=None), ValueError, "activation"),
    (dict(n_in=3, n_out=2, init="xavier"), ValueError, "init"),
    (dict(n_in=3, n_out=2, dtype=np.int32), TypeError, "dtype"),
])
def test_dense_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        Dense(rng=0, **kwargs)


def test_tied_dense_bad_arguments():
    with pytest.raises(TypeError, match="encoder"):
        TiedDense("W")
    with pytest.raises(TypeError, match="encoder"):
        TiedDense(Sequential(Dense(3, 2, rng=0)))
    with pytest.raises(ValueError, match="activation"):
        TiedDense(Dense(3, 2, rng=0), activation="nope")


def test_sequential_bad_arguments():
    with pytest.raises(TypeError, match=r"layers\[1\]"):
        Sequential(Dense(3, 2, rng=0), "relu")
    with pytest.raises(TypeError, match=r"layers\[0\]"):
        Sequential(lambda x: x)


def test_activation_layer_bad_name():
    with pytest.raises(ValueError, match="activation"):
        Activation("gelu")


# -- gradcheck of a small network w.r.t. all parameters ------------------------------------------

def test_sequential_network_gradcheck_all_parameters():
    net = Sequential(
        Dense(4, 5, "tanh", rng=0),
        Dense(5, 3, "sigmoid", rng=1),
        Dense(3, 2, "softplus", rng=2),
    )
    for layer in net.layers:
        layer.b.data[...] = np.random.default_rng(7).standard_normal(layer.b.shape) * 0.5
    rng = np.random.default_rng(3)
    X = ta.Tensor(rng.standard_normal((6, 4)))
    Y = ta.Tensor(rng.standard_normal((6, 2)))
    assert len(net.parameters()) == 6
    assert module_gradcheck(net, lambda m: F.mse_loss(m(X), Y), mode="full")


def test_module_gradcheck_catches_a_wrong_gradient():
    """The helper really differentiates w.r.t. the parameters: a loss whose
    gradient is cut (detach) must fail it."""
    net = Sequential(Dense(3, 2, "tanh", rng=0))
    X = ta.Tensor(np.random.default_rng(0).standard_normal((4, 3)))

    def cut(m):
        a = X @ m[0].W.detach() + m[0].b  # W's gradient is lost
        return (F.tanh(a) ** 2).mean()

    with pytest.raises(ta.GradcheckError):
        module_gradcheck(net, cut, mode="full")


# -- initialisers ----------------------------------------------------------------------------

FI, FO = 300, 500  # 150 000 draws


def _draw(name, seed=0):
    return I.get_initializer(name)(FI, FO, np.random.default_rng(seed))


def _check_moments(W, var):
    n = W.size
    assert W.shape == (FI, FO)
    assert abs(W.mean()) < 5 * np.sqrt(var / n)
    assert W.var() == pytest.approx(var, rel=0.03)


@pytest.mark.parametrize("name, bound", [
    ("glorot_uniform", np.sqrt(6.0 / (FI + FO))),
    ("ufldl_uniform", np.sqrt(6.0 / (FI + FO + 1))),
])
def test_uniform_initialisers(name, bound):
    W = _draw(name)
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.999 * bound  # the whole interval is used
    _check_moments(W, bound ** 2 / 3.0)  # Var U(-r, r) = r^2 / 3
    # Uniform: a quarter of the mass in each quarter of [-r, r].
    counts = np.histogram(W, bins=4, range=(-bound, bound))[0] / W.size
    np.testing.assert_allclose(counts, 0.25, atol=0.01)


@pytest.mark.parametrize("name, var", [
    ("glorot_normal", 2.0 / (FI + FO)),
    ("he_normal", 2.0 / FI),
    ("lecun_normal", 1.0 / FI),
])
def test_normal_initialisers(name, var):
    W = _draw(name)
    _check_moments(W, var)
    # Gaussian, not uniform with the same variance: 68.3% within one sd, some beyond 3 sd.
    sd = np.sqrt(var)
    assert np.mean(np.abs(W) < sd) == pytest.approx(0.6827, abs=0.01)
    assert np.mean(np.abs(W) > 3 * sd) == pytest.approx(0.0027, abs=0.001)


def test_glorot_uniform_variance_formula():
    """The docstring's claim Var = 2 / (fan_in + fan_out)."""
    W = _draw("glorot_uniform")
    assert W.var() == pytest.approx(2.0 / (FI + FO), rel=0.03)


@pytest.mark.parametrize("name", sorted(I.INITIALISERS))
def test_initialiser_seeding_and_dtype(name):
    np.testing.assert_array_equal(_draw(name, 1), _draw(name, 1))
    assert not np.array_equal(_draw(name, 1), _draw(name, 2))
    W32 = I.get_initializer(name)(3, 4, np.random.default_rng(0), np.float32)
    assert W32.dtype == np.float32 and W32.shape == (3, 4)
    # A layer with the same seed (int or Generator) gets the same weights.
    a = Dense(6, 4, init=name, rng=5)
    b = Dense(6, 4, init=name, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.W.to_numpy(), b.W.to_numpy())
    np.testing.assert_array_equal(a.W.to_numpy(), I.get_initializer(name)(6, 4, np.random.default_rng(5)))
    assert not np.array_equal(a.W.to_numpy(), Dense(6, 4, init=name, rng=6).W.to_numpy())
    np.testing.assert_array_equal(a.b.to_numpy(), 0.0)


def test_default_init_per_activation():
    for act in ("relu", "leaky_relu", "elu"):
        assert default_init(act) == "he_normal" and Dense(3, 2, act, rng=0).init == "he_normal"
    for act in ("sigmoid", "tanh", "linear", "softplus"):
        assert default_init(act) == "glorot_uniform" and Dense(3, 2, act, rng=0).init == "glorot_uniform"


def test_unknown_initialiser():
    with pytest.raises(ValueError, match="init"):
        I.get_initializer("orthogonal")
