"""First-use cost of tinyae's Numba kernels: cold cache, warm cache, NumPy baseline.

Each measurement is a fresh Python process (``sys.executable``) that imports
tinyae, selects a backend, builds the 784-512-128-32-128-512-784 ReLU
autoencoder (float32, Adam) and runs two training steps, timing each phase
with ``perf_counter``:

* numpy   -- the NumPy backend: the baseline with nothing to compile;
* cold    -- the Numba backend with ``NUMBA_CACHE_DIR`` set to a new, empty
             temporary folder: every kernel the step uses is compiled;
* warm    -- the Numba backend again with the folder the cold run filled:
             kernels are loaded from Numba's on-disk cache.

The first step includes Numba's compilation (cold) or cache loading (warm);
the second step shows the steady state. Runs are repeated ``--reps`` times
in the order numpy, cold, warm; the table gives medians.

    .venv/bin/python benchmarks/compile_time.py            # full run (~1-2 min)
    .venv/bin/python benchmarks/compile_time.py --quick    # one repetition
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import _common as C

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
t_numpy = time.perf_counter()
import tinyae
numba_at_import = "numba" in sys.modules
from tinyae.backend import set_backend
from tinyae.models.autoencoder import AutoencoderModule
from tinyae.optim import Adam
from tinyae.tensor import Tensor
set_backend(sys.argv[1])
t_import = time.perf_counter()
batch = int(sys.argv[2])
model = AutoencoderModule(784, 32, (512, 128), activation="relu", code_activation="relu",
                          output_activation="sigmoid", loss="mse", dtype=np.float32, rng=0)
opt = Adam(model.parameters(), lr=1e-3)
X = Tensor(np.random.default_rng(0).random((batch, 784), dtype=np.float32))
t_build = time.perf_counter()
def step():
    loss = model.loss_terms(X)["reconstruction"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()
step()
t_first = time.perf_counter()
step()
t_second = time.perf_counter()
print(json.dumps({
    "numpy_import": t_numpy - t0, "import": t_import - t0, "build": t_build - t_import,
    "first": t_first - t_build, "second": t_second - t_first, "until_first": t_first - t0,
    "numba_at_import": numba_at_import, "numba_loaded": "numba" in sys.modules,
}))
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5, help="repetitions of (numpy, cold, warm) (default %(default)s)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="one repetition")
    args = p.parse_args(argv)
    if args.quick:
        args.reps = 1
    return args


def run_child(backend: str, batch: int, cache_dir: str) -> dict:
    env = dict(os.environ)
    env.pop("TINYAE_BACKEND", None)
    env["NUMBA_CACHE_DIR"] = cache_dir
    env["PYTHONPATH"] = C.REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, backend, str(batch)], cwd=C.REPO_ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child ({backend}) failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    out["cache_files"] = sum(len(files) for _, _, files in os.walk(cache_dir))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    load0 = C.loadavg()
    nk, nk_why = C.numba_kernels_or_none()
    results: dict[str, list[dict]] = {"numpy": [], "cold": [], "warm": []}
    for rep in range(args.reps):
        base = tempfile.mkdtemp(prefix="tinyae-bench-numba-cache-")
        try:
            results["numpy"].append(run_child("numpy", args.batch, os.path.join(base, "unused")))
            if nk is not None:
                cache = os.path.join(base, "cache")
                os.makedirs(cache)
                results["cold"].append(run_child("numba", args.batch, cache))
                results["warm"].append(run_child("numba", args.batch, cache))
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(f"[rep {rep + 1}/{args.reps} done]", file=sys.stderr, flush=True)

    def med(kind, field):
        return float(np.median([r[field] for r in results[kind]]))

    labels = {"numpy": "numpy backend (baseline)", "cold": "numba, cold cache (compiles)",
              "warm": "numba, warm cache (loads)"}
    base_until = med("numpy", "until_first")
    rows = []
    for kind in ("numpy", "cold", "warm"):
        if not results[kind]:
            continue
        until = med(kind, "until_first")
        rows.append([labels[kind], C.fmt_ms(med(kind, "import")), C.fmt_ms(med(kind, "first")),
                     C.fmt_ms(until), f"{(until - base_until) * 1e3:+.0f}", f"{until / base_until:.2f}×",
                     C.fmt_ms(med(kind, "second")), C.fmt_ms(med(kind, "wall")),
                     int(np.median([r["cache_files"] for r in results[kind]])) if kind != "numpy" else "–"])

    print(f"### First-use cost of the Numba kernels: 784-512-128-32-128-512-784 ReLU AE, batch {args.batch}, "
          f"float32, Adam\n")
    C.print_table(["run", "import (ms)", "1st step (ms)", "import + 1st step (ms)", "vs numpy (ms)",
                   "vs numpy", "2nd step (ms)", "process wall (ms)", "cache files"], rows)
    print()
    imported = {kind: any(r["numba_at_import"] for r in rs) for kind, rs in results.items() if rs}
    print(f"- medians of {args.reps} fresh processes per row, run in the order numpy, cold, warm; "
          f"'import' = `import numpy, tinyae` + set_backend; '1st step' includes Numba compilation (cold) "
          f"or cache loading (warm); 'process wall' adds interpreter start-up and exit.")
    print(f"- cold runs set NUMBA_CACHE_DIR to a new empty folder; warm runs reuse it; 'cache files' = "
          f"files Numba wrote there (index .nbi + code .nbc).")
    print(f"- `import tinyae` imports numba by itself: "
          f"{'yes' if imported.get('numpy') else 'no'} (numpy-backend processes); "
          f"numba loaded by the end of a numpy-backend process: "
          f"{'yes' if any(r['numba_loaded'] for r in results['numpy']) else 'no'}.")
    if nk is None:
        print(f"- skipped Numba rows: {nk_why}")
    C.print_run_footer(load0, "--quick: one repetition, noisy" if args.quick else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
