"""Thread contention between NumPy's BLAS and a kernel that follows it.

A dense layer is a matrix product followed by a small elementwise kernel.
When that kernel is a Numba ``parallel=True`` (``prange``) kernel, Numba's
worker threads and OpenBLAS's worker threads busy-wait against each other
on a small machine, and a kernel that takes microseconds alone can make the
pair take several times as long as its parts. tinyae's kernels are serial
for that reason. This script shows the effect and checks that it stays gone:

* ``(256, 784) @ (784, 512)`` float32 ``np.matmul`` alone (into a
  preallocated output);
* tinyae's Numba ``bias_act`` (bias + ReLU, in place on that 256x512 output)
  alone, and the matmul followed by it;
* the same bias + ReLU as an ``@njit(parallel=True)`` ``prange`` kernel
  defined here, alone, and the matmul followed by it;
* the matmul followed by an in-place ``torch.relu_`` of the same size
  (PyTorch's OpenMP pool against OpenBLAS's), when PyTorch imports.

slow-down = median time of the pair / (median matmul alone + median kernel
alone); about 1.0x means the two run back to back without interference.

    .venv/bin/python benchmarks/thread_contention.py            # full run (~1 min)
    .venv/bin/python benchmarks/thread_contention.py --quick    # smoke test (noisy)
"""

from __future__ import annotations

import sys

import numpy as np

import _common as C


def parse_args(argv=None):
    p = C.timing_parser(__doc__, target_seconds=1.0, min_steps=50, max_steps=100_000, quick_max_steps=2000)
    p.add_argument("--shape", default="256,784,512", help="m,k,n of the matmul (default %(default)s)")
    args = C.finish_timing_args(p.parse_args(argv))
    args.shape = tuple(int(s) for s in args.shape.split(","))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    load0 = C.loadavg()
    nk, nk_why = C.numba_kernels_or_none()
    if nk is None:
        print(f"tinyae's Numba backend is not available ({nk_why}); nothing to measure.")
        return 1
    from numba import njit, prange

    torch, torch_why = (None, "--no-torch") if args.no_torch else C.try_import("torch")

    @njit(parallel=True, cache=False)
    def prange_bias_relu(a, b, out):
        n, m = a.shape
        for r in prange(n):
            for c in range(m):
                z = a[r, c] + b[c]
                out[r, c] = z if z > 0 else 0.0

    m, k, n = args.shape
    rng = np.random.default_rng(0)
    a = rng.random((m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    bias = np.zeros(n, dtype=np.float32)  # zero bias: ReLU in place is then idempotent, values stay put
    matmul, bias_act = np.matmul, nk.bias_act
    tc = torch.from_numpy(c) if torch is not None else None  # shares c's memory

    def mm():
        matmul(a, b, out=c)

    def tinyae_k():
        bias_act(c, bias, "relu")

    def prange_k():
        prange_bias_relu(c, bias, c)

    def torch_k():
        tc.relu_()

    def pair(kernel):
        def run():
            matmul(a, b, out=c)
            kernel()
        return run

    # Relapse check first, before anything here starts Numba's pool on purpose.
    for _ in range(5):
        pair(tinyae_k)()
    pool_after_tinyae, pool_text = C.numba_pool_status()

    cells = {"mm": mm, "tinyae": tinyae_k, "mm+tinyae": pair(tinyae_k),
             "prange": prange_k, "mm+prange": pair(prange_k)}
    if torch is not None:
        cells["torch"] = torch_k
        cells["mm+torch"] = pair(torch_k)
    times = C.round_robin(cells, steps=args.steps, target_s=args.target_seconds, rounds=args.rounds,
                          settle_s=args.settle, min_steps=args.min_steps, max_steps=args.max_steps)
    med = {key: C.median(v) for key, v in times.items()}
    try:
        import numba
        layer = numba.threading_layer()
    except ValueError:
        layer = "not initialised"

    labels = {
        "mm": f"np.matmul ({m},{k})@({k},{n}) float32 alone",
        "tinyae": "tinyae numba bias_act (bias+ReLU, serial) alone",
        "mm+tinyae": "matmul → tinyae bias_act",
        "prange": "@njit(parallel=True) prange bias+ReLU alone",
        "mm+prange": "matmul → prange bias+ReLU",
        "torch": "torch.relu_ (same size, in place) alone",
        "mm+torch": "matmul → torch.relu_",
    }
    rows = []
    for key in cells:
        t = med[key]
        if key.startswith("mm+"):
            kernel = key[3:]
            expected = med["mm"] + med[kernel]
            slow = t / expected
            rows.append([labels[key], f"{t * 1e6:.1f}", f"{expected * 1e6:.1f}", f"{slow:.2f}×",
                         f"{100 * C.spread(times[key]):.0f} %", len(times[key])])
        else:
            rows.append([labels[key], f"{t * 1e6:.1f}", "", "", f"{100 * C.spread(times[key]):.0f} %",
                         len(times[key])])

    print("### Thread contention: a matmul followed by a small elementwise kernel\n")
    C.print_table(["case", "µs (median)", "sum of parts alone (µs)", "slow-down", "IQR", "n"], rows, align="lrrrrr")
    print()
    slow_tinyae = med["mm+tinyae"] / (med["mm"] + med["tinyae"])
    slow_prange = med["mm+prange"] / (med["mm"] + med["prange"])
    print(f"- slow-down = pair / (matmul alone + kernel alone); medians of n timed iterations, cells interleaved "
          f"round-robin in one process ({args.rounds} rounds, {args.settle} s settle before each block).")
    print(f"- tinyae's pair: {slow_tinyae:.2f}× (expected ≈ 1.0×: "
          f"{'PASS' if slow_tinyae < 1.25 else 'FAIL'}, threshold 1.25×); prange pair: {slow_prange:.2f}× "
          f"(Numba threading layer: {layer}, {numba.get_num_threads()} threads).")
    print(f"- relapse check: after matmul + tinyae kernels, Numba's parallel thread pool was {pool_text} -- "
          f"{'FAIL' if pool_after_tinyae else 'PASS'}; tinyae kernels compiled with parallel=True: "
          f"{', '.join(C.parallel_tinyae_kernels()) or 'none'}.")
    if torch is None:
        print(f"- skipped PyTorch rows: {torch_why}.")
    C.print_run_footer(load0, "--quick: smoke-test numbers, not results" if args.quick else None, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
