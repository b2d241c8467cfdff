"""The main demo: compress neutron-scattering spectra, then predict them from structure.

Generates powder INS spectra S(|Q|, E) and densities of states of random
crystals, compares autoencoders with PCA at equal code sizes, and predicts
whole 2-D spectra from crystal parameters through the learned latent space.

Run:  python demos/spectra.py [--out DIR] [--quick] [--seed N]
(or:  tinyae demo spectra)
"""

from tinyae.demos import spectra
from tinyae.demos._report import script_args


def parse_args(argv=None):
    return script_args(__doc__, argv)


if __name__ == "__main__":
    args = parse_args()
    spectra.main(out_dir=args.out, quick=args.quick, seed=args.seed)
