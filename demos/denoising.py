"""Denoising autoencoders on digits and on 1-D spectra.

Shows a denoising autoencoder (trained on corrupted inputs, clean targets)
removing masking and salt-and-pepper noise from held-out digits and Gaussian
noise from 1-D peak spectra, next to a plain autoencoder of the same size fed
the same noisy inputs. Writes denoising_digits_*.png, denoising_spectra.png,
loss_curves.png and a results table (results.md, results.json) to
OUT/denoising/. Needs scikit-learn (digits).

Run:  python demos/denoising.py [--out DIR] [--quick] [--seed N]
      (the same as: tinyae demo denoising)
"""

from __future__ import annotations

import argparse

from tinyae.demos import denoising


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tinyae-demo-output", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    denoising.main(out_dir=args.out, quick=args.quick, seed=args.seed)
