"""Synthetic INS spectra: lattice dynamics checked against hand-derived results.

Every physics test compares with a formula worked out independently of the
implementation (dispersions of simple lattices, Γ-point optical energies,
detailed balance, the Einstein-oscillator ⟨u²⟩, the one-phonon f-sum rule),
or with a brute-force re-implementation (the dynamical matrix from an
explicit loop over bonds). Sampling is kept small so the file runs in
seconds.
"""

from __future__ import annotations

import itertools
import math
import os
import time

import numpy as np
import pytest

from tinyae.datasets._lattice import bz_grid
from tinyae.datasets.spectra import (
    ENERGY_CONVERSION, HBAR2_AMU_MEV, KB_MEV_PER_K, PROTOTYPES, CentralSpringModel, Crystal, SpectraDataset,
    Spectrum, bose_factor, check_modes, crystal_spectrum, element_properties, generate_spectra,
    mean_square_displacement, peak_spectra, phonon_dispersion, random_crystal,
)

FCC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
CSCL = [[0, 0, 0], [0.5, 0.5, 0.5]]


# -- constants and element data ---------------------------------------------------
def test_unit_constants_from_si():
    hbar, ev, amu = 1.054571817e-34, 1.602176634e-19, 1.66053906660e-27
    # ħ·sqrt(eV/(Å² amu)) in meV, and ħ²/(amu meV) in Å², from SI values.
    assert ENERGY_CONVERSION == pytest.approx(hbar * math.sqrt(ev / (1e-20 * amu)) / ev * 1e3, rel=1e-8)
    assert ENERGY_CONVERSION == pytest.approx(64.654, abs=1e-3)
    assert HBAR2_AMU_MEV == pytest.approx(hbar ** 2 / (amu * 1e-3 * ev) * 1e20, rel=1e-8)
    assert KB_MEV_PER_K == pytest.approx(1.380649e-23 / ev * 1e3, rel=1e-9)


def test_elements_come_from_periodictable():
    m, b = element_properties(["Fe", "O", "Ti"])
    assert m[0] == pytest.approx(55.845) and b[0] == pytest.approx(9.45)
    assert m[1] == pytest.approx(15.999, abs=1e-3) and b[1] == pytest.approx(5.803, abs=1e-3)
    assert b[2] < 0  # Ti scatters with a negative length
    spec = crystal_spectrum(2.87, CSCL, elements=["Fe", "Fe"], springs=(1.6, 1.0), n_q_points=2, dos_grid=4,
                            random_state=0)
    np.testing.assert_allclose(spec.params["masses"], [55.845, 55.845])
    np.testing.assert_allclose(spec.params["scattering_lengths"], [9.45, 9.45])


# -- dispersion -------------------------------------------------------------------
def _along_100(a, n=7):
    x = np.linspace(0.05, 1.0, n) * np.pi / a
    return x, np.column_stack([x, 0 * x, 0 * x])


def test_simple_cubic_nearest_neighbour_dispersion():
    # Monatomic sc, NN central springs: ω_L = 2√(k/m)|sin(qa/2)| along [100]; the transverse
    # branches cost nothing (no shear stiffness), hence the floppy-model rejection.
    a, m, k = 3.1, 40.0, 2.5
    x, q = _along_100(a)
    E = phonon_dispersion(a, [[0, 0, 0]], q, masses=[m], springs=[k])
    expected = ENERGY_CONVERSION * 2 * np.sqrt(k / m) * np.abs(np.sin(x * a / 2))
    np.testing.assert_allclose(E[:, 2], expected, rtol=1e-10)
    np.testing.assert_allclose(E[:, :2], 0, atol=1e-5)


