"""Autoencoder versus PCA on handwritten digits: reconstruction error against code size.

Shows that a nonlinear autoencoder reconstructs held-out digits better than
PCA at every code size k = 2, 5, 10, 20, while a linear autoencoder only
matches PCA (it learns PCA's subspace). Writes error_vs_code_size.png,
reconstructions_k2.png, codes_2d.png, loss_curves.png and a results table
(results.md, results.json) to OUT/ae_vs_pca/. Needs scikit-learn (digits).

Run:  python demos/ae_vs_pca.py [--out DIR] [--quick] [--seed N]
      (the same as: tinyae demo ae_vs_pca)
"""

from __future__ import annotations

from tinyae.demos import ae_vs_pca
from tinyae.demos._report import script_args


def parse_args(argv=None):
    return script_args(__doc__, argv)


if __name__ == "__main__":
    args = parse_args()
    ae_vs_pca.main(out_dir=args.out, quick=args.quick, seed=args.seed)
