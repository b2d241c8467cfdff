"""Tests for tinyae.models: the autoencoder family and the VAE.

For every member of the family the loss terms are checked three ways: the
keys present, the values against an independent plain-NumPy forward pass,
and the gradient of their sum w.r.t. every Parameter with ``tinyae.gradcheck``
in float64. The denoising autoencoder is checked to corrupt only the encoder
input (the target stays clean) and only in training mode. The VAE's sampler
is checked statistically (variance = exp(logvar), not its square), and its KL
term against the closed form and a Monte-Carlo estimate drawn with the same
sampler.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyae as ta
from tinyae.models import AutoencoderModule, VAEModule
from tinyae.nn import Module

from helpers import module_gradcheck




def total(terms: dict) -> ta.Tensor:
    out = None
    for t in terms.values():
        out = t if out is None else out + t
    return out


# -- a plain-NumPy reference of the autoencoder objective ------------------------------

ACT = {
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
    "linear": lambda a: a,
}
DACT = {  # act'(a) written with the output h
    "sigmoid": lambda h: h * (1.0 - h),
    "tanh": lambda h: 1.0 - h ** 2,
    "relu": lambda h: (h > 0).astype(float),
    "linear": lambda h: np.ones_like(h),
}


def reference_terms(cfg: dict, model: AutoencoderModule, X_in: np.ndarray, X: np.ndarray) -> dict[str, float]:
    """Every loss term from the weights, for encoder input ``X_in`` and target ``X``."""
    hidden = tuple(cfg.get("hidden_sizes", ()))
    act = cfg.get("activation", "sigmoid")
    code_act = cfg.get("code_activation") or act
    out_act = cfg.get("output_activation", "sigmoid")
    loss = cfg.get("loss", "mse")
    enc = [(l.W.to_numpy(), l.b.to_numpy()) for l in model.encoder.layers]
    if cfg.get("tied_weights"):
        dec = [(W.T, l.b.to_numpy()) for (W, _), l in zip(reversed(enc), model.decoder.layers)]
    else:
        dec = [(l.W.to_numpy(), l.b.to_numpy()) for l in model.decoder.layers]
    h = X_in
    for i, (W, b) in enumerate(enc):
        h = ACT[act if i < len(hidden) else code_act](h @ W + b)
    code = h
    for i, (W, b) in enumerate(dec):
        a = h @ W + b
        h = ACT[act](a) if i < len(hidden) else a  # the last layer's pre-activation
    if loss == "mse":
        terms = {"reconstruction": np.mean((ACT[out_act](h) - X) ** 2)}
    else:
        terms = {"reconstruction": np.mean(np.logaddexp(0.0, h) - X * h)}
    n = len(X)
    sparsity = cfg.get("sparsity")
    if sparsity and sparsity[0] == "l1":
        terms["sparsity"] = sparsity[1] * np.abs(code).sum() / n
    elif sparsity:
        rho, beta = sparsity[1], sparsity[2]
        rho_hat = np.clip(code.mean(axis=0), 1e-6, 1 - 1e-6)
        terms["sparsity"] = beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    if cfg.get("contractive"):
        W = enc[0][0]
        d = DACT[code_act](code)
        # ||J||_F^2 = sum_j act'(a_j)^2 sum_i W_ij^2 with W of shape (n_in, n_out)
        terms["contractive"] = cfg["contractive"] * np.mean(np.sum(d ** 2 * (W ** 2).sum(axis=0), axis=1))
    if cfg.get("weight_decay"):
        Ws = [W for W, _ in enc] + ([] if cfg.get("tied_weights") else [W for W, _ in dec])
        terms["weight_decay"] = 0.5 * cfg["weight_decay"] * sum(np.sum(W ** 2) for W in Ws)
    return terms


def jacobian_norm_fd(model: AutoencoderModule, x: np.ndarray, eps: float = 1e-6) -> float:
    """||dh/dx||_F^2 of the encoder at one sample, by central differences."""
    def h(v):
        with ta.no_grad():
            return model.encode(ta.Tensor(v[None, :])).to_numpy()[0]
    cols = []
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((h(x + e) - h(x - e)) / (2 * eps))
    return float(np.sum(np.square(cols)))


# -- the family ------------------------------------------------------------------------------

N_FEATURES, N_CODE = 5, 3

FAMILY = {
    "undercomplete": dict(),
    "undercomplete_bce": dict(loss="bce"),
    "deep": dict(hidden_sizes=(8, 4), activation="tanh"),
    "linear": dict(activation="linear", output_activation="linear"),
    "sparse_l1": dict(sparsity=("l1", 0.1)),
    "sparse_kl": dict(activation="relu", code_activation="sigmoid", sparsity=("kl", 0.2, 3.0)),
    "denoising_gaussian": dict(noise=("gaussian", 0.3)),
    "denoising_masking": dict(noise=("masking", 0.4), hidden_sizes=(4,)),
    "denoising_salt_and_pepper": dict(noise=("salt_and_pepper", 0.4)),
    "contractive_sigmoid": dict(contractive=0.5, activation="sigmoid"),
    "contractive_tanh": dict(contractive=0.5, activation="tanh"),
    "contractive_relu": dict(contractive=0.5, activation="relu"),
    "tied": dict(tied_weights=True, hidden_sizes=(4,), activation="tanh"),
    "weight_decay": dict(weight_decay=0.05),
    "everything": dict(tied_weights=True, sparsity=("l1", 0.05), contractive=0.2, weight_decay=0.01,
                       noise=("masking", 0.2), loss="bce"),
}

EXPECTED_KEYS = {
    "sparse_l1": {"reconstruction", "sparsity"},
    "sparse_kl": {"reconstruction", "sparsity"},
    "contractive_sigmoid": {"reconstruction", "contractive"},
    "contractive_tanh": {"reconstruction", "contractive"},
    "contractive_relu": {"reconstruction", "contractive"},
    "weight_decay": {"reconstruction", "weight_decay"},
    "everything": {"reconstruction", "sparsity", "contractive", "weight_decay"},
}


def build(name: str, seed: int = 0) -> AutoencoderModule:
    return AutoencoderModule(N_FEATURES, N_CODE, rng=seed, **FAMILY[name])


def batch(seed: int = 0, n: int = 6) -> np.ndarray:
    return np.random.default_rng(100 + seed).uniform(0.05, 0.95, (n, N_FEATURES))


def randomise_biases(model: Module, seed: int = 0) -> None:
    """Non-zero biases, so their gradients and the reference are really exercised."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.endswith(".b"):
            p.data[...] = rng.standard_normal(p.shape) * 0.3


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_loss_terms_keys_and_values(name):
    model = build(name)
    randomise_biases(model)
    X = batch()
    rng_seed = 11
    terms = model.loss_terms(ta.Tensor(X), np.random.default_rng(rng_seed))
    assert set(terms) == EXPECTED_KEYS.get(name, {"reconstruction"})
    for t in terms.values():
        assert t.shape == () and np.isfinite(t.item()) and t.item() >= 0
    X_in = X if model.noise is None else model.noise(X, np.random.default_rng(rng_seed))
    expected = reference_terms(FAMILY[name], model, X_in, X)
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, rel=1e-10, abs=1e-14), key


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_gradcheck_sum_of_terms(name):
    model = build(name, seed=1)
    randomise_biases(model, seed=1)
    X = ta.Tensor(batch(1))

    def loss(m):
        # A fresh, identically seeded rng per evaluation: the same noise every time.
        return total(m.loss_terms(X, np.random.default_rng(0)))

    mode = "full" if model.n_parameters() <= 80 else "directional"
    assert module_gradcheck(model, loss, mode=mode)


