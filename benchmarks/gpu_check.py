"""One short check of the CuPy backend on a GPU machine: the tests, then a training-step benchmark.

    python benchmarks/gpu_check.py            # tests + benchmark (a few minutes on an H200)
    python benchmarks/gpu_check.py --no-tests  # benchmark only

1. Runs ``pytest -q tests/test_cupy.py tests/test_backends.py`` and reports
   the pass/fail counts.
2. Times one training step -- forward, backward and Adam, float32, MSE loss,
   ReLU hidden layers, sigmoid output -- of the autoencoder
   784-512-128-32-128-512-784 at batch sizes 256, 1024 and 4096, on tinyae's
   CuPy backend and (if ``torch`` with CUDA imports) on PyTorch, and prints
   one Markdown table. Each step is timed alone between two device
   synchronisations; the table shows the median over ``--steps`` steps after
   ``--warmup`` untimed ones (which also compile the kernels).

Both steps read the loss as a Python float, as a training loop that logs it
does: tinyae's fused MSE kernel returns it that way, and the PyTorch step
calls ``loss.item()``. TF32 is off on both sides (CuPy's default; set
explicitly for PyTorch), so both do full float32 matrix products.

Without a GPU (no ``cupy``, no CUDA driver or no device) it says so and
exits with status 0; with ``--require-gpu`` it exits with status 2 instead.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tinyae as ta  # noqa: E402
from tinyae.models import AutoencoderModule  # noqa: E402
from tinyae.optim import Adam  # noqa: E402

SIZES = (784, 512, 128, 32)  # encoder widths; the decoder mirrors them


def run_tests(timeout: float) -> tuple[dict[str, int], int, str]:
    """``pytest -q`` on the GPU tests and the backend tests: (counts, return code, output tail)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cupy.py",
           "tests/test_backends.py"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {}, -1, out[-3000:] + f"\n(pytest timed out after {timeout:.0f} s)"
    out = proc.stdout + proc.stderr
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)",
                                                    summary)}
    return counts, proc.returncode, out[-3000:]


def tinyae_step_timer(cupy, batch: int, X):
    """A function that runs one tinyae training step on the GPU and returns its duration in ms."""
    model = AutoencoderModule(SIZES[0], SIZES[-1], SIZES[1:-1], "relu", output_activation="sigmoid", loss="mse",
                              rng=0, dtype=np.float32)
    backend = ta.get_backend("cupy")
    for p in model.parameters():
        # Layers build their parameters from NumPy arrays, which stay on the CPU even under
        # use_backend("cupy"); move them explicitly (a no-op once they are created on the GPU).
        if not backend.owns(p.data):
            p.data, p._backend = cupy.asarray(p.data), backend
    opt = Adam(model.parameters(), lr=1e-3)
    xb = ta.Tensor(X[:batch])
    device = cupy.cuda.Device()

    def step() -> float:
        device.synchronize()
        start = time.perf_counter()
        loss = model.loss_terms(xb)["reconstruction"]
        loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        device.synchronize()
        return (time.perf_counter() - start) * 1e3

    assert all(type(p.data) is cupy.ndarray for p in model.parameters())
    return step


def torch_step_timer(torch, batch: int, X):
    """The same step in PyTorch on CUDA, or None when torch has no CUDA."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    widths = list(SIZES) + list(SIZES[-2::-1])
    layers = []
    for i in range(len(widths) - 1):
        layers += [torch.nn.Linear(widths[i], widths[i + 1]),
                   torch.nn.Sigmoid() if i == len(widths) - 2 else torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb = torch.as_tensor(np.asarray(X[:batch].get()), device="cuda")

    def step() -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(xb), xb)
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e3

    return step


def median_ms(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    return statistics.median(step() for _ in range(steps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest run")
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (kernel compilation)")
    parser.add_argument("--test-timeout", type=float, default=240.0, help="seconds allowed for pytest")
    parser.add_argument("--require-gpu", action="store_true", help="exit with status 2 when there is no GPU")
    args = parser.parse_args(argv)

    try:
        ta.get_backend("cupy")
    except RuntimeError as exc:
        reason = str(exc).split("is not available: ", 1)[-1]
        print(f"gpu_check: no GPU to check -- the CuPy backend is unavailable ({reason}).")
        print("gpu_check: nothing was run. Install CuPy for your CUDA (pip install 'tinyae[gpu]') on a GPU machine.")
        return 2 if args.require_gpu else 0
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    print(f"device: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB; CuPy {cupy.__version__}, "
          f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")

    status = 0
    if not args.no_tests:
        start = time.perf_counter()
        counts, code, tail = run_tests(args.test_timeout)
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no summary"
        print(f"tests: {summary} in {time.perf_counter() - start:.0f} s (pytest exit code {code})")
        if code != 0:
            status = 1
            print(tail)

    try:
        import torch

        has_torch = torch.cuda.is_available()
        torch_note = f"PyTorch {torch.__version__}" if has_torch else f"PyTorch {torch.__version__} has no CUDA"
    except ImportError:
        torch, has_torch, torch_note = None, False, "PyTorch not installed"

    rng = np.random.default_rng(0)
    X = cupy.asarray(rng.uniform(0, 1, (max(args.batches), SIZES[0])).astype(np.float32))
    rows = []
    for batch in args.batches:
        ours = median_ms(tinyae_step_timer(cupy, batch, X), args.warmup, args.steps)
        theirs = median_ms(torch_step_timer(torch, batch, X), args.warmup, args.steps) if has_torch else None
        rows.append((batch, ours, theirs))

    arch = "-".join(str(w) for w in list(SIZES) + list(SIZES[-2::-1]))
    print(f"\nTraining step (forward + backward + Adam), autoencoder {arch}, float32, MSE, ReLU hidden, sigmoid "
          f"output; median of {args.steps} steps on {name}; {torch_note}.\n")
    print("| batch | tinyae cupy ms/step | tinyae samples/s | torch ms/step | tinyae / torch |")
    print("|------:|--------------------:|-----------------:|--------------:|---------------:|")
    for batch, ours, theirs in rows:
        torch_cell = f"{theirs:.3f}" if theirs is not None else "n/a"
        ratio = f"{ours / theirs:.2f}x" if theirs else "n/a"
        print(f"| {batch} | {ours:.3f} | {batch / ours * 1e3:,.0f} | {torch_cell} | {ratio} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
