"""``tinyae gradcheck``: check every op's gradient on the chosen backend.

Each entry builds inputs inside the op's domain from a seeded generator and
runs :func:`tinyae.gradcheck` in float64. The thorough, Hypothesis-driven
version of this lives in the test-suite (``tests/catalog.py``); this one is
for users checking an installation or a backend.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinyae import functional as F
from tinyae import ops
from tinyae.backend import use_backend
from tinyae.gradcheck import GradcheckError, gradcheck
from tinyae.nn import penalties
from tinyae.tensor import Tensor

__all__ = ["SELFTEST_OPS", "run_selftest"]


def _real(rng, *shape):
    return rng.uniform(-2, 2, shape)


def _positive(rng, *shape):
    return rng.uniform(0.5, 2, shape)


def _away_from_zero(rng, *shape):
    x = rng.uniform(0.2, 2, shape)
    return x * rng.choice([-1.0, 1.0], shape)


def _unit(rng, *shape):
    return rng.uniform(0.05, 0.95, shape)


# name -> (function of Tensors, input makers)
SELFTEST_OPS: dict[str, tuple[Callable[..., Tensor], Callable]] = {
    "add": (lambda a, b: a + b, lambda r: (_real(r, 3, 4), _real(r, 4))),
    "sub": (lambda a, b: a - b, lambda r: (_real(r, 3, 1), _real(r, 3, 4))),
    "mul": (lambda a, b: a * b, lambda r: (_real(r, 3, 4), _real(r, 1, 4))),
    "div": (lambda a, b: a / b, lambda r: (_real(r, 3, 4), _away_from_zero(r, 3, 4))),
    "neg": (lambda a: -a, lambda r: (_real(r, 5),)),
    "pow": (lambda a: a ** 1.5, lambda r: (_positive(r, 3, 4),)),
    "matmul": (lambda a, b: a @ b, lambda r: (_real(r, 3, 4), _real(r, 4, 2))),
    "sum": (lambda a: a.sum(axis=0), lambda r: (_real(r, 3, 4),)),
    "mean": (lambda a: a.mean(axis=1, keepdims=True), lambda r: (_real(r, 3, 4),)),
    "max": (lambda a: a.max(axis=1), lambda r: (r.permutation(12).reshape(3, 4) * 0.3,)),
    "reshape": (lambda a: a.reshape(4, 3), lambda r: (_real(r, 3, 4),)),
    "transpose": (lambda a: a.T, lambda r: (_real(r, 3, 4),)),
    "getitem": (lambda a: a[1:, ::2], lambda r: (_real(r, 3, 4),)),
    "concatenate": (lambda a, b: ops.concatenate([a, b], axis=1), lambda r: (_real(r, 2, 3), _real(r, 2, 2))),
    "exp": (ops.exp, lambda r: (_real(r, 3, 4),)),
    "log": (ops.log, lambda r: (_positive(r, 3, 4),)),
    "sqrt": (ops.sqrt, lambda r: (_positive(r, 3, 4),)),
    "abs": (ops.abs, lambda r: (_away_from_zero(r, 3, 4),)),
    "clip": (lambda a: ops.clip(a, -1.0, 1.0), lambda r: (_away_from_zero(r, 3, 4) * 0.7,)),
    "maximum": (ops.maximum, lambda r: (_real(r, 3, 4), _real(r, 3, 4) + 0.01)),
    "where": (lambda a, b: ops.where(a.data > 0, a, b), lambda r: (_away_from_zero(r, 3, 4), _real(r, 3, 4))),
    "sigmoid": (F.sigmoid, lambda r: (_real(r, 3, 4),)),
    "tanh": (F.tanh, lambda r: (_real(r, 3, 4),)),
    "relu": (F.relu, lambda r: (_away_from_zero(r, 3, 4),)),
    "leaky_relu": (F.leaky_relu, lambda r: (_away_from_zero(r, 3, 4),)),
    "elu": (F.elu, lambda r: (_away_from_zero(r, 3, 4),)),
    "softplus": (F.softplus, lambda r: (_real(r, 3, 4),)),
    "log_sigmoid": (F.log_sigmoid, lambda r: (_real(r, 3, 4),)),
    # Targets are data: constant Tensors (requires_grad=False), which gradcheck does not perturb.
    "mse_loss": (F.mse_loss, lambda r: (_real(r, 3, 4), Tensor(_real(r, 3, 4)))),
    "bce_with_logits": (F.binary_cross_entropy_with_logits, lambda r: (_real(r, 3, 4), Tensor(_unit(r, 3, 4)))),
    "dense[sigmoid]": (lambda x, w, b: F.dense(x, w, b, "sigmoid"),
                       lambda r: (_real(r, 3, 4), _real(r, 4, 2), _real(r, 2))),
    "dense[relu]": (lambda x, w, b: F.dense(x, w, b, "relu"),
                    lambda r: (_away_from_zero(r, 3, 1) @ np.ones((1, 4)), np.eye(4, 2), _real(r, 2) * 0.01)),
    "kl_sparsity": (lambda h: penalties.kl_sparsity(h, 0.1, 3.0), lambda r: (_unit(r, 5, 3),)),
    "contractive": (lambda h, w: penalties.contractive(h, w, "sigmoid", 0.1), lambda r: (_unit(r, 5, 3), _real(r, 4, 3))),
}


def run_selftest(backend: str = "numpy", seed: int = 0) -> list[tuple[str, bool, str]]:
    """Gradcheck every op in :data:`SELFTEST_OPS` on ``backend``.

    Returns
    -------
    list of (name, passed, message)
    """
    rng = np.random.default_rng(seed)
    results = []
    with use_backend(backend):
        for name, (fn, make) in SELFTEST_OPS.items():
            try:
                gradcheck(fn, *make(rng))
                results.append((name, True, ""))
            except GradcheckError as exc:
                results.append((name, False, str(exc)))
    return results