def test_family_structure():
    deep = build("deep")
    assert [(l.n_in, l.n_out) for l in deep.encoder.layers] == [(5, 8), (8, 4), (4, 3)]
    assert [(l.n_in, l.n_out) for l in deep.decoder.layers] == [(3, 4), (4, 8), (8, 5)]
    tied = build("tied")
    assert [l.W for l in tied.decoder.layers] == [l.W for l in reversed(tied.encoder.layers)]
    linear = build("linear")
    X = ta.Tensor(batch())
    # A linear autoencoder is an affine map: f(2x) - f(x) = f(x) - f(0).
    f = lambda A: linear(ta.Tensor(A)).to_numpy()
    np.testing.assert_allclose(f(2 * X.data) - f(X.data), f(X.data) - f(0 * X.data), atol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_contractive_term_is_the_encoder_jacobian(activation):
    """The closed form equals lam * mean_n ||dh/dx||_F^2 from finite differences."""
    lam = 0.5
    model = AutoencoderModule(N_FEATURES, N_CODE, activation=activation, contractive=lam, rng=2)
    randomise_biases(model, 2)
    X = batch(2)
    value = model.loss_terms(ta.Tensor(X))["contractive"].item()
    fd = np.mean([jacobian_norm_fd(model, x) for x in X])
    assert value == pytest.approx(lam * fd, rel=1e-6)


def test_contractive_needs_one_layer_encoder():
    with pytest.raises(ValueError, match="contractive"):
        AutoencoderModule(5, 2, hidden_sizes=(4,), contractive=0.1)


@pytest.mark.parametrize("kwargs, name", [
    (dict(loss="hinge"), "loss"),
    (dict(loss="bce", output_activation="linear"), "loss"),
    (dict(sparsity=("l2", 0.1)), "sparsity"),
    (dict(sparsity=("kl", 1.5, 1.0)), "sparsity"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(noise=("pink", 0.1)), "kind"),
    (dict(activation="swish"), "activation"),
])
def test_autoencoder_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AutoencoderModule(5, 2, **kwargs)


# -- denoising: where the noise goes ---------------------------------------------------------

@pytest.mark.parametrize("name", ["denoising_gaussian", "denoising_masking", "denoising_salt_and_pepper"])
def test_eval_mode_applies_no_noise(name):
    noisy, clean = build(name), AutoencoderModule(N_FEATURES, N_CODE, rng=0,
                                                  **{k: v for k, v in FAMILY[name].items() if k != "noise"})
    X = ta.Tensor(batch())
    noisy.eval()
    a = noisy.loss_terms(X)  # no rng needed in eval mode
    b = noisy.loss_terms(X, np.random.default_rng(1))
    c = clean.loss_terms(X)
    assert a["reconstruction"].item() == b["reconstruction"].item() == c["reconstruction"].item()
    # forward never adds noise, in either mode.
    np.testing.assert_array_equal(noisy(X).to_numpy(), clean(X).to_numpy())
    noisy.train()
    np.testing.assert_array_equal(noisy(X).to_numpy(), clean(X).to_numpy())


@pytest.mark.parametrize("name", ["denoising_gaussian", "denoising_masking", "denoising_salt_and_pepper"])
def test_train_mode_corrupts_input_but_target_is_clean(name):
    model = build(name)
    randomise_biases(model)
    X = batch()
    X_before = X.copy()
    terms = model.loss_terms(ta.Tensor(X), np.random.default_rng(4))
    np.testing.assert_array_equal(X, X_before)  # the data is not modified
    X_noisy = model.noise(X, np.random.default_rng(4))
    assert not np.allclose(X_noisy, X)
    cfg = FAMILY[name]
    got = terms["reconstruction"].item()
    assert got == pytest.approx(reference_terms(cfg, model, X_noisy, X)["reconstruction"], rel=1e-12)
    # Not the clean-input loss, and not the loss against the noisy target.
    assert got != pytest.approx(reference_terms(cfg, model, X, X)["reconstruction"], rel=1e-6)
    assert got != pytest.approx(reference_terms(cfg, model, X_noisy, X_noisy)["reconstruction"], rel=1e-6)
    # The same rng seed gives the same noise, another seed other noise.
    same = model.loss_terms(ta.Tensor(X), np.random.default_rng(4))["reconstruction"].item()
    other = model.loss_terms(ta.Tensor(X), np.random.default_rng(5))["reconstruction"].item()
    assert same == got and other != got


def test_train_mode_noise_needs_rng():
    model = build("denoising_masking")
    with pytest.raises(ValueError, match="rng"):
        model.loss_terms(ta.Tensor(batch()))


# -- VAE ----------------------------------------------------------------------------------------

def build_vae(seed: int = 0, **kwargs) -> VAEModule:
    kwargs.setdefault("hidden_sizes", (4,))
    model = VAEModule(N_FEATURES, 2, rng=seed, **kwargs)
    randomise_biases(model, seed)
    return model


def test_vae_parameters_and_names():
    model = build_vae()
    names = [n for n, _ in model.named_parameters()]
    assert sorted(names) == sorted([
        "encoder.layers.0.W", "encoder.layers.0.b", "mu_head.W", "mu_head.b",
        "logvar_head.W", "logvar_head.b", "decoder.layers.0.W", "decoder.layers.0.b",
        "decoder.layers.1.W", "decoder.layers.1.b",
    ])


def test_reparameterize_variance_is_exp_logvar():
    """z = mu + exp(logvar / 2) eps has variance exp(logvar), NOT exp(logvar)**2 = exp(2 logvar)."""
    n = 200_000
    mu_row = np.array([1.5, -0.5, 0.0])
    var_row = np.array([4.0, 0.25, 1.0])  # sigma = 2, 0.5, 1
    mu = ta.Tensor(np.tile(mu_row, (n, 1)))
    logvar = ta.Tensor(np.tile(np.log(var_row), (n, 1)))
    z = VAEModule.reparameterize(mu, logvar, np.random.default_rng(0)).to_numpy()
    assert z.shape == (n, 3)
    sd_of_var = var_row * np.sqrt(2.0 / n)  # standard error of a Gaussian sample variance
    np.testing.assert_array_less(np.abs(z.var(axis=0) - var_row), 5 * sd_of_var)
    np.testing.assert_array_less(np.abs(z.mean(axis=0) - mu_row), 5 * np.sqrt(var_row / n))
    # The common bug (std = exp(logvar)) would give variance 16 and 1/16: far outside.
    assert abs(z[:, 0].var() - 16.0) > 100 * sd_of_var[0]
    assert abs(z[:, 1].var() - 0.0625) > 100 * sd_of_var[1]
    # Normal, not merely the right variance.
    u = (z[:, 0] - 1.5) / 2.0
    assert np.mean(np.abs(u) < 1) == pytest.approx(0.6827, abs=0.005)


def test_reparameterize_is_seeded_and_checks_rng():
    mu, logvar = ta.Tensor(np.zeros((3, 2))), ta.Tensor(np.zeros((3, 2)))
    a = VAEModule.reparameterize(mu, logvar, np.random.default_rng(1)).to_numpy()
    b = VAEModule.reparameterize(mu, logvar, np.random.default_rng(1)).to_numpy()
    c = VAEModule.reparameterize(mu, logvar, np.random.default_rng(2)).to_numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(TypeError, match="rng"):
        VAEModule.reparameterize(mu, logvar, 0)


def test_reparameterize_gradients():
    """dz/dmu = 1 and dz/dlogvar = exp(logvar/2) eps / 2, with eps the same draw."""
    mu = ta.Tensor(np.array([[0.3, -1.0]]), requires_grad=True)
    logvar = ta.Tensor(np.array([[0.4, -2.0]]), requires_grad=True)
    z = VAEModule.reparameterize(mu, logvar, np.random.default_rng(3))
    eps = (z.to_numpy() - mu.to_numpy()) / np.exp(logvar.to_numpy() / 2)
    z.sum().backward()
    np.testing.assert_allclose(mu.grad, 1.0)
    np.testing.assert_allclose(logvar.grad, 0.5 * np.exp(logvar.to_numpy() / 2) * eps, rtol=1e-12)


@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_vae_kl_term_is_the_closed_form(beta):
    model = build_vae(beta=beta)
    X = ta.Tensor(batch())
    terms = model.loss_terms(X, np.random.default_rng(0))
    assert set(terms) == {"reconstruction", "kl"}
    mu, logvar = (t.to_numpy() for t in model.encode(X))
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar)) / len(mu)  # per sample, batch mean
    assert terms["kl"].item() == pytest.approx(beta * kl, rel=1e-12)


