"""A variational autoencoder with a 2-D latent space on handwritten digits.

Shows digits sampled from the prior, the decoded latent plane, an
interpolation between two digits through latent space, the posterior means
of held-out digits coloured by label, and the reconstruction and KL terms of
the ELBO. Writes prior_samples.png, latent_manifold.png, interpolation.png,
latent_means.png, loss_curves.png and a results table (results.md,
results.json) to OUT/vae/. Needs scikit-learn (digits).

Run:  python demos/vae.py [--out DIR] [--quick] [--seed N]
      (the same as: tinyae demo vae)
"""

from __future__ import annotations

import argparse

from tinyae.demos import vae


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tinyae-demo-output", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    vae.main(out_dir=args.out, quick=args.quick, seed=args.seed)
