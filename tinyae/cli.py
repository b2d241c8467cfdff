"""The ``tinyae`` command line (also ``python -m tinyae``).

    tinyae demo [spectra|ae_vs_pca|sparse|denoising|vae]
    tinyae train DATA.npy --n-components 8 --hidden 64 --out model.npz
    tinyae encode model.npz DATA.npy --out codes.npy
    tinyae decode model.npz codes.npy --out recon.npy
    tinyae gradcheck --backend numba

Exit status: 0 on success; 2 for a usage error -- a bad flag, a missing or
unreadable file, data or parameters that fail validation -- reported as one
``tinyae: error: ...`` line on stderr, without a traceback; 1 when training
diverged (``FloatingPointError``, also one line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

import numpy as np

__all__ = ["main", "build_parser", "DEMOS"]

DEMOS = ("spectra", "ae_vs_pca", "sparse", "denoising", "vae")


class CLIError(Exception):
    """An error the user can fix; printed without a traceback."""


def _load_array(path: str, name: str) -> np.ndarray:
    if not os.path.exists(path):
        raise CLIError(f"{name}: file {path!r} does not exist")
    if not os.path.isfile(path):
        raise CLIError(f"{name}: expected a file, got {path!r} (a directory?)")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            # Memory-mapped: training and encoding read one minibatch at a time.
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if ext in (".csv", ".txt"):
            return np.loadtxt(path, delimiter="," if ext == ".csv" else None, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise CLIError(f"{name}: could not read {path!r}: {exc}") from None
    raise CLIError(f"{name}: expected a .npy or .csv file, got {path!r}")


def _check_out(path: str, flag: str = "--out") -> None:
    """Fail before the work, not after it, when the output cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{flag}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{flag}: {path!r} is a folder, expected a file name")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,32, got {text!r}") from None


