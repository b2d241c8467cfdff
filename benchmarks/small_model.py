"""Training steps per second of a tiny autoencoder, where per-op overhead is everything.

The 64-16-64 autoencoder (sigmoid or ReLU code layer, sigmoid output, MSE,
float32, Adam lr 1e-3) at batch 32: the matrix products take microseconds,
so this measures what each engine spends around them. Implementations:
tinyae on the Numba and NumPy backends, PyTorch CPU (if it imports), and the
step written out by hand with tinyae's Numba kernels and with its NumPy
reference kernels (no autodiff), plus the np.matmul-only GEMM floor.

    .venv/bin/python benchmarks/small_model.py            # full run (~1 min)
    .venv/bin/python benchmarks/small_model.py --quick    # smoke test (noisy)
"""

from __future__ import annotations

import sys

import _common as C

NAMES = {
    "gemm": "GEMM floor (np.matmul only)",
    "numba": "tinyae numba",
    "numpy": "tinyae numpy",
    "torch": "PyTorch CPU",
    "hand_numba": "hand-written, numba kernels",
    "hand_numpy": "hand-written, numpy kernels",
}


def parse_args(argv=None):
    p = C.timing_parser(__doc__, target_seconds=1.5, min_steps=50, max_steps=200_000, quick_max_steps=500)
    p.add_argument("--activation", default="sigmoid,relu", help="code-layer activations to run (default %(default)s)")
    p.add_argument("--batch", type=int, default=32)
    args = C.finish_timing_args(p.parse_args(argv))
    args.activation = [a.strip() for a in args.activation.split(",") if a.strip()]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    load0 = C.loadavg()
    torch, torch_why = (None, "--no-torch") if args.no_torch else C.try_import("torch")
    nk, nk_why = C.numba_kernels_or_none()

    B = args.batch
    cells = {}
    agreement = []
    archs = {}
    for act in args.activation:
        arch = archs[act] = C.Arch(64, 16, (), activation=act)
        X = C.make_data(arch, B)
        steps = C.engine_steps(arch, X, nk, torch)
        agreement.append((act, *C.check_agreement(steps, "numpy")))
        cells[(act, "gemm")] = C.gemm_floor_step(arch, B)
        for name, fn in steps.items():
            cells[(act, name)] = fn

    times = C.round_robin(cells, steps=args.steps, target_s=args.target_seconds, rounds=args.rounds,
                          settle_s=args.settle, min_steps=args.min_steps, max_steps=args.max_steps)
    med = {k: C.median(v) for k, v in times.items()}

    rows, verdicts = [], []
    for act in args.activation:
        torch_t = med.get((act, "torch"))
        hand_t = med.get((act, "hand_numba"))
        for name in NAMES:
            key = (act, name)
            if key not in med:
                continue
            t = med[key]
            to_torch = torch_t / t if torch_t else None
            target = ""
            if name == "numba":
                if to_torch is None:
                    target = "≥5× torch: n/a"
                else:
                    verdicts.append(to_torch >= 5)
                    target = f"≥5× torch: {'PASS' if to_torch >= 5 else 'FAIL'}"
            rows.append([f"{archs[act]} {act}", NAMES[name], C.fmt_rate(1 / t), f"{t * 1e6:.0f}",
                         f"{100 * C.spread(times[key]):.0f} %", len(times[key]), C.fmt_ratio(to_torch),
                         C.fmt_ratio(hand_t / t if hand_t else None), target])

    print(f"### Small model: 64-16-64 autoencoder at batch {B} (sigmoid output, MSE, float32, Adam lr 1e-3)\n")
    C.print_table(["model", "implementation", "steps/s", "µs/step", "IQR", "n", "torch/this", "hand-numba/this",
                   "target"], rows, align="llrrrrrrl")
    print()
    pool_launched, pool_text = C.numba_pool_status()
    print(f"- {C.method_line(args)}; IQR = interquartile range / median.")
    print("- X/this = median time of X / median time of this row (> 1: this row is faster). "
          "GEMM floor: only the step's 5 matrix products through np.matmul into preallocated outputs.")
    print(f"- target (from the issue): tinyae numba >= 5x PyTorch steps/s. Result: {sum(verdicts)}/{len(verdicts)} PASS.")
    print(f"- relapse check: Numba parallel thread pool after all runs: {pool_text} "
          f"-- {'FAIL' if pool_launched else 'PASS' if pool_launched is not None else 'n/a'}.")
    for act, text, _ in agreement:
        print(f"- sanity ({act}): {text}.")
    if torch is None:
        print(f"- skipped: PyTorch ({torch_why}).")
    if nk is None:
        print(f"- skipped: Numba backend ({nk_why}).")
    C.print_run_footer(load0, "--quick: smoke-test numbers, not results" if args.quick else None, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
