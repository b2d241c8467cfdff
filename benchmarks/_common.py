"""Shared helpers for the benchmark scripts in this folder.

* timing: :func:`round_robin` interleaves the implementations and returns the
  per-step times of each; :func:`median` / :func:`spread` summarise them;
* the step implementations compared by ``train_step.py`` and ``small_model.py``
  (tinyae on a backend, hand-written steps, PyTorch, HIPS autograd) and the
  ``np.matmul``-only sequence that defines the GEMM floor;
* :func:`machine_line`, :func:`command_line`, :func:`print_table` for the report;
* :func:`numba_pool_status`, the relapse check for the thread-contention bug.

Only the project's own dependencies are required; PyTorch, HIPS autograd and
threadpoolctl are used when they import and skipped (with a note) otherwise.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:  # benchmark the working tree, not some installed copy
    sys.path.insert(0, REPO_ROOT)

from tinyae.backend import numpy_kernels, use_backend  # noqa: E402
from tinyae.models.autoencoder import AutoencoderModule  # noqa: E402
from tinyae.optim import Adam  # noqa: E402
from tinyae.tensor import Tensor  # noqa: E402

LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


# -- optional imports ---------------------------------------------------------

def try_import(name: str) -> tuple[Any, str]:
    """``(module, "")`` or ``(None, reason)``."""
    try:
        return __import__(name, fromlist=["_"]), ""
    except Exception as exc:  # ImportError, or a broken install
        return None, f"{type(exc).__name__}: {exc}"


def numba_kernels_or_none() -> tuple[Any, str]:
    try:
        from tinyae.backend import numba_kernels
        return numba_kernels, ""
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


# -- timing --------------------------------------------------------------------

def timing_parser(doc: str, *, target_seconds: float, min_steps: int, max_steps: int, quick_max_steps: int,
                  quick_min_steps: int = 5) -> Any:
    """An ArgumentParser with the timing options every benchmark shares.

    Call :func:`finish_timing_args` on the parsed namespace to apply ``--quick``.
    """
    import argparse

    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per cell (default: enough for --target-seconds per cell)")
    p.add_argument("--target-seconds", type=float, default=target_seconds,
                   help="timed seconds per cell when --steps is not given (default %(default)s)")
    p.add_argument("--min-steps", type=int, default=min_steps)
    p.add_argument("--max-steps", type=int, default=max_steps)
    p.add_argument("--rounds", type=int, default=5, help="round-robin rounds (blocks per cell)")
    p.add_argument("--settle", type=float, default=0.2,
                   help="seconds to sleep before each block so other thread pools go idle (default %(default)s)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it imports")
    p.add_argument("--quick", action="store_true", help="smoke test: few steps, short settle (noisy numbers)")
    p.set_defaults(_quick_limits=(quick_min_steps, quick_max_steps))
    return p


def finish_timing_args(args: Any) -> Any:
    """Apply ``--quick``: short cells, two rounds, a short settle."""
    if args.quick:
        args.min_steps, args.max_steps = args._quick_limits
        args.target_seconds, args.rounds, args.settle = 0.05, 2, 0.02
    return args


def round_robin(cells: dict[Any, Callable[[], Any]], *, steps: int | None, target_s: float, rounds: int,
                settle_s: float, min_steps: int, max_steps: int, warmup: int = 2,
                progress: bool = True) -> dict[Any, np.ndarray]:
    """Per-call times (seconds) of every cell, measured interleaved.

    1. Calibration: each cell runs ``warmup`` untimed calls (compilation, first
       allocations), then 3 timed ones that estimate its cost.
    2. Each cell gets ``steps`` timed calls, or, when ``steps`` is None, enough
       for ``target_s`` seconds (clamped to ``[min_steps, max_steps]``).
    3. They are split into ``rounds`` blocks. Round ``r`` visits every cell
       once, the order rotated by ``r`` so no cell always follows the same
       neighbour. Each block starts with ``time.sleep(settle_s)`` and one
       untimed call, then times each call separately with ``perf_counter``.

    Why the settle: OpenBLAS worker threads spin for ~0.1 s after a GEMM and
    PyTorch's OpenMP workers spin after a parallel region. Switching straight
    from one library to the other makes the newcomer fight spinning threads
    for the cores (a 1 ms matmul can take 5-25 ms), which is a property of
    mixing two thread pools in one process, not of either implementation.
    The sleep lets the previous cell's workers go idle; the untimed call wakes
    the current cell's own workers. Noise from other processes still hits all
    cells alike because they alternate.
    """
    keys = list(cells)
    per_call: dict[Any, float] = {}
    for key in keys:
        fn = cells[key]
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        per_call[key] = float(np.median(ts))
    n_steps = {}
    for key in keys:
        n = steps if steps is not None else int(math.ceil(target_s / max(per_call[key], 1e-7)))
        n_steps[key] = max(min_steps, min(max_steps, n)) if steps is None else max(1, n)
    rounds = max(1, rounds)
    times: dict[Any, list[float]] = {key: [] for key in keys}
    total_est = sum(n_steps[k] * per_call[k] for k in keys) + rounds * len(keys) * settle_s
    if progress:
        print(f"[timing {len(keys)} cells, {rounds} rounds, ~{total_est:.0f} s]", file=sys.stderr, flush=True)
    for r in range(rounds):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for key in order:
            fn = cells[key]
            # Spread each cell's steps over the rounds (the first rounds take the remainder).
            k = n_steps[key] // rounds + (1 if r < n_steps[key] % rounds else 0)
            if k == 0:
                continue
            if settle_s:
                time.sleep(settle_s)
            fn()
            out = times[key]
            for _ in range(k):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        if progress:
            print(f"[round {r + 1}/{rounds} done]", file=sys.stderr, flush=True)
    gc.collect()
    return {key: np.asarray(v) for key, v in times.items()}


def median(ts: np.ndarray) -> float:
    return float(np.median(ts))


def spread(ts: np.ndarray) -> float:
    """Interquartile range relative to the median (a noise indicator)."""
    q1, q3 = np.percentile(ts, [25, 75])
    return float((q3 - q1) / np.median(ts))


# -- formatting ------------------------------------------------------------------

def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_rate(x: float) -> str:
    if x >= 1e4:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}"


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.2f}×"


def fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> None:
    """A GitHub markdown table; ``align`` is one of ``l``/``r`` per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)) + " |"

    print(line(cells[0]))
    print("| " + " | ".join(("-" * (w - 1) + ":") if a == "r" else "-" * w for w, a in zip(widths, align)) + " |")
    for row in cells[1:]:
        print(line(row))


