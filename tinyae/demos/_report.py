"""Shared plumbing of the demos: output folder, timing, figures, and the results table.

Each demo does::

    run = DemoRun("ae_vs_pca", out_dir, quick=quick, seed=seed)   # makes out_dir/ae_vs_pca/, starts the clock
    ...
    run.save(fig, "error_vs_code_size.png")                         # saves and closes a figure
    table = Table("Held-out reconstruction MSE", ["k", "AE MSE", "PCA MSE", "AE / PCA"], rows)
    return run.finish([table], {"ae_mse": {...}, ...})

``finish`` writes ``results.md`` (markdown tables) and ``results.json``
(the same numbers plus the returned results), prints the tables and
returns the results dict with ``"seconds"``, ``"out_dir"``, ``"figures"``
and ``"tables"`` added.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["DemoRun", "Table", "fmt", "jsonable", "digits_split", "one_blas_thread", "cosine_lr", "script_args"]


def fmt(value: Any) -> str:
    """A table cell: floats to 4 significant digits, everything else as ``str``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v == 0.0:
            return "0"
        if 1e-3 <= abs(v) < 1e5:
            return f"{v:#.4g}"
        return f"{v:.3e}"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars/arrays, paths and tuples turned into JSON types (NaN/inf to None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def digits_split(demo: str, seed: int, n_test: int = 450) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits scaled to [0, 1], split by a seeded permutation.

    Returns ``X_train, X_test, y_train, y_test`` (1347 and 450 images by
    default). Without scikit-learn, raises ImportError naming the demo.
    """
    from tinyae.datasets.images import load_digits

    try:
        X, y = load_digits(return_X_y=True)
    except ImportError as exc:
        raise ImportError(f"tinyae demo {demo}: {exc}") from exc
    order = np.random.default_rng(seed).permutation(len(X))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return X[train], X[test], y[train], y[test]


def script_args(doc: str, argv: Sequence[str] | None = None) -> Any:
    """The command-line options every script in demos/ takes: --out, --quick, --seed."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", default="tinyae-demo-output", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser.parse_args(argv)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the BLAS and OpenMP libraries loaded so far on one thread (when threadpoolctl is installed).

    The demo models are small: a second BLAS thread gains little, and when
    the cores are shared (a test suite, other jobs) BLAS threads that
    busy-wait for each other made training steps several times slower.
    Libraries loaded later (SciPy's own OpenBLAS, imported with
    scikit-learn) are not covered: enter it again after importing them.
    threadpoolctl is a dependency of tinyae; without it nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield


def cosine_lr(estimator: Any, epochs: int, lr: float, lr_min: float = 0.0) -> Any:
    """A callback annealing ``estimator.optimizer_.lr`` from ``lr`` to ``lr_min`` over ``epochs``
    (cosine), for estimators, which take a constant learning rate."""

    def callback(epoch: int, logs: dict, model: Any) -> None:
        t = min(epoch + 1, epochs) / epochs
        estimator.optimizer_.lr = lr_min + (lr - lr_min) * (1.0 + math.cos(math.pi * t)) / 2.0

    return callback


@dataclass
class Table:
    """A results table: a title, column names, rows of cells, and an optional note under it."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    note: str = ""

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"row {i}: {len(row)} cells for {len(self.columns)} columns ({self.title!r})")

    def markdown(self) -> str:
        cells = [[fmt(c) for c in row] for row in self.rows]
        lines = [f"### {self.title}", "",
                 "| " + " | ".join(self.columns) + " |",
                 "| " + " | ".join("---" for _ in self.columns) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"title": self.title, "columns": list(self.columns), "rows": jsonable(self.rows), "note": self.note}


@dataclass
class DemoRun:
    """One run of a demo: its output folder ``out_dir/name``, its clock and the figures it saved."""

    name: str
    out_dir: Any = "tinyae-demo-output"
    quick: bool = False
    seed: int = 0
    dpi: int = 110
    path: Path = field(init=False)
    figures: list = field(init=False, default_factory=list)
    start: float = field(init=False, default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {self.seed!r}")
        self.seed = int(self.seed)
        self.quick = bool(self.quick)
        self.path = Path(self.out_dir) / self.name
        self.path.mkdir(parents=True, exist_ok=True)
        mode = "quick" if self.quick else "full"
        print(f"tinyae demo {self.name} ({mode} run, seed {self.seed}) -> {self.path}", flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def log(self, message: str) -> None:
        """One progress line, with the time since the start."""
        print(f"[{self.elapsed():6.1f} s] {message}", flush=True)

    def save(self, fig: Any, filename: str) -> Path:
        """Save ``fig`` (a matplotlib Figure) as ``out_dir/name/filename`` and close it."""
        import matplotlib.pyplot as plt

        target = self.path / filename
        fig.savefig(target, dpi=self.dpi, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(filename)
        return target

    def finish(self, tables: Sequence[Table], results: dict, notes: Sequence[str] = ()) -> dict:
        """Write results.md and results.json, print the tables, return ``results`` completed."""
        seconds = self.elapsed()
        mode = "quick" if self.quick else "full"
        header = f"## tinyae demo `{self.name}` ({mode} run, seed {self.seed}, {seconds:.1f} s)"
        body = "\n\n".join(t.markdown() for t in tables)
        extra = "\n".join(f"- {n}" for n in notes)
        figures = "\n".join(f"- `{f}`" for f in self.figures)
        text = "\n\n".join(s for s in (header, body, extra, "Figures:\n\n" + figures if figures else "") if s) + "\n"
        (self.path / "results.md").write_text(text, encoding="utf-8")
        out = dict(results)
        out.update(demo=self.name, quick=self.quick, seed=self.seed, seconds=seconds, out_dir=str(self.path),
                   figures=list(self.figures), tables=[t.to_dict() for t in tables], notes=list(notes))
        out = jsonable(out)
        with open(self.path / "results.json", "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")
        print()
        print(text)
        return out
