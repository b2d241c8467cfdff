"""What sparsity penalties and input noise add to a training step, fused kernels against compositions.

The UFLDL-sized autoencoder 784-196-784 (sigmoid units, MSE, float32, Adam
lr 1e-3) on the Numba backend, one training step (forward, backward, Adam)
plain and with each regulariser:

* ``l1`` (``l1_activity``, weight 1e-3) and ``kl`` (``kl_sparsity``, rho 0.05,
  beta 3): **fused** is tinyae's op (one kernel computes the value and the
  gradient); **composed** builds the same penalty from primitives
  (``abs``/``sum`` and ``mean``/``clip``/``log``), as tinyae did before;
* ``masking`` (30 %) and ``salt_and_pepper`` (30 %): **fused** is tinyae's
  noise function (one Numba pass per row picks the k smallest random keys and
  writes the corrupted copy); **composed** is the NumPy formulation
  (``argpartition`` + fancy-index assignment), the kernels' specification;
* ``gaussian`` (sigma 0.1) has no kernel: its cost is NumPy's normal draw.

All cells are timed interleaved in one process (``_common.round_robin``).
"extra" is a row's median minus the plain step's median at that batch.

    .venv/bin/python benchmarks/regularised_step.py            # full run (~1 min)
    .venv/bin/python benchmarks/regularised_step.py --quick    # smoke test (noisy)
"""

from __future__ import annotations

import sys

import numpy as np

import _common as C
from tinyae import ops
from tinyae import functional as F
from tinyae.backend import numpy_kernels, use_backend
from tinyae.models.autoencoder import AutoencoderModule
from tinyae.nn import noise as N
from tinyae.nn import penalties as P
from tinyae.optim import Adam
from tinyae.tensor import Tensor

RHO, BETA, L1_WEIGHT, FRACTION, SIGMA = 0.05, 3.0, 1e-3, 0.3, 0.1


def parse_args(argv=None):
    p = C.timing_parser(__doc__, target_seconds=1.0, min_steps=20, max_steps=20_000, quick_max_steps=20,
                        quick_min_steps=3)
    p.add_argument("--batches", default="64,256", help="comma-separated batch sizes (default %(default)s)")
    args = C.finish_timing_args(p.parse_args(argv))
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    return args


def composed_l1(h: Tensor) -> Tensor:
    return ops.abs(h).sum() * (L1_WEIGHT / h.shape[0])


def composed_kl(h: Tensor, eps: float = 1e-6) -> Tensor:
    rho_hat = ops.clip(h.mean(axis=0), eps, 1.0 - eps)
    return (RHO * ops.log(RHO / rho_hat) + (1.0 - RHO) * ops.log((1.0 - RHO) / (1.0 - rho_hat))).sum() * BETA


def _k(d: int) -> int:
    return int(np.floor(FRACTION * d + 0.5))


def composed_masking(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return numpy_kernels.mask_noise(X, rng.random(X.shape), _k(X.shape[1]))


def composed_salt_pepper(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = _k(X.shape[1])
    keys = rng.random(X.shape)
    salt = rng.random((X.shape[0], k)) < 0.5
    return numpy_kernels.salt_pepper_noise(X, keys, salt, k, float(X.min()), float(X.max()))


FUSED = {
    "none": (None, None),
    "l1": (None, lambda h: P.l1_activity(h, L1_WEIGHT)),
    "kl": (None, lambda h: P.kl_sparsity(h, RHO, BETA)),
    "masking": (lambda X, rng: N.masking_noise(X, FRACTION, rng), None),
    "salt_and_pepper": (lambda X, rng: N.salt_and_pepper_noise(X, FRACTION, rng), None),
    "gaussian": (lambda X, rng: N.gaussian_noise(X, SIGMA, rng), None),
}
COMPOSED = {
    "l1": (None, composed_l1),
    "kl": (None, composed_kl),
    "masking": (composed_masking, None),
    "salt_and_pepper": (composed_salt_pepper, None),
}


def make_step(X: np.ndarray, noise, penalty):
    """One step of a fresh 784-196-784 model (same seed for every cell): noise on the input, penalty on the code."""
    with use_backend("numba"):
        model = AutoencoderModule(784, 196, activation="sigmoid", dtype=np.float32, rng=0)
        opt = Adam(model.parameters(), lr=1e-3)
        Xt = Tensor(X)
    rng = np.random.default_rng(1)

    def step():
        with use_backend("numba"):
            X_in = Xt if noise is None else Tensor(noise(X, rng))
            h = model.encode(X_in)
            loss = F.mse_loss(model.decoder(h), Xt)
            if penalty is not None:
                loss = loss + penalty(h)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss
    return step


def main(argv=None) -> int:
    args = parse_args(argv)
    load0 = C.loadavg()
    cells, sanity = {}, []
    for B in args.batches:
        X = np.random.default_rng(0).random((B, 784), dtype=np.float32)
        for reg, (noise, penalty) in FUSED.items():
            cells[(B, reg, "fused")] = make_step(X, noise, penalty)
        for reg, (noise, penalty) in COMPOSED.items():
            cells[(B, reg, "composed")] = make_step(X, noise, penalty)
            # Same seeds: the fused and composed steps must compute the same losses.
            a, b = C.to_float(make_step(X, *FUSED[reg])()), C.to_float(make_step(X, noise, penalty)())
            sanity.append(abs(a - b) / abs(b))

    times = C.round_robin(cells, steps=args.steps, target_s=args.target_seconds, rounds=args.rounds,
                          settle_s=args.settle, min_steps=args.min_steps, max_steps=args.max_steps)
    med = {k: C.median(v) for k, v in times.items()}

    rows = []
    for B in args.batches:
        plain = med[(B, "none", "fused")]
        for reg in FUSED:
            for kind in ("fused", "composed"):
                key = (B, reg, kind)
                if key not in med:
                    continue
                t = med[key]
                extra = t - plain
                other = med.get((B, reg, "composed"))
                gain = ""
                if kind == "fused" and other is not None:
                    gain = f"{(other - plain) / extra:.1f}×" if extra > 0 else "–"
                rows.append([B, reg, kind if reg != "none" else "plain step", C.fmt_ms(t),
                             f"{100 * C.spread(times[key]):.0f} %", len(times[key]),
                             "" if reg == "none" else f"{extra * 1e3:+.2f}",
                             "" if reg == "none" else f"{100 * extra / plain:+.0f} %", gain])

    print("### Regularisers in a training step: 784-196-784 sigmoid autoencoder, Numba backend, float32, Adam\n")
    C.print_table(["batch", "regulariser", "implementation", "ms/step", "IQR", "n", "extra (ms)", "extra",
                   "composed extra / fused extra"], rows, align="rllrrrrrr")
    print()
    pool_launched, pool_text = C.numba_pool_status()
    print(f"- {C.method_line(args)}; IQR = interquartile range / median.")
    print(f"- l1 weight {L1_WEIGHT}; kl rho {RHO}, beta {BETA}; masking and salt-and-pepper {FRACTION:.0%} of the "
          f"features per sample; gaussian sigma {SIGMA}. 'extra' = this row minus the plain step.")
    print(f"- sanity: fused and composed first-step losses agree to {max(sanity):.1e} relative (same seeds).")
    print(f"- relapse check: Numba parallel thread pool after all runs: {pool_text} "
          f"-- {'FAIL' if pool_launched else 'PASS' if pool_launched is not None else 'n/a'}.")
    C.print_run_footer(load0, "--quick: smoke-test numbers, not results" if args.quick else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