def command_line() -> str:
    """The command that ran this script, with the interpreter relative to the cwd when inside it."""
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        if not rel.startswith(".."):
            exe = rel
    except ValueError:
        pass
    return " ".join(shlex.quote(a) for a in [exe, *sys.argv])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _n_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def blas_info() -> str:
    """NumPy's BLAS as threadpoolctl sees it, else from ``np.show_config``."""
    tpc, _ = try_import("threadpoolctl")
    if tpc is not None:
        try:
            for info in tpc.threadpool_info():
                if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
                    arch = info.get("architecture")
                    return (f"{info.get('internal_api')} {info.get('version')}"
                            f"{' ' + arch if arch else ''}, {info.get('num_threads')} threads"
                            f" ({info.get('threading_layer')})")
            blas = [i for i in tpc.threadpool_info() if i.get("user_api") == "blas"]
            if blas:
                i = blas[0]
                return f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads"
        except Exception:
            pass
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (threads unknown: no threadpoolctl)"
    except Exception:
        return "unknown BLAS"


def _git_rev() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tinyae"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{sha}{' + uncommitted tinyae/ changes' if dirty else ''}" if sha else "?"
    except Exception:
        return "?"


def machine_line(torch_mod: Any = None, autograd_mod: Any = None) -> str:
    """One line: CPU, cores, load, library versions, BLAS and thread settings."""
    parts = [f"{_cpu_model()}, {_n_cpus()} CPUs", f"{platform.system()} {platform.release()}",
             f"Python {platform.python_version()}", f"NumPy {np.__version__} (BLAS: {blas_info()})"]
    numba_mod, _ = try_import("numba")
    if numba_mod is not None:
        parts.append(f"Numba {numba_mod.__version__}")
    if torch_mod is not None:
        parts.append(f"PyTorch {torch_mod.__version__} ({torch_mod.get_num_threads()} intra-op threads)")
    if autograd_mod is not None:
        try:
            from importlib.metadata import version
            parts.append(f"autograd {version('autograd')}")
        except Exception:
            parts.append("autograd")
    parts.append(f"tinyae git {_git_rev()}")
    env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                             "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "TINYAE_BACKEND",
                                             "NUMBA_CACHE_DIR") if k in os.environ]
    if env:
        parts.append("env " + " ".join(env))
    return "; ".join(parts)


