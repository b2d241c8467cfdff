"""Sparse autoencoders: edge filters on natural images (UFLDL) and sparse codes as digit features.

Shows the UFLDL sparse autoencoder (64-25-64, sigmoid units, KL sparsity
rho = 0.01, beta = 3, weight decay 1e-4, L-BFGS) learning localised edge
filters from whitened natural image patches, its mean hidden activation
against rho, and logistic regression on sparse codes of the digits against
raw pixels and PCA. Writes filters_ufldl.png, ufldl_training.png,
digits_accuracy.png, digits_decoder_basis.png and a results table (results.md,
results.json) to OUT/sparse/. Needs scikit-learn (digits, logistic regression).

Run:  python demos/sparse.py [--out DIR] [--quick] [--seed N]
      (the same as: tinyae demo sparse)
"""

from __future__ import annotations

from tinyae.demos import sparse
from tinyae.demos._report import script_args


def parse_args(argv=None):
    return script_args(__doc__, argv)


if __name__ == "__main__":
    args = parse_args()
    sparse.main(out_dir=args.out, quick=args.quick, seed=args.seed)
