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

from tinyae.demos import vae
from tinyae.demos._report import script_args


def parse_args(argv=None):
    return script_args(__doc__, argv)


if __name__ == "__main__":
    args = parse_args()
    vae.main(out_dir=args.out, quick=args.quick, seed=args.seed)