def load_line(start: tuple[float, float, float]) -> str:
    try:
        end = os.getloadavg()
    except OSError:
        return "load average: unknown"
    return (f"load average (1 min) {start[0]:.2f} at start, {end[0]:.2f} at end on {_n_cpus()} CPUs"
            f"{' -- NOISY: other processes were competing for the CPUs' if max(start[0], end[0]) > 0.5 else ''}")


def method_line(args: Any, unit: str = "steps") -> str:
    """How the medians were taken, for the notes under a table."""
    return (f"medians of n timed {unit} per cell, cells interleaved round-robin in one process "
            f"({args.rounds} rounds, {args.settle} s settle before each block)")


def print_run_footer(load0: tuple[float, float, float], quick_note: str | None, torch_mod: Any = None,
                     autograd_mod: Any = None) -> None:
    """The three lines every table ends with: load average, machine, exact command."""
    print(f"- {load_line(load0)}" + (f" ({quick_note})" if quick_note else ""))
    print(f"- machine: {machine_line(torch_mod, autograd_mod)}")
    print(f"- command: `{command_line()}`")


def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


# -- relapse check for the thread-contention bug ----------------------------------

def numba_pool_status() -> tuple[bool | None, str]:
    """``(launched, description)``: whether Numba's parallel thread pool was started.

    Numba starts it the first time a ``parallel=True`` kernel runs; until then
    ``numba.threading_layer()`` raises ``ValueError``. tinyae's kernels are
    serial, so after any amount of tinyae work it must still be unlaunched.
    """
    numba_mod, why = try_import("numba")
    if numba_mod is None:
        return None, f"numba not importable ({why})"
    try:
        layer = numba_mod.threading_layer()
        return True, f"LAUNCHED (threading layer {layer!r})"
    except ValueError:
        pass
    try:
        from numba.np.ufunc import parallel
        if getattr(parallel, "_is_initialized", False):
            return True, "LAUNCHED (numba.np.ufunc.parallel._is_initialized)"
    except Exception:
        pass
    return False, "not launched (numba.threading_layer() raises ValueError)"


def parallel_tinyae_kernels() -> list[str]:
    """Names of tinyae Numba kernels compiled with ``parallel=True`` (must be none)."""
    kernels, _ = numba_kernels_or_none()
    if kernels is None:
        return []
    found = []
    for name in dir(kernels):
        obj = getattr(kernels, name)
        opts = getattr(obj, "targetoptions", None)
        if isinstance(opts, dict) and opts.get("parallel"):
            found.append(name)
    return found


# -- the models ---------------------------------------------------------------------