def test_simple_cubic_two_shell_dispersion():
    # Adding the 12 second neighbours (k2): ω_L² = 4(k1 + 2k2)/m sin²(qa/2), ω_T² = 4k2/m sin²(qa/2) (twice).
    a, m, k1, k2 = 3.1, 40.0, 2.5, 0.7
    x, q = _along_100(a)
    E = phonon_dispersion(a, [[0, 0, 0]], q, masses=[m], springs=[k1, k2])
    s = np.abs(np.sin(x * a / 2))
    np.testing.assert_allclose(E[:, 2], ENERGY_CONVERSION * 2 * np.sqrt((k1 + 2 * k2) / m) * s, rtol=1e-10)
    np.testing.assert_allclose(E[:, :2], np.repeat(ENERGY_CONVERSION * 2 * np.sqrt(k2 / m) * s[:, None], 2, 1),
                               rtol=1e-10)


def test_fcc_dispersion_in_the_conventional_cell():
    # fcc NN: ω_L = 2√(2k/m)|sin(qa/4)|, ω_T = 2√(k/m)|sin(qa/4)| along [100]. The 4-atom cubic cell
    # folds these into 12 branches; the analytic ones must be among them.
    a, m, k = 3.61, 63.546, 2.8
    x, q = _along_100(a)
    E = phonon_dispersion(a, FCC, q, elements=["Cu"] * 4, springs=[k])
    for Eq, xi in zip(E, x):
        for w in (2 * np.sqrt(2 * k / m), 2 * np.sqrt(k / m)):
            target = ENERGY_CONVERSION * w * abs(math.sin(xi * a / 4))
            assert np.min(np.abs(Eq - target)) < 1e-8 * max(target, 1.0)


def test_cscl_optical_energy_at_gamma():
    # CsCl/B2: 8 NN along <111> with Σ d̂d̂ᵀ = (8/3) I, so ω_opt²(Γ) = (8k1/3)(1/mA + 1/mB), triply
    # degenerate; further shells join like atoms only and cancel at Γ.
    a, k1 = 4.1, 3.0
    mA, mB = element_properties(["Cs", "Cl"])[0]
    E = phonon_dispersion(a, CSCL, np.zeros((1, 3)), elements=["Cs", "Cl"], springs=[k1, 0.8, 0.3])[0]
    np.testing.assert_allclose(E[:3], 0, atol=1e-5)
    np.testing.assert_allclose(E[3:], ENERGY_CONVERSION * np.sqrt(8 * k1 / 3 * (1 / mA + 1 / mB)), rtol=1e-10)


def _reference_dynamical_matrix(a, sites, masses, springs, q):
    """Brute force: loop over every bond of every atom in cells R ∈ [−3, 3]³."""
    sites = np.asarray(sites, float) % 1.0
    N = len(sites)
    bonds = [(i, j, (sites[j] + np.array(R) - sites[i]) * a)
             for i in range(N) for j in range(N) for R in itertools.product(range(-3, 4), repeat=3)]
    shells = sorted({round(float(np.linalg.norm(d)), 6) for *_, d in bonds if np.linalg.norm(d) > 1e-6})
    D = np.zeros((3 * N, 3 * N), complex)
    for i, j, d in bonds:
        r = np.linalg.norm(d)
        hit = [s for s, rs in enumerate(shells[:len(springs)]) if abs(r - rs) < 1e-5]
        if not hit:
            continue
        phi = springs[hit[0]] * np.outer(d, d) / r ** 2
        D[3 * i:3 * i + 3, 3 * j:3 * j + 3] -= phi / np.sqrt(masses[i] * masses[j]) * np.exp(1j * q @ d)
        D[3 * i:3 * i + 3, 3 * i:3 * i + 3] += phi / masses[i]
    return D, shells[:len(springs)]


@pytest.mark.parametrize("sites, masses", [
    (PROTOTYPES["3c"], [16.0, 30.0, 58.7]),                        # centrosymmetric: real path
    ([[0, 0, 0], [0.25, 0.25, 0.25], [0.5, 0.1, 0.3]], [12.0, 28.0, 40.0]),  # no inversion: complex path
])
def test_dynamical_matrix_against_brute_force_and_hermitian(sites, masses):
    a, springs = 4.0, [2.0, 0.7, 0.3]
    model = CentralSpringModel(a, sites, masses, springs)
    rng = np.random.default_rng(1)
    qs = rng.normal(size=(4, 3)) * 2.0
    D = model.dynamical_matrix(qs)
    for qv, Dq in zip(qs, D):
        ref, shells = _reference_dynamical_matrix(a, sites, np.array(masses), springs, qv)
        np.testing.assert_allclose(model.shell_distances, shells, atol=1e-6)
        np.testing.assert_allclose(ref, ref.conj().T, atol=1e-12)  # the bond set itself is symmetric
        np.testing.assert_allclose(Dq, ref, atol=1e-12 * np.abs(ref).max())
        np.testing.assert_allclose(Dq, Dq.conj().T, atol=0)
    assert model.is_real == (len(sites) == 3 and sites[0] == PROTOTYPES["3c"][0])


