"""The main demo: compress neutron-scattering spectra, then predict them from structure.

Generates powder INS spectra S(|Q|, E) and densities of states of random
crystals, compares autoencoders with PCA at equal code sizes, and predicts
whole 2-D spectra from crystal parameters through the learned latent space.

Run:  python demos/spectra.py [--out DIR] [--quick] [--seed N]
(or:  tinyae demo spectra)
"""

import argparse

from tinyae.demos.spectra import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tinyae-demo-output", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(out_dir=args.out, quick=args.quick, seed=args.seed)