class Arch:
    """An autoencoder ``n_features -> hidden... -> n_components -> ...hidden -> n_features``.

    ``activation`` for the hidden layers, ``code_activation`` for the code
    layer, sigmoid output, MSE, float32 -- the configuration every benchmark
    implementation builds.
    """

    def __init__(self, n_features: int, n_components: int, hidden: Sequence[int] = (),
                 activation: str = "relu", code_activation: str | None = None) -> None:
        self.n_features, self.n_components, self.hidden = n_features, n_components, tuple(hidden)
        self.activation = activation
        self.code_activation = code_activation or activation
        sizes = [n_features, *self.hidden, n_components]
        self.sizes = sizes + sizes[-2::-1]
        n_h = len(self.hidden)
        self.acts = [activation] * n_h + [self.code_activation] + [activation] * n_h + ["sigmoid"]

    def __str__(self) -> str:
        return "-".join(map(str, self.sizes))

    def tinyae_model(self, backend: str) -> AutoencoderModule:
        with use_backend(backend):
            return AutoencoderModule(self.n_features, self.n_components, self.hidden, activation=self.activation,
                                     code_activation=self.code_activation, output_activation="sigmoid",
                                     loss="mse", dtype=np.float32, rng=0)

    def initial_weights(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """``(W (n_in, n_out), b, activation)`` per layer: tinyae's initial weights (rng=0), copied."""
        model = self.tinyae_model("numpy")
        layers = list(model.encoder.layers) + list(model.decoder.layers)
        out = [(np.array(l.W.data, dtype=np.float32), np.array(l.b.data, dtype=np.float32), l.activation)
               for l in layers]
        assert [a for _, _, a in out] == self.acts, ([a for _, _, a in out], self.acts)
        return out

    def gemm_shapes(self, batch: int) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
        """The matrix products of one training step, as tinyae does them.

        Forward ``h @ W``; backward ``h.T @ ga`` (dW) for every layer and
        ``ga @ W.T`` (dX) for every layer except the first (the data needs no
        gradient). Each entry: ``(kind, shape of left operand as stored,
        shape of right operand as stored)`` where ``kind`` says which operand
        is used transposed.
        """
        out = []
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        for n_in, n_out in pairs:
            out.append(("h@W", (batch, n_in), (n_in, n_out)))
        for i, (n_in, n_out) in reversed(list(enumerate(pairs))):
            out.append(("h.T@ga", (batch, n_in), (batch, n_out)))
            if i:
                out.append(("ga@W.T", (batch, n_out), (n_in, n_out)))
        return out

    def step_flops(self, batch: int) -> int:
        total = 0
        for kind, a, b in self.gemm_shapes(batch):
            if kind == "h@W":
                m, k, n = a[0], a[1], b[1]
            elif kind == "h.T@ga":
                m, k, n = a[1], a[0], b[1]
            else:
                m, k, n = a[0], a[1], b[0]
            total += 2 * m * k * n
        return total


def make_data(arch: Arch, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, arch.n_features), dtype=np.float32)