def test_bad_structures_raise():
    with pytest.raises(ValueError, match="coincide"):
        CentralSpringModel(3.0, [[0, 0, 0], [1.0, 0, 0]], [1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="masses"):
        CentralSpringModel(3.0, [[0, 0, 0]], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="lattice_constant"):
        CentralSpringModel(-3.0, [[0, 0, 0]], [1.0], [1.0])
    with pytest.raises(TypeError, match="lattice_constant"):
        CentralSpringModel("3", [[0, 0, 0]], [1.0], [1.0])
    with pytest.raises(ValueError, match="sites"):
        CentralSpringModel(3.0, [0, 0, 0], [1.0], [1.0])


# -- density of states ------------------------------------------------------------
def test_dos_normalisation():
    spec = crystal_spectrum(4.0, PROTOTYPES["3c"], elements=["O", "O", "Ni"], springs=(5.0, 1.5), n_q_points=2,
                            dos_grid=6, dos_range=(-10.0, 140.0), dos_bins=300, random_state=0)
    de = np.diff(spec.params["dos_edges"])
    assert (spec.dos_total * de).sum() == pytest.approx(9.0, rel=1e-7)  # 3N modes per cell
    assert (spec.dos * de).sum() == pytest.approx(9.0, rel=1e-7)
    np.testing.assert_allclose((spec.partial_dos * de).sum(1), 3.0, rtol=1e-7)
    # The neutron weighting b²/m (normalised to mean 1) of the partial DOS.
    w = spec.params["scattering_lengths"] ** 2 / spec.params["masses"]
    np.testing.assert_allclose(spec.dos, (w / w.mean()) @ spec.partial_dos, rtol=1e-12)
    # Without broadening, every mode lands in a bin: exact.
    raw = crystal_spectrum(4.0, PROTOTYPES["3c"], elements=["O", "O", "Ni"], springs=(5.0, 1.5), include_map=False,
                           dos_grid=5, resolution=(0.0, 0.0), dos_range=(0.0, 140.0))
    assert (raw.dos_total * np.diff(raw.params["dos_edges"])).sum() == pytest.approx(9.0, rel=1e-12)


def test_dos_rises_as_e_squared():
    # Debye regime: g(E) ∝ E². A width σ = cE is scale-free, so it keeps the power law while
    # smoothing the lumps a regular grid leaves at low energy.
    spec = crystal_spectrum(3.0, [[0, 0, 0]], masses=[50.0], scattering_lengths=[5.0], springs=(1.0, 0.5),
                            include_map=False, dos_grid=32, dos_bins=200, dos_range=(0, 40), resolution=(0, 0.15))
    E, g, top = spec.dos_e_centers, spec.dos_total, spec.params["max_energy"]
    low = (E > 0.05 * top) & (E < 0.2 * top)
    slope = np.polyfit(np.log(E[low]), np.log(g[low]), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.3)


# -- thermal factors --------------------------------------------------------------
@pytest.mark.parametrize("T", [5.0, 77.0, 300.0, 1000.0])
def test_detailed_balance_of_the_bose_factor(T):
    E = np.array([0.5, 3.0, 17.0, 60.0])
    np.testing.assert_allclose(bose_factor(-E, T), np.exp(-E / (KB_MEV_PER_K * T)) * bose_factor(E, T), rtol=1e-12)
    n = 1 / np.expm1(E / (KB_MEV_PER_K * T))
    np.testing.assert_allclose(bose_factor(E, T), (n + 1) / E, rtol=1e-12)


def test_bose_factor_at_zero_temperature():
    np.testing.assert_allclose(bose_factor(np.array([2.0, 10.0]), 0.0), [0.5, 0.1])
    np.testing.assert_array_equal(bose_factor(np.array([-2.0]), 0.0), [0.0])
    with pytest.raises(ValueError, match="temperature"):
        bose_factor(1.0, -1.0)


def test_detailed_balance_of_the_map():
    # With an energy axis symmetric about 0 and no broadening, each mode sits in mirrored bins with
    # weights in the ratio exp(−E/kT); within one 0.5-meV bin the ratio can drift by ≤ e^{0.25/kT}.
    T = 300.0
    spec = crystal_spectrum(4.1, CSCL, elements=["Cs", "Cl"], springs=(3.0, 0.8), temperature=T, q_bins=8,
                            e_bins=240, e_range=(-60.0, 60.0), n_q_points=32, dos_grid=4, resolution=(0.0, 0.0),
                            random_state=0)
    half = spec.s_qe.shape[1] // 2
    gain, loss = spec.s_qe[:, :half][:, ::-1], spec.s_qe[:, half:]
    E = spec.e_centers[half:]
    assert np.all(spec.s_qe >= 0) and gain.sum() > 0
    big = loss > 1e-3 * loss.max()
    np.testing.assert_allclose(gain[big], (np.exp(-E / (KB_MEV_PER_K * T)) * loss)[big], rtol=0.011)
    assert np.all(gain[loss == 0] == 0)


# -- Debye–Waller -----------------------------------------------------------------
@pytest.mark.parametrize("T", [0.0, 20.0, 300.0, 3000.0])
def test_einstein_oscillator_mean_square_displacement(T):
    # All 3N modes at one energy, unit eigenvectors: ⟨u²⟩ = ħ/(2mω) coth(ħω/2kT) along each axis.
    E_E, masses = 25.0, np.array([12.0, 50.0])
    energies = np.full((5, 6), E_E)
    vecs = np.broadcast_to(np.eye(6), (5, 6, 6))
    u2 = mean_square_displacement(energies, vecs, masses, T)
    coth = 1.0 if T == 0 else 1 / math.tanh(E_E / (2 * KB_MEV_PER_K * T))
    hbar, ev, amu = 1.054571817e-34, 1.602176634e-19, 1.66053906660e-27
    omega = E_E * 1e-3 * ev / hbar
    expected = hbar / (2 * masses * amu * omega) * coth * 1e20  # Å²
    np.testing.assert_allclose(u2, expected, rtol=1e-8)


def test_debye_waller_limits_on_crystal_modes():
    model = CentralSpringModel(4.1, CSCL, element_properties(["Cs", "Cl"])[0], [3.0, 0.8])
    q, w = bz_grid(6, 4.1)
    E, v, _ = model.modes(q)
    amp = (np.abs(v) ** 2).reshape(len(q), 2, 3, 6).sum(2)  # Σ_α |e_κα,ν|²
    m = model.masses
    zero_point = HBAR2_AMU_MEV / (6 * m) * (amp / E[:, None, :]).sum((0, 2)) / len(q)
    np.testing.assert_allclose(mean_square_displacement(E, v, m, 0.0), zero_point, rtol=1e-12)
    T = 20000.0  # kT ≫ E_max: coth(x/2) → 2/x, so ⟨u²⟩ → (kT/3m)⟨Σ|e|²/ω²⟩ = kT ħ²/(3m) ⟨Σ|e|²/E²⟩
    classical = KB_MEV_PER_K * T * HBAR2_AMU_MEV / (3 * m) * (amp / E[:, None, :] ** 2).sum((0, 2)) / len(q)
    np.testing.assert_allclose(mean_square_displacement(E, v, m, T), classical, rtol=2e-4)
    assert np.all(mean_square_displacement(E, v, m, 300.0) > zero_point)


def test_debye_waller_mass_scaling_of_a_monatomic_crystal():
    # Same springs, different mass: ω ∝ m^-½, so the classical ⟨u²⟩ = kT/(mω²) is mass independent and
    # the zero-point ħ/(2mω) scales as m^-½.
    def u2(mass, T):
        return crystal_spectrum(3.0, [[0, 0, 0]], masses=[mass], scattering_lengths=[5.0], springs=(2.0, 0.8),
                                temperature=T, include_map=False, dos_grid=8).params["u2"][0]
    assert u2(10.0, 1e5) == pytest.approx(u2(160.0, 1e5), rel=1e-3)
    assert u2(10.0, 0.0) / u2(160.0, 0.0) == pytest.approx(4.0, rel=1e-9)


# -- the S(Q, E) map --------------------------------------------------------------
@pytest.mark.parametrize("T, e_range", [(0.0, (0.0, 60.0)), (300.0, (-60.0, 60.0))])
def test_first_moment_sum_rule(T, e_range):
    # Completeness of the eigenvectors gives, at every Q and any T (energy loss minus gain):
    # ∫ E S(Q, E) dE = Σ_κ b_κ² ħ²Q²/(2m_κ) exp(−Q²⟨u²⟩_κ)  — the coherent one-phonon f-sum rule.
    edges = [2.0, 2.005, 5.0, 5.005]
    spec = crystal_spectrum(4.1, CSCL, elements=["Cs", "Cl"], springs=(3.0, 0.8), temperature=T, q_bins=edges,
                            e_bins=2400, e_range=e_range, n_q_points=64, dos_grid=8, resolution=(0.0, 0.0),
                            random_state=3)
    p = spec.params
    assert p["max_energy"] < 0.9 * e_range[1]
    de = np.diff(p["e_edges"])
    for row, Q in ((0, 2.0025), (2, 5.0025)):
        moment = (spec.e_centers * spec.s_qe[row] * de).sum()
        expected = (p["scattering_lengths"] ** 2 * HBAR2_AMU_MEV * Q ** 2 / (2 * p["masses"])
                    * np.exp(-Q ** 2 * p["u2"])).sum()
        assert moment == pytest.approx(expected, rel=1e-3)


def test_map_shapes_defaults_and_axes():
    spec = crystal_spectrum(2.87, CSCL, elements=["Fe", "Fe"], springs=(1.6, 1.0), n_q_points=2, dos_grid=4,
                            random_state=0)
    assert isinstance(spec, Spectrum)
    assert spec.s_qe.shape == (64, 128) and spec.dos.shape == (256,)
    np.testing.assert_allclose(spec.q_centers, 0.5 * (np.linspace(0.2, 8, 65)[1:] + np.linspace(0.2, 8, 65)[:-1]))
    np.testing.assert_allclose(spec.e_centers, (np.arange(128) + 0.5) * 100 / 128)
    np.testing.assert_allclose(spec.dos_e_centers, (np.arange(256) + 0.5) * 100 / 256)
    assert np.all(spec.s_qe >= 0) and np.all(np.isfinite(spec.s_qe)) and spec.s_qe.max() > 0
    same = crystal_spectrum(2.87, CSCL, elements=["Fe", "Fe"], springs=(1.6, 1.0), n_q_points=2, dos_grid=4,
                            random_state=0)
    np.testing.assert_array_equal(spec.s_qe, same.s_qe)


def test_unstable_crystal_and_bad_arguments_raise():
    kw = dict(lattice_constant=3.0, sites=[[0, 0, 0]], n_q_points=2, dos_grid=4)
    with pytest.raises(ValueError, match="unstable"):
        crystal_spectrum(**kw, masses=[10.0], scattering_lengths=[5.0], springs=(-1.0, 0.2))
    with pytest.raises(ValueError, match="unknown element"):
        crystal_spectrum(**kw, elements=["Xx"])
    with pytest.raises(ValueError, match="elements"):
        crystal_spectrum(**kw, masses=[10.0])
    with pytest.raises(ValueError, match="elements"):
        crystal_spectrum(**kw, elements=["Fe", "Fe"])
    with pytest.raises(TypeError, match="elements"):
        crystal_spectrum(**kw, elements="Fe")
    with pytest.raises(ValueError, match="q_bins"):
        crystal_spectrum(**kw, elements=["Fe"], q_bins=0)
    with pytest.raises(ValueError, match="e_bins"):
        crystal_spectrum(**kw, elements=["Fe"], e_bins=[3.0, 1.0])
    with pytest.raises(TypeError, match="resolution"):
        crystal_spectrum(**kw, elements=["Fe"], resolution=0.5)
    with pytest.raises(ValueError, match="temperature"):
        crystal_spectrum(**kw, elements=["Fe"], temperature=-5)
    with pytest.raises(ValueError, match="n_shells"):
        crystal_spectrum(**kw, elements=["Fe"], springs=(1.0,), n_shells=2)
    with pytest.raises(ValueError, match="random_state"):
        crystal_spectrum(**kw, elements=["Fe"], random_state=-1)


# -- random crystals --------------------------------------------------------------
def test_floppy_and_unstable_models_are_flagged():
    for sites in ([[0, 0, 0]], CSCL, PROTOTYPES["3c"]):  # NN springs only: zero shear stiffness
        check = check_modes(CentralSpringModel(4.0, sites, np.full(len(sites), 30.0), [1.0]))
        assert check["floppy"] and not check["ok"]
    good = check_modes(CentralSpringModel(4.0, [[0, 0, 0]], [30.0], [1.0, 0.3]))
    assert good["ok"] and not good["unstable"]
    bad = check_modes(CentralSpringModel(4.0, [[0, 0, 0]], [30.0], [1.0, -0.6]))
    assert bad["unstable"] and not bad["ok"]


def test_random_crystals_rejection_and_rescaling():
    rejected = 0
    for seed in range(12):
        c = random_crystal(np.random.default_rng(seed), spring_ratio_range=(1e-6, 0.01))
        rejected += c.rejected
        assert isinstance(c, Crystal) and 1 <= len(c.sites) <= 3 and 3.0 <= c.lattice_constant <= 5.5
        assert np.all(c.springs > 0) and np.all(np.diff(c.springs) < 0)  # decay with the shell
        model = c.model()
        check = check_modes(model)
        assert check["ok"]
        assert check["max_energy"] == pytest.approx(c.max_energy, rel=1e-10)  # rescaled onto the target
        assert 40.0 <= c.max_energy <= 95.0
        q = np.random.default_rng(seed).normal(size=(50, 3)) * 2
        E, _, lam = model.modes(np.vstack([np.zeros(3), q]))
        assert lam.min() > -1e-8 * lam.max()          # no imaginary modes anywhere
        np.testing.assert_allclose(E[0, :3], 0, atol=1e-4)  # acoustic sum rule at Γ
        if len(c.sites) > 1:
            assert E[0, 3:].min() > 1.0  # no optical mode near zero
        assert E.max() <= 1.05 * c.max_energy
    assert rejected > 0  # near-floppy draws (k2/k1 ≲ 1e-3) were thrown away
    with pytest.raises(RuntimeError, match="max_tries"):
        random_crystal(np.random.default_rng(0), spring_ratio_range=(1e-7, 1e-6), max_tries=5)
    with pytest.raises(ValueError, match="max_energy_range"):
        random_crystal(np.random.default_rng(0), max_energy_range=(90, 40))


# -- data sets --------------------------------------------------------------------
SMALL = dict(n_q_points=3, dos_grid=4, progress=False)


def test_generate_spectra_shapes_determinism_and_jobs():
    ds = generate_spectra(6, random_state=11, kind="both", n_jobs=1, **SMALL)
    assert isinstance(ds, SpectraDataset)
    assert ds.X_2d.shape == (6, 64, 128) and ds.X_1d.shape == (6, 256)
    assert ds.params.shape == (6, len(ds.param_names)) and ds.X_2d.dtype == np.float32
    np.testing.assert_allclose(ds.q_centers[[0, -1]], [0.2 + 7.8 / 128, 8 - 7.8 / 128])
    np.testing.assert_allclose(ds.e_centers[[0, -1]], [100 / 256, 100 - 100 / 256])
    assert ds.dos_e_centers.shape == (256,)
    np.testing.assert_allclose(ds.X_2d.max(axis=(1, 2)), 1.0, rtol=1e-6)  # normalize="max"
    names = ds.param_names
    assert np.all((ds.params[:, names.index("max_energy")] >= 40) & (ds.params[:, names.index("max_energy")] <= 95))
    same = generate_spectra(6, random_state=11, kind="both", n_jobs=2, **SMALL)
    np.testing.assert_array_equal(ds.X_2d, same.X_2d)
    np.testing.assert_array_equal(ds.X_1d, same.X_1d)
    np.testing.assert_array_equal(ds.params, same.params)
    other = generate_spectra(6, random_state=12, kind="1d", n_jobs=1, **SMALL)
    assert other.X_2d is None and not np.array_equal(other.params, ds.params)
    # A prefix of a larger set is the smaller set (per-sample seeds).
    first = generate_spectra(3, random_state=11, kind="2d", n_jobs=1, **SMALL)
    np.testing.assert_array_equal(first.X_2d, ds.X_2d[:3])


def test_generate_spectra_cache(tmp_path):
    kw = dict(random_state=4, kind="1d", n_jobs=1, cache_dir=tmp_path, **SMALL)
    t0 = time.perf_counter()
    a = generate_spectra(8, **kw)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = generate_spectra(8, **kw, mmap_threshold=0)
    t_second = time.perf_counter() - t0
    assert a.cache_path is not None and a.cache_path == b.cache_path
    assert {"X_1d.npy", "params.npy", "meta.json"} <= set(os.listdir(a.cache_path))
    assert t_second < t_first
    assert isinstance(b.X_1d, np.memmap)  # above the threshold: memory-mapped
    np.testing.assert_array_equal(a.X_1d, b.X_1d)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.elements == b.elements and a.param_names == b.param_names
    c = generate_spectra(8, **{**kw, "random_state": 5})
    assert c.cache_path != a.cache_path


def test_generate_spectra_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        generate_spectra(2, kind="3d", **SMALL)
    with pytest.raises(ValueError, match="n_jobs"):
        generate_spectra(2, n_jobs=0, **SMALL)
    with pytest.raises(ValueError, match="n_samples"):
        generate_spectra(0, **SMALL)
    with pytest.raises(ValueError, match="random_state"):
        generate_spectra(2, random_state=-3, **SMALL)
    with pytest.raises(ValueError, match="normalize"):
        generate_spectra(2, normalize="l2", **SMALL)
    with pytest.raises(ValueError, match="elements"):
        generate_spectra(2, elements=["Qq"], **SMALL)


def test_peak_spectra():
    a = peak_spectra(20, random_state=3)
    b = peak_spectra(20, random_state=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (20, 256) and a.params.shape == (20, len(a.param_names)) and a.e_centers.shape == (256,)
    assert np.all(a.X >= 0)
    n_peaks = a.params[:, 0].astype(int)
    centers = a.params[:, 1:1 + 4 * 6].reshape(20, 6, 4)[..., 0]
    for n, c in zip(n_peaks, centers):
        assert 1 <= n <= 6 and np.all(c[n:] == 0) and np.all(np.diff(c[:n]) >= 0)
    # Every term rises ∝ E² as E → 0 (checked on a fine axis: a low peak's flank bends it further up).
    fine = peak_spectra(20, n_bins=4096, random_state=3)
    np.testing.assert_allclose(fine.params, a.params)
    slopes = np.polyfit(np.log(fine.e_centers[:3]), np.log(fine.X[:, :3].T), 1)[0]
    np.testing.assert_allclose(slopes, 2.0, atol=0.1)
    assert np.all(a.params[:, a.param_names.index("rise_energy")] >= 2.0)
    with pytest.raises(ValueError, match="n_samples"):
        peak_spectra(0)
    with pytest.raises(ValueError, match="n_bins"):
        peak_spectra(3, n_bins=1)
