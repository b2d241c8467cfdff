"""One training step of the 784-512-128-32-128-512-784 autoencoder, engine against engine.

Forward + backward + Adam (lr 1e-3) of a ReLU autoencoder (ReLU code layer,
sigmoid output, MSE, float32) at several batch sizes, for:

* tinyae on the Numba backend and on the NumPy backend
  (``AutoencoderModule`` + ``tinyae.optim.Adam``: ``loss_terms(X)["reconstruction"]``,
  ``zero_grad``, ``backward``, ``step``);
* PyTorch CPU (same layers, ``torch.optim.Adam``, default thread count), if it imports;
* HIPS autograd (``value_and_grad`` of a NumPy loss + a NumPy Adam), if it imports;
* the step written out by hand with no autodiff, with tinyae's Numba kernels
  and with its NumPy reference kernels (GEMMs through ``np.matmul``): the
  engine's overhead reference;
* the GEMM floor: only the step's 16 matrix products (4,849,664·B FLOPs)
  through ``np.matmul`` into preallocated outputs.

All cells are timed interleaved in one process (see ``_common.round_robin``);
the table gives medians. Ratios ``X/this`` are ``time(X) / time(this)``: above
1 means *this* row is faster than X. "GEMM floor" is the GEMM-only time over
the row's time, i.e. the fraction of the step spent at np.matmul speed.

    .venv/bin/python benchmarks/train_step.py            # full run (~2-4 min)
    .venv/bin/python benchmarks/train_step.py --quick    # smoke test (seconds, noisy)
"""

from __future__ import annotations

import sys

import _common as C

TARGETS = """\
Numba >= 2.5x PyTorch at batch 16; >= 1.4x at 256 with >= 70 % of the GEMM floor; >= 1.15x at 1024;
within 1.15x of the hand-written Numba step at batch >= 256."""


def parse_args(argv=None):
    p = C.timing_parser(__doc__, target_seconds=1.5, min_steps=20, max_steps=5000, quick_max_steps=30, quick_min_steps=3)
    p.add_argument("--batches", default="16,64,256,1024", help="comma-separated batch sizes (default %(default)s)")
    p.add_argument("--no-autograd", action="store_true", help="skip HIPS autograd even if it imports")
    args = C.finish_timing_args(p.parse_args(argv))
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    return args


NAMES = {
    "gemm": "GEMM floor (np.matmul only)",
    "torch_gemm": "same GEMMs via torch.mm",
    "numba": "tinyae numba",
    "numpy": "tinyae numpy",
    "torch": "PyTorch CPU",
    "autograd": "HIPS autograd + NumPy Adam",
    "hand_numba": "hand-written, numba kernels",
    "hand_numpy": "hand-written, numpy kernels",
}