def _spec(text: str) -> list[Any]:
    """'masking:0.3' -> ['masking', 0.3]; 'kl:0.05:3' -> ['kl', 0.05, 3.0]."""
    kind, *levels = text.split(":")
    try:
        return [kind, *(float(v) for v in levels)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KIND:NUMBER[:NUMBER], got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyae", description="Autoencoders from scratch, with every gradient visible.")
    parser.add_argument("--backend", choices=["numpy", "numba", "cupy"], help="array backend (default: numba if available)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a demo and write its figures and results table")
    demo.add_argument("name", nargs="?", default="spectra", choices=DEMOS, help="which demo (default: spectra)")
    demo.add_argument("--out", default="tinyae-demo-output", help="folder for figures and results (default: %(default)s)")
    demo.add_argument("--quick", action="store_true", help="a smaller, faster run (for smoke tests)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")

    train = sub.add_parser("train", help="train an autoencoder on an .npy/.csv file (rows are samples)")
    train.add_argument("data", help="training data, shape (n_samples, n_features)")
    train.add_argument("--config", help="JSON file of estimator parameters (flags override it)")
    train.add_argument("--vae", action="store_true", help="train a VariationalAutoencoder")
    train.add_argument("--n-components", type=int, help="code size")
    train.add_argument("--hidden", type=_ints, help="hidden sizes, e.g. 64,32")
    train.add_argument("--activation", help="hidden activation (relu, sigmoid, tanh, elu, linear, ...)")
    train.add_argument("--output-activation", help="output activation (linear, sigmoid)")
    train.add_argument("--loss", choices=["mse", "bce"])
    train.add_argument("--noise", type=_spec, help="input noise, e.g. masking:0.3 or gaussian:0.1")
    train.add_argument("--sparsity", type=_spec, help="l1:WEIGHT or kl:RHO:BETA")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--random-state", type=int, default=0)
    train.add_argument("--out", default="model.npz", help="checkpoint to write (default: %(default)s)")
    train.add_argument("--plots", help="folder for the loss-curve figure")
    train.add_argument("--verbose", type=int, default=1)

    for name, help_text in (("encode", "data -> codes"), ("decode", "codes -> reconstructions")):
        p = sub.add_parser(name, help=f"{help_text} with a saved model")
        p.add_argument("model", help="checkpoint written by 'tinyae train' or Autoencoder.save")
        p.add_argument("data", help=".npy or .csv input")
        p.add_argument("--out", required=True, help="output .npy file")

    check = sub.add_parser("gradcheck", help="check every op's gradient against finite differences")
    check.add_argument("--seed", type=int, default=0)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from tinyae.estimators import Autoencoder, VariationalAutoencoder

    params: dict[str, Any] = {}
    if args.config:
        try:
            with open(args.config) as f:
                params = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise CLIError(f"--config: could not read {args.config!r}: {exc}") from None
        if not isinstance(params, dict):
            raise CLIError(f"--config: expected a JSON object of parameters, got {type(params).__name__}")
    flags = {"n_components": args.n_components, "hidden_sizes": args.hidden, "activation": args.activation,
             "output_activation": args.output_activation, "loss": args.loss, "epochs": args.epochs,
             "batch_size": args.batch_size, "learning_rate": args.learning_rate, "random_state": args.random_state,
             "verbose": args.verbose}
    if not args.vae:
        flags.update(noise=args.noise, sparsity=args.sparsity)
    elif args.noise or args.sparsity:
        raise CLIError("--noise/--sparsity: not available with --vae")
    params.update({k: v for k, v in flags.items() if v is not None})
    cls = VariationalAutoencoder if args.vae else Autoencoder
    try:
        est = cls(**params)
    except TypeError as exc:
        raise CLIError(f"--config: {exc}") from None
    _check_out(args.out)
    if args.plots and os.path.exists(args.plots) and not os.path.isdir(args.plots):
        raise CLIError(f"--plots: {args.plots!r} exists and is not a folder")
    X = _load_array(args.data, "data")
    est.fit(X)
    est.save(args.out)
    print(f"trained {cls.__name__} for {est.n_iter_} epochs on {X.shape}: final loss {est.loss_:.6g}; saved {args.out}")
    if args.plots:
        from tinyae import plots

        os.makedirs(args.plots, exist_ok=True)
        path = os.path.join(args.plots, "loss_curves.png")
        plots.loss_curves(est.history_, path=path)
        print(f"wrote {path}")
    return 0


def _cmd_code(args: argparse.Namespace, encode: bool) -> int:
    from tinyae.checkpoint import load

    if not os.path.exists(args.model):
        raise CLIError(f"model: file {args.model!r} does not exist")
    _check_out(args.out)
    est = load(args.model)
    data = _load_array(args.data, "data")
    result = est.transform(data) if encode else est.inverse_transform(data)
    np.save(args.out, result)
    print(f"wrote {args.out} {result.shape}")
    return 0


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    from tinyae.backend import current_backend
    from tinyae.selftest import run_selftest

    backend = current_backend().name
    results = run_selftest(backend, args.seed)
    for name, ok, message in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {message}" if message else ""))
    failed = sum(not ok for _, ok, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed on backend {backend!r}")
    return 1 if failed else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(f"tinyae.demos.{args.name}")
    try:
        module.main(out_dir=args.out, quick=args.quick, seed=args.seed)
    except ImportError as exc:  # an optional dependency (scikit-learn's digits) is missing
        raise CLIError(f"demo {args.name}: {exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tinyae`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed "usage: ... error: ..." (or --help)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.backend:
            from tinyae.backend import set_backend

            try:
                set_backend(args.backend)
            except RuntimeError as exc:
                raise CLIError(f"--backend: {exc}") from None
        if args.command == "train":
            return _cmd_train(args)
        if args.command in ("encode", "decode"):
            return _cmd_code(args, args.command == "encode")
        if args.command == "gradcheck":
            return _cmd_gradcheck(args)
        return _cmd_demo(args)
    except CLIError as exc:
        print(f"tinyae: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:  # validation errors from the library name the argument
        print(f"tinyae {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # training diverged: not a usage error
        print(f"tinyae {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