def test_vae_kl_matches_monte_carlo_with_the_same_sampler():
    """KL(q || p) = E_q[log q(z) - log p(z)], with z drawn by VAEModule.reparameterize."""
    model = build_vae(seed=3)
    X = ta.Tensor(batch(3, n=4))
    mu, logvar = (t.to_numpy() for t in model.encode(X))
    # Make the posterior clearly different from N(0, I) so the KL is sizeable.
    mu, logvar = mu + np.array([1.0, -0.5]), logvar + np.array([0.8, -1.2])
    k = 50_000
    MU, LV = np.repeat(mu, k, axis=0), np.repeat(logvar, k, axis=0)
    z = VAEModule.reparameterize(ta.Tensor(MU), ta.Tensor(LV), np.random.default_rng(7)).to_numpy()
    log_q = np.sum(-0.5 * np.log(2 * np.pi) - 0.5 * LV - (z - MU) ** 2 / (2 * np.exp(LV)), axis=1)
    log_p = np.sum(-0.5 * np.log(2 * np.pi) - 0.5 * z ** 2, axis=1)
    per_sample = (log_q - log_p).reshape(len(mu), k)
    mc = per_sample.mean(axis=1).mean()
    stderr = np.sqrt(np.sum(per_sample.var(axis=1) / k)) / len(mu)
    analytic = ta.nn.penalties.gaussian_kl(ta.Tensor(mu), ta.Tensor(logvar)).item()
    assert abs(mc - analytic) < 5 * stderr
    assert analytic > 50 * stderr  # the comparison is not vacuous
    # And the model's own KL term is the same function of the encoder's output.
    mu0, lv0 = model.encode(X)
    assert model.loss_terms(X, np.random.default_rng(0))["kl"].item() == pytest.approx(
        ta.nn.penalties.gaussian_kl(mu0, lv0).item(), rel=1e-14)


