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

from tinyae.demos import denoising
from tinyae.demos._report import script_args


def parse_args(argv=None):
    return script_args(__doc__, argv)


if __name__ == "__main__":
    args = parse_args()
    denoising.main(out_dir=args.out, quick=args.quick, seed=args.seed)