def main(argv=None) -> int:
    args = parse_args(argv)
    load0 = C.loadavg()
    torch, torch_why = (None, "--no-torch") if args.no_torch else C.try_import("torch")
    autograd, ag_why = (None, "--no-autograd") if args.no_autograd else C.try_import("autograd")
    nk, nk_why = C.numba_kernels_or_none()

    arch = C.Arch(784, 32, (512, 128), activation="relu", code_activation="relu")
    flops_per_sample = arch.step_flops(1)
    assert all(arch.step_flops(b) == flops_per_sample * b for b in (16, 1024))
    notes = []
    if flops_per_sample != 4_849_664:
        notes.append(f"unexpected FLOP count {flops_per_sample}/sample")

    cells = {}
    agreement = []
    for B in args.batches:
        X = C.make_data(arch, B)
        steps = C.engine_steps(arch, X, nk, torch, autograd)
        text, worst = C.check_agreement(steps, "numpy")
        agreement.append((B, text, worst))
        cells[(B, "gemm")] = C.gemm_floor_step(arch, B)
        if torch is not None:
            cells[(B, "torch_gemm")] = C.torch_gemm_step(torch, arch, B)
        for name, fn in steps.items():
            cells[(B, name)] = fn

    times = C.round_robin(cells, steps=args.steps, target_s=args.target_seconds, rounds=args.rounds,
                          settle_s=args.settle, min_steps=args.min_steps, max_steps=args.max_steps)
    med = {k: C.median(v) for k, v in times.items()}

    rows = []
    verdicts = []
    for B in args.batches:
        gemm = med[(B, "gemm")]
        torch_t = med.get((B, "torch"))
        hand_t = med.get((B, "hand_numba"))
        for name in NAMES:
            key = (B, name)
            if key not in med:
                continue
            t = med[key]
            to_torch = torch_t / t if torch_t else None
            to_hand = hand_t / t if hand_t else None
            floor = gemm / t
            checks = []
            if name == "numba":
                def check(label, value, ok_if):
                    if value is None:
                        checks.append(f"{label}: n/a")
                        return
                    ok = ok_if(value)
                    verdicts.append(ok)
                    checks.append(f"{label}: {'PASS' if ok else 'FAIL'}")
                if B == 16:
                    check("≥2.5× torch", to_torch, lambda v: v >= 2.5)
                if B == 256:
                    check("≥1.4× torch", to_torch, lambda v: v >= 1.4)
                    check("≥70 % floor", floor, lambda v: v >= 0.70)
                if B == 1024:
                    check("≥1.15× torch", to_torch, lambda v: v >= 1.15)
                if B >= 256:
                    check("≤1.15× hand time", to_hand, lambda v: v >= 1 / 1.15)
            floor_txt = (f"{C.fmt_pct(floor)} ({flops_per_sample * B / gemm / 1e9:.0f} GFLOP/s)"
                         if name == "gemm" else C.fmt_pct(floor))
            rows.append([B, NAMES[name], C.fmt_ms(t), f"{100 * C.spread(times[key]):.0f} %", len(times[key]),
                         C.fmt_rate(B / t), C.fmt_ratio(to_torch), C.fmt_ratio(to_hand), floor_txt,
                         "; ".join(checks)])

    print(f"### Training step, autoencoder {arch} (ReLU, sigmoid output, MSE, float32, Adam lr 1e-3)\n")
    C.print_table(["batch", "implementation", "ms/step", "IQR", "n", "samples/s", "torch/this",
                   "hand-numba/this", "GEMM floor", "targets"], rows, align="rlrrrrrrrl")
    print()
    pool_launched, pool_text = C.numba_pool_status()
    parallel_kernels = C.parallel_tinyae_kernels()
    print(f"- {C.method_line(args)}; IQR = interquartile range / median.")
    print(f"- ratios: X/this = median time of X / median time of this row (> 1: this row is faster). "
          f"GEMM floor = time of the step's 16 GEMMs ({flops_per_sample:,}·B FLOPs: forward h@W, "
          f"backward h.T@ga and ga@W.T, no dX for the input layer) through np.matmul into preallocated outputs, "
          f"measured in this run, divided by the row's time.")
    print(f"- targets (from the issue): {TARGETS.replace(chr(10), ' ')} "
          f"Result: {sum(verdicts)}/{len(verdicts)} PASS.")
    print(f"- relapse check (thread contention): Numba parallel thread pool after all runs: {pool_text} "
          f"-- {'FAIL' if pool_launched else 'PASS' if pool_launched is not None else 'n/a'}; "
          f"tinyae kernels compiled with parallel=True: {', '.join(parallel_kernels) or 'none'} "
          f"-- {'FAIL' if parallel_kernels else 'PASS'}.")
    if torch is not None:
        ceilings = [(B, med[(B, "gemm")] / med[(B, "torch_gemm")], med[(B, "torch")] / med[(B, "gemm")])
                    for B in args.batches if (B, "torch") in med]
        print("- GEMM libraries: the same 16 products take " + ", ".join(
            f"{100 / r:.0f} %" for _, r, _ in ceilings) + " of np.matmul's time through torch.mm (PyTorch's BLAS) "
            f"at batch {', '.join(str(B) for B, _, _ in ceilings)}. Ceiling for any engine whose products go through "
            "np.matmul, even with zero time outside them (PyTorch's step / np.matmul GEMM floor): " + ", ".join(
                f"{c:.2f}× at {B}" for B, _, c in ceilings) + ".")
    worst = max(agreement, key=lambda a: a[2])
    print(f"- sanity: {worst[1]} (worst over batches, at batch {worst[0]}).")
    skipped = []
    if torch is None:
        skipped.append(f"PyTorch ({torch_why})")
    if autograd is None:
        skipped.append(f"HIPS autograd ({ag_why})")
    if nk is None:
        skipped.append(f"Numba backend ({nk_why})")
    if skipped:
        print(f"- skipped: {'; '.join(skipped)}.")
    for n in notes:
        print(f"- note: {n}")
    C.print_run_footer(load0, "--quick: smoke-test numbers, not results" if args.quick else None, torch, autograd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