def _gemm_operands(arch: Arch, batch: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(a, b, out)`` for each of the step's GEMMs: float32 in [0, 1), the
    step's shapes and transposition (views, so BLAS gets the same trans flags
    as in the step), and a preallocated output."""
    rng = np.random.default_rng(1)
    calls = []
    for kind, a_shape, b_shape in arch.gemm_shapes(batch):
        a = rng.random(a_shape, dtype=np.float32)
        b = rng.random(b_shape, dtype=np.float32)
        if kind == "h.T@ga":
            a = a.T
        elif kind == "ga@W.T":
            b = b.T
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
        calls.append((a, b, out))
    return calls


def gemm_floor_step(arch: Arch, batch: int) -> Callable[[], None]:
    """Only the step's GEMMs, through ``np.matmul`` with preallocated outputs.

    No allocation, no elementwise work: the time below which no
    implementation calling NumPy's BLAS can go.
    """
    calls = _gemm_operands(arch, batch)
    matmul = np.matmul

    def step():
        for a, b, out in calls:
            matmul(a, b, out=out)
    return step


def torch_gemm_step(torch: Any, arch: Arch, batch: int) -> Callable[[], None]:
    """The same GEMMs (same operands, shapes and transposition) through ``torch.mm``.

    PyTorch's own BLAS (MKL in the x86 wheels) against NumPy's OpenBLAS: the
    ratio of the two floors bounds how far any engine whose products go
    through ``np.matmul`` can get ahead of PyTorch.
    """
    calls = [tuple(torch.from_numpy(x) for x in call) for call in _gemm_operands(arch, batch)]
    mm = torch.mm

    def step():
        for a, b, out in calls:
            mm(a, b, out=out)
    return step


def tinyae_step(arch: Arch, backend: str, X: np.ndarray) -> Callable[[], Any]:
    """tinyae: ``loss_terms(X)["reconstruction"]``, ``zero_grad``, ``backward``, Adam ``step``."""
    with use_backend(backend):
        model = arch.tinyae_model(backend)
        opt = Adam(model.parameters(), lr=LR)
        Xt = Tensor(X)
    assert Xt.backend.name == backend and all(p.backend.name == backend for p in model.parameters())

    def step():
        loss = model.loss_terms(Xt)["reconstruction"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def hand_step(arch: Arch, kernels: Any, X: np.ndarray) -> Callable[[], Any]:
    """The step written out by hand, no graph: the engine's overhead reference.

    Forward ``h_{i+1} = act(h_i @ W_i + b_i)``; MSE value and gradient; then
    per layer, last to first, ``ga = g * act'(h_{i+1})``, ``gb = sum(ga)``,
    ``gW = h_i.T @ ga``, ``g = ga @ W_i.T``; Adam on every parameter. GEMMs
    via ``@`` (NumPy's BLAS); the elementwise parts via ``kernels``
    (``bias_act``, ``act_grad_bias``, ``mse_value_grad``, ``adam_update``) --
    tinyae's NumPy reference kernels or its Numba kernels -- so the only
    difference from the tinyae step is the autodiff machinery.
    """
    layers = arch.initial_weights()
    Ws = [W for W, _, _ in layers]
    bs = [b for _, b, _ in layers]
    acts = [a for _, _, a in layers]
    params = [p for W, b in zip(Ws, bs) for p in (W, b)]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    bias_act, act_grad_bias = kernels.bias_act, kernels.act_grad_bias
    mse_value_grad, adam_update = kernels.mse_value_grad, kernels.adam_update
    n = len(Ws)
    state = {"t": 0}

    def step():
        hs = [X]
        for W, b, a in zip(Ws, bs, acts):
            hs.append(bias_act(hs[-1] @ W, b, a))
        loss, g = mse_value_grad(hs[-1], X)
        grads = [None] * (2 * n)
        for i in range(n - 1, -1, -1):
            ga, gb = act_grad_bias(hs[i + 1], g, acts[i])
            grads[2 * i] = hs[i].T @ ga
            grads[2 * i + 1] = gb
            if i:
                g = ga @ Ws[i].T
        state["t"] += 1
        t = state["t"]
        for p, gr, m, v in zip(params, grads, ms, vs):
            adam_update(p, gr, m, v, LR, BETA1, BETA2, EPS, t, 0.0, False)
        return loss
    return step


def torch_step(torch: Any, arch: Arch, X: np.ndarray) -> Callable[[], Any]:
    """PyTorch CPU: ``nn.Sequential`` of ``Linear`` + activation, ``F.mse_loss``, ``torch.optim.Adam`` defaults."""
    nn = torch.nn
    act_mod = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    mods = []
    for W, b, a in arch.initial_weights():
        lin = nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
        mods += [lin, act_mod[a]()]
    model = nn.Sequential(*mods)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)
    Xt = torch.from_numpy(X)
    mse = torch.nn.functional.mse_loss

    def step():
        opt.zero_grad()
        loss = mse(model(Xt), Xt)
        loss.backward()
        opt.step()
        return loss
    return step


def numpy_adam(params, grads, ms, vs, t):
    """Plain NumPy Adam (Kingma & Ba), in place."""
    c1 = LR / (1.0 - BETA1 ** t)
    c2 = math.sqrt(1.0 - BETA2 ** t)
    for p, g, m, v in zip(params, grads, ms, vs):
        m *= BETA1
        m += (1.0 - BETA1) * g
        v *= BETA2
        v += (1.0 - BETA2) * (g * g)
        p -= c1 * m / (np.sqrt(v) / c2 + EPS)


def autograd_step(autograd: Any, arch: Arch, X: np.ndarray) -> Callable[[], Any]:
    """HIPS autograd: ``value_and_grad`` of a NumPy loss, then a NumPy Adam."""
    anp = autograd.numpy
    layers = arch.initial_weights()
    acts = [a for _, _, a in layers]
    params = [p for W, b, _ in layers for p in (W, b)]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    fns = {"relu": lambda z: anp.maximum(z, 0.0), "sigmoid": lambda z: 0.5 * (anp.tanh(0.5 * z) + 1.0),
           "tanh": anp.tanh}

    def loss_fn(ps):
        h = X
        for i, a in enumerate(acts):
            h = fns[a](anp.dot(h, ps[2 * i]) + ps[2 * i + 1])
        d = h - X
        return anp.mean(d * d)

    vg = autograd.value_and_grad(loss_fn)
    state = {"t": 0}

    def step():
        loss, grads = vg(params)
        state["t"] += 1
        numpy_adam(params, grads, ms, vs, state["t"])
        return loss
    return step


def engine_steps(arch: Arch, X: np.ndarray, nk: Any, torch: Any = None, autograd: Any = None) -> dict[str, Callable[[], Any]]:
    """The implementations every step benchmark compares, by key: tinyae on Numba (if ``nk``) and
    NumPy, PyTorch and HIPS autograd (if given), and the hand-written steps with each kernel set."""
    steps = {}
    if nk is not None:
        steps["numba"] = tinyae_step(arch, "numba", X)
    steps["numpy"] = tinyae_step(arch, "numpy", X)
    if torch is not None:
        steps["torch"] = torch_step(torch, arch, X)
    if autograd is not None:
        steps["autograd"] = autograd_step(autograd, arch, X)
    if nk is not None:
        steps["hand_numba"] = hand_step(arch, nk, X)
    steps["hand_numpy"] = hand_step(arch, numpy_kernels, X)
    return steps


def to_float(loss: Any) -> float:
    if hasattr(loss, "item"):
        return float(loss.item())
    return float(loss)


def check_agreement(steps: dict[str, Callable[[], Any]], reference: str) -> tuple[str, float]:
    """Run each step twice from the same initial weights; compare losses with ``reference``.

    The first loss checks the forward pass; the second (after one Adam
    update) checks gradients and optimizer. Returns a description and the
    worst relative difference.
    """
    losses = {name: [to_float(fn()), to_float(fn())] for name, fn in steps.items()}
    ref = losses[reference]
    worst = 0.0
    worst_name = ""
    for name, (l1, l2) in losses.items():
        d = max(abs(l1 - ref[0]) / abs(ref[0]), abs(l2 - ref[1]) / abs(ref[1]))
        if d > worst:
            worst, worst_name = d, name
    ok = worst < 1e-3
    text = (f"all implementations start from tinyae's initial weights; their first two losses agree with "
            f"{reference!r} to {worst:.1e} relative (worst: {worst_name or '-'}) -- "
            f"{'same computation' if ok else 'MISMATCH: they do not compute the same step'}")
    return text, worst
