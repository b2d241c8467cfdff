"""Each Numba kernel against its NumPy twin (the specification), in ns per element.

The kernels of a training step and of the regularisers, on float32 arrays of
the sizes they meet in the benchmarks' autoencoders. Every call includes its
Python wrapper and allocations, as the engine calls it. ``bias_act`` gets a
fresh copy of its input each call (it overwrites it), and the copy's time is
measured separately and subtracted.

    .venv/bin/python benchmarks/kernels.py            # full run (~1 min)
    .venv/bin/python benchmarks/kernels.py --quick    # smoke test (noisy)
"""

from __future__ import annotations

import sys

import numpy as np

import _common as C
from tinyae.backend import numpy_kernels

SHAPES = [(16, 512), (256, 512), (1024, 784)]
ADAM_SHAPES = [(784, 512), (512,), (512, 128), (128,), (128, 32), (32,),
               (32, 128), (128,), (128, 512), (512,), (512, 784), (784,)]  # 944,176 parameters


def parse_args(argv=None):
    p = C.timing_parser(__doc__, target_seconds=0.3, min_steps=20, max_steps=100_000, quick_max_steps=50)
    return C.finish_timing_args(p.parse_args(argv))


def cases(shape, rng):
    """``{name: (n_elements, make_call(kernels) -> callable)}`` for one array shape."""
    n, d = shape
    a = rng.standard_normal(shape, dtype=np.float32)
    b = rng.standard_normal(d, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    y_relu = np.maximum(a, 0)
    y_sig = 1 / (1 + np.exp(-a))
    x = rng.random(shape, dtype=np.float32)
    keys = rng.random(shape)
    k = int(0.3 * d + 0.5)
    salt = rng.random((n, k)) < 0.5
    scratch = np.empty_like(a)

    def fresh():
        np.copyto(scratch, a)
        return scratch
    return {
        "copy of the input (subtracted)": (a.size, lambda kn: fresh),
        "bias_act relu": (a.size, lambda kn: lambda: kn.bias_act(fresh(), b, "relu")),
        "bias_act sigmoid": (a.size, lambda kn: lambda: kn.bias_act(fresh(), b, "sigmoid")),
        "act_grad_bias relu": (a.size, lambda kn: lambda: kn.act_grad_bias(y_relu, g, "relu")),
        "act_grad_bias sigmoid": (a.size, lambda kn: lambda: kn.act_grad_bias(y_sig, g, "sigmoid")),
        "mse_value_grad": (a.size, lambda kn: lambda: kn.mse_value_grad(y_sig, x)),
        "l1_value_grad": (a.size, lambda kn: lambda: kn.l1_value_grad(a, 1e-3)),
        "kl_sparsity_value_grad": (a.size, lambda kn: lambda: kn.kl_sparsity_value_grad(y_sig, 0.05, 3.0, 1e-6)),
        "mask_noise (30 %)": (a.size, lambda kn: lambda: kn.mask_noise(x, keys, k)),
        "salt_pepper_noise (30 %)": (a.size, lambda kn: lambda: kn.salt_pepper_noise(x, keys, salt, k, 0.0, 1.0)),
    }


def adam_case(rng):
    ps = [rng.standard_normal(s, dtype=np.float32) for s in ADAM_SHAPES]
    gs = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in ADAM_SHAPES]
    # flat views, as tinyae.optim.Adam passes them
    flat = [[a.reshape(-1) for a in group] for group in (ps, gs, [np.zeros_like(p) for p in ps],
                                                         [np.zeros_like(p) for p in ps])]
    t = [0]

    def make(kn):
        def call():
            t[0] += 1
            kn.adam_update_many(*flat, 1e-3, 0.9, 0.999, 1e-8, [t[0]] * len(ps), 0.0, False)
        return call
    return sum(p.size for p in ps), make


def main(argv=None) -> int:
    args = parse_args(argv)
    load0 = C.loadavg()
    nk, nk_why = C.numba_kernels_or_none()
    if nk is None:
        print(f"Numba backend unavailable ({nk_why}); nothing to compare.")
        return 0
    rng = np.random.default_rng(0)
    sizes, cells = {}, {}
    for shape in SHAPES:
        for name, (size, make) in cases(shape, rng).items():
            sizes[(shape, name)] = size
            for label, kn in (("numba", nk), ("numpy", numpy_kernels)):
                if name.startswith("copy") and label == "numpy":
                    continue
                cells[(shape, name, label)] = make(kn)
    size, make = adam_case(rng)
    sizes[("944,176 params", "adam_update_many")] = size
    for label, kn in (("numba", nk), ("numpy", numpy_kernels)):
        cells[("944,176 params", "adam_update_many", label)] = make(kn)

    times = C.round_robin(cells, steps=args.steps, target_s=args.target_seconds, rounds=args.rounds,
                          settle_s=args.settle, min_steps=args.min_steps, max_steps=args.max_steps)
    med = {k: C.median(v) for k, v in times.items()}

    rows = []
    for (shape, name), size in sizes.items():
        if name.startswith("copy"):
            continue
        copy = med[(shape, "copy of the input (subtracted)", "numba")] if name.startswith("bias_act") else 0.0
        t_nb = med[(shape, name, "numba")] - copy
        t_np = med[(shape, name, "numpy")] - copy
        label = shape if isinstance(shape, str) else f"{shape[0]}×{shape[1]}"
        rows.append([name, label, f"{t_nb * 1e6:.1f}", f"{t_nb * 1e9 / size:.2f}", f"{t_np * 1e6:.1f}",
                     f"{t_np * 1e9 / size:.2f}", C.fmt_ratio(t_np / t_nb),
                     f"{100 * C.spread(times[(shape, name, 'numba')]):.0f} %"])
    rows.sort(key=lambda r: r[0])
    print("### Numba kernels against their NumPy twins (float32, wrappers and allocations included)\n")
    C.print_table(["kernel", "shape", "numba µs", "numba ns/elem", "numpy µs", "numpy ns/elem", "numpy/numba",
                   "IQR (numba)"], rows, align="llrrrrrr")
    print()
    print(f"- {C.method_line(args, 'calls')}. bias_act times have the time of "
          "copying its input into the scratch array it overwrites subtracted; noise kernels: 30 % of each row, "
          "float64 keys; adam_update_many: the 12 parameters of the 784-512-128-32 autoencoder as flat views.")
    C.print_run_footer(load0, "--quick: smoke-test numbers, not results" if args.quick else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
