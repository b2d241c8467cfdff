"""Data sets for the examples and tests: scikit-learn's digits, natural-image
patches, toy manifolds and synthetic inelastic-neutron-scattering spectra."""