@pytest.mark.parametrize("loss, out_act", [("bce", "sigmoid"), ("mse", "sigmoid"), ("mse", "linear")])
def test_vae_reconstruction_uses_the_sampled_z(loss, out_act):
    model = build_vae(loss=loss, output_activation=out_act)
    X = batch()
    terms = model.loss_terms(ta.Tensor(X), np.random.default_rng(5))
    mu, logvar = model.encode(ta.Tensor(X))
    z = VAEModule.reparameterize(mu, logvar, np.random.default_rng(5)).to_numpy()
    (W1, b1), (W2, b2) = [(l.W.to_numpy(), l.b.to_numpy()) for l in model.decoder.layers]
    logits = np.maximum(z @ W1 + b1, 0.0) @ W2 + b2
    if loss == "bce":
        per_element = np.logaddexp(0.0, logits) - X * logits
    else:
        per_element = (ACT[out_act](logits) - X) ** 2
    expected = per_element.sum(axis=1).mean()  # summed over features, averaged over samples
    assert terms["reconstruction"].item() == pytest.approx(expected, rel=1e-12)


def test_vae_forward_uses_mu():
    model = build_vae()
    X = ta.Tensor(batch())
    np.random.seed(0)
    a = model(X).to_numpy()
    np.random.seed(1)
    b = model(X).to_numpy()
    np.testing.assert_array_equal(a, b)
    mu, _ = model.encode(X)
    np.testing.assert_array_equal(a, model.decode(mu).to_numpy())
    model.eval()
    np.testing.assert_array_equal(a, model(X).to_numpy())


def test_vae_loss_terms_needs_rng():
    with pytest.raises(ValueError, match="rng"):
        build_vae().loss_terms(ta.Tensor(batch()))


@pytest.mark.parametrize("kwargs", [dict(), dict(loss="mse", output_activation="linear", beta=0.5),
                                    dict(hidden_sizes=(4, 3), activation="tanh")])
def test_vae_gradcheck(kwargs):
    model = build_vae(seed=2, **kwargs)
    X = ta.Tensor(batch(2, n=5))

    def loss(m):
        return total(m.loss_terms(X, np.random.default_rng(0)))  # the same eps every evaluation

    assert module_gradcheck(model, loss, mode="directional", n_directions=6)


def test_vae_gradcheck_full_tiny():
    model = VAEModule(3, 1, hidden_sizes=(2,), rng=4)
    randomise_biases(model, 4)
    X = ta.Tensor(np.random.default_rng(0).random((3, 3)))
    assert module_gradcheck(model, lambda m: total(m.loss_terms(X, np.random.default_rng(0))), mode="full")


def test_vae_bad_arguments():
    with pytest.raises(ValueError, match="beta"):
        VAEModule(5, 2, beta=-1.0)
    with pytest.raises(ValueError, match="loss"):
        VAEModule(5, 2, loss="bce", output_activation="linear")
