"""Lattice dynamics of cubic crystals with central springs (Born–von Kármán).

The numerical core of :mod:`tinyae.datasets.spectra`: unit conversions,
element data, the neighbour-shell search, the dynamical matrix and its
eigenmodes, Brillouin-zone grids, thermal factors, the Debye–Waller
mean-square displacement and the resolution-broadening kernel.

It also draws the random crystals of the data sets (:func:`random_crystal`)
and rejects floppy or unstable ones (:func:`check_modes`).

Units throughout: lengths in Å, wavevectors in Å⁻¹ (Cartesian, including
the 2π), masses in amu, force constants in eV/Å², energies in meV,
temperatures in K, scattering lengths in fm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from numba import njit

from tinyae.base import check_random_state

__all__ = [
    "ENERGY_CONVERSION", "HBAR2_AMU_MEV", "KB_MEV_PER_K",
    "element_properties", "CentralSpringModel", "bz_grid", "reduce_to_zone",
    "bose_occupation", "bose_factor", "mean_square_displacement", "sphere_directions", "broaden",
    "check_modes", "Crystal", "random_crystal", "DEFAULT_ELEMENTS", "PROTOTYPES", "FEATURE_NAMES",
]

# CODATA 2018 values.
_HBAR_EV_S = 6.582119569e-16
_EV_J = 1.602176634e-19
_AMU_KG = 1.66053906660e-27
#: Boltzmann's constant in meV/K.
KB_MEV_PER_K = 8.617333262e-2
#: ħ·sqrt(eV Å⁻² amu⁻¹) in meV (= 64.654): the energy ħω of an eigenvalue
#: λ = ω² = 1 eV Å⁻² amu⁻¹ of the mass-weighted dynamical matrix.
ENERGY_CONVERSION = _HBAR_EV_S * math.sqrt(_EV_J / (1e-20 * _AMU_KG)) * 1e3
#: ħ²/(1 amu · 1 meV) in Å² (= 4.1801); follows from ENERGY_CONVERSION:
#: ħ² = C² amu Å²/eV with C in meV, and 1 eV = 1000 meV.
HBAR2_AMU_MEV = ENERGY_CONVERSION ** 2 / 1e3

#: Elements for random crystals: common, with |b_c| >= 2.4 fm and absorption < 100 b.
DEFAULT_ELEMENTS = (
    "Be", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "Cr", "Mn",
    "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "Se", "Br", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Pd",
    "Sn", "Sb", "Te", "I", "Cs", "Ba", "La", "W", "Pt", "Pb", "Bi",
)
#: Basis sites (fractional) of the random crystals: 1a (sc), 1a+1b (CsCl/bcc), 3c.
PROTOTYPES = {
    "sc": ((0.0, 0.0, 0.0),),
    "cscl": ((0.0, 0.0, 0.0), (0.5, 0.5, 0.5)),
    "3c": ((0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0)),
}
_MAX_SITES, _MAX_SHELLS = 3, 3


# -- argument checks -------------------------------------------------------------
def _number(value: Any, name: str, low: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v) or (low is not None and (v <= low if strict else v < low)):
        bound = "" if low is None else f" {'>' if strict else '>='} {low}"
        raise ValueError(f"{name}: expected a finite number{bound}, got {value!r}")
    return v


def _count(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _pair(value: Any, name: str, low: float | None = None) -> tuple[float, float]:
    if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2:
        raise TypeError(f"{name}: expected a (low, high) pair, got {value!r}")
    lo, hi = (_number(v, name, low) for v in value)
    if not lo < hi:
        raise ValueError(f"{name}: expected low < high, got {value!r}")
    return lo, hi


def element_properties(symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Standard atomic masses (amu) and bound coherent scattering lengths (fm).

    Both come from :mod:`periodictable` (``elements.symbol(s).mass`` and
    ``.neutron.b_c``), so no table is typed in here.

    Parameters
    ----------
    symbols : sequence of str, length N

    Returns
    -------
    masses : ndarray, shape (N,)
    b_c : ndarray, shape (N,)
    """
    import periodictable  # imported lazily: it loads its tables on first use

    if isinstance(symbols, str) or not isinstance(symbols, (list, tuple, np.ndarray)):
        raise TypeError(f"elements: expected a sequence of element symbols, got {type(symbols).__name__} {symbols!r}")
    masses, b_c = [], []
    for sym in symbols:
        if not isinstance(sym, (str, np.str_)):
            raise TypeError(f"elements: expected element symbols (str), got {type(sym).__name__} {sym!r}")
        try:
            el = periodictable.elements.symbol(str(sym))
        except ValueError:
            raise ValueError(f"elements: unknown element symbol {sym!r}") from None
        b = getattr(el.neutron, "b_c", None)
        if el.mass is None or b is None:
            raise ValueError(f"elements: periodictable has no mass or coherent scattering length for {sym!r}")
        masses.append(float(el.mass))
        b_c.append(float(np.real(b)))
    return np.array(masses), np.array(b_c)


def _as_array(value: Any, name: str, shape_desc: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected {shape_desc} of numbers, got {type(value).__name__} {value!r}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected {shape_desc}, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite numbers, got {value!r}")
    return arr


class CentralSpringModel:
    """Born–von Kármán model of a cubic crystal with central springs.

    Parameters
    ----------
    lattice_constant : float
        Cubic lattice constant a, Å.
    sites : array_like, shape (N, 3)
        Fractional coordinates of the N basis atoms (wrapped into [0, 1)).
    masses : array_like, shape (N,)
        Masses, amu.
    springs : array_like, shape (n_shells,)
        Force constant k_s (eV/Å²) of the bond-stretching spring between
        every pair of atoms in neighbour shell s = 1, 2, …
    shell_tol : float, default 1e-3
        Distances (Å) closer than this belong to the same shell.

    Attributes
    ----------
    shell_distances : ndarray, shape (n_shells,)
        Radius of each shell, Å (over all pairs of sites, sorted).
    coordination : ndarray, shape (N, n_shells)
        Neighbours of each site in each shell.
    is_real : bool
        Whether every bond has its inverse bond (true when each atom is an
        inversion centre): then D(q) is real symmetric and cheaper to solve.

    Notes
    -----
    A central spring k between atoms i and j at separation d stores the
    energy ½k (d̂·(u_i − u_j))², so the force-constant block is
    Φ(i, j) = −k d̂ d̂ᵀ for i ≠ j and Φ(i, i) = Σ_j k d̂ d̂ᵀ (which makes the
    acoustic sum rule exact). The dynamical matrix uses the phase of the
    full bond vector (the phonopy convention)::

        D_κα,κ'β(q) = Σ_{bonds κ→κ'} Φ_αβ / √(m_κ m_κ') · exp(i q·d),

    a 3N×3N Hermitian matrix in eV Å⁻² amu⁻¹ whose eigenvalues λ = ω² give
    the energies E = ENERGY_CONVERSION·√λ meV, ENERGY_CONVERSION =
    ħ·sqrt(eV Å⁻² amu⁻¹) = 64.654 meV. In this convention
    D(q + G) = U D(q) U† with U = diag(exp(−iG·r_κ)), so structure factors
    carry the phase exp(iG·r_κ) of the reciprocal lattice vector G = Q − q.
    With positive springs Φ is positive semidefinite, so λ ≥ 0; zero modes
    away from Γ (floppy structures) are possible and are detected by the
    caller.

    Shells are found by brute force over the neighbouring cells
    R ∈ [−m, m]³, with m grown until every vector shorter than the last
    requested shell is inside the search box.
    """

    def __init__(self, lattice_constant: float, sites: Any, masses: Any, springs: Any,
                 shell_tol: float = 1e-3) -> None:
        if isinstance(lattice_constant, bool) or not isinstance(lattice_constant, (int, float, np.integer, np.floating)):
            raise TypeError(f"lattice_constant: expected a positive number (Å), got {type(lattice_constant).__name__}")
        if not np.isfinite(lattice_constant) or lattice_constant <= 0:
            raise ValueError(f"lattice_constant: expected a positive finite number (Å), got {lattice_constant!r}")
        sites = _as_array(sites, "sites", "an (n_atoms, 3) array", 2)
        if sites.shape[1] != 3 or sites.shape[0] < 1:
            raise ValueError(f"sites: expected shape (n_atoms, 3) with n_atoms >= 1, got {sites.shape}")
        masses = _as_array(masses, "masses", "a 1-D array", 1)
        if masses.shape != (sites.shape[0],):
            raise ValueError(f"masses: expected {sites.shape[0]} values (one per site), got shape {masses.shape}")
        if np.any(masses <= 0):
            raise ValueError(f"masses: expected positive masses (amu), got {masses.tolist()}")
        springs = _as_array(springs, "springs", "a 1-D sequence", 1)
        if springs.size < 1:
            raise ValueError("springs: expected at least one force constant (eV/Å²), got none")
        if not (isinstance(shell_tol, (int, float)) and 0 < shell_tol < 0.1 * lattice_constant):
            raise ValueError(f"shell_tol: expected a small positive distance (Å), got {shell_tol!r}")
        self.lattice_constant = float(lattice_constant)
        self.sites = sites - np.floor(sites)
        self.positions = self.sites * self.lattice_constant
        self.masses = masses
        self.springs = springs
        self.shell_tol = float(shell_tol)
        self.n_atoms = sites.shape[0]
        self._find_bonds()
        self._assemble()

    # -- construction -------------------------------------------------------
    def _find_bonds(self) -> None:
        a, s, tol = self.lattice_constant, self.sites, self.shell_tol
        n_shells = self.springs.size
        m = 1
        while True:
            r = np.arange(-m, m + 1)
            cells = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
            # d[κ, κ', R] = (s_κ' + R − s_κ) a: every bond from κ in cell 0.
            d = (s[None, :, None, :] + cells[None, None, :, :] - s[:, None, None, :]) * a
            dist = np.linalg.norm(d, axis=-1)
            close = dist < tol
            close[np.arange(self.n_atoms), np.arange(self.n_atoms), len(cells) // 2] = False
            if np.any(close):
                i, j = np.argwhere(close)[0][:2]
                raise ValueError(f"sites: atoms {i} and {j} coincide (closer than {tol} Å)")
            flat = np.sort(dist[dist > tol])
            starts = np.concatenate([[0], np.nonzero(np.diff(flat) > tol)[0] + 1])
            shells = flat[starts]
            # Vectors up to the last shell need |R_i| <= d/a + 1, as |s_κ' − s_κ|_i < 1.
            if len(shells) >= n_shells and m >= math.ceil(shells[n_shells - 1] / a) + 1:
                break
            m += 1
        self.shell_distances = shells[:n_shells].copy()
        which = np.abs(dist[..., None] - self.shell_distances).argmin(-1)
        bonded = np.abs(dist - self.shell_distances[which]) <= tol
        kk, kp, ri = np.nonzero(bonded)
        self.bond_pairs = np.stack([kk, kp], 1)
        self.bond_vectors = d[kk, kp, ri]
        self.bond_shells = which[kk, kp, ri]
        self.coordination = np.zeros((self.n_atoms, n_shells), dtype=int)
        np.add.at(self.coordination, (kk, self.bond_shells), 1)

    def _assemble(self) -> None:
        N = self.n_atoms
        k = self.springs[self.bond_shells]
        dhat = self.bond_vectors / np.linalg.norm(self.bond_vectors, axis=1, keepdims=True)
        outer = k[:, None, None] * dhat[:, :, None] * dhat[:, None, :]  # k d̂d̂ᵀ per bond
        kk, kp = self.bond_pairs.T
        static = np.zeros((N, 3, N, 3))
        np.add.at(static, (kk, slice(None), kk, slice(None)), outer / self.masses[kk, None, None])
        self._static = static.reshape(3 * N, 3 * N)
        blocks = np.zeros((len(k), N, 3, N, 3))
        blocks[np.arange(len(k)), kk, :, kp, :] = -outer / np.sqrt(self.masses[kk] * self.masses[kp])[:, None, None]
        blocks = blocks.reshape(len(k), 9 * N * N)
        # Real case: every (κ, κ', d) has its (κ, κ', −d); keep one of each pair, doubled, with cos(q·d).
        key = np.round(self.bond_vectors / self.shell_tol).astype(np.int64)
        table = {(int(p), int(q_), *map(int, v)) for p, q_, v in zip(kk, kp, key)}
        self.is_real = all((int(p), int(q_), *map(int, -v)) in table for p, q_, v in zip(kk, kp, key))
        if self.is_real:
            first = np.array([v[np.nonzero(v)[0][0]] > 0 for v in key])
            self._vectors, self._blocks = self.bond_vectors[first], 2.0 * blocks[first]
        else:
            self._vectors, self._blocks = self.bond_vectors, blocks

    # -- dynamical matrix and modes -----------------------------------------
    def dynamical_matrix(self, q: Any) -> np.ndarray:
        """D(q) for a batch of wavevectors.

        Parameters
        ----------
        q : array_like, shape (n_q, 3) or (3,)
            Cartesian wavevectors, Å⁻¹ (any q, not only the first zone).

        Returns
        -------
        D : ndarray, shape (n_q, 3N, 3N), eV Å⁻² amu⁻¹
            Real symmetric (float64) when :attr:`is_real`, else complex
            Hermitian.
        """
        q = np.atleast_2d(np.asarray(q, dtype=float))
        if q.ndim != 2 or q.shape[1] != 3:
            raise ValueError(f"q: expected shape (n_q, 3), got {q.shape}")
        arg = q @ self._vectors.T
        phase = np.cos(arg) if self.is_real else np.exp(1j * arg)
        n3 = 3 * self.n_atoms
        D = (phase @ self._blocks).reshape(-1, n3, n3) + self._static
        # Symmetrise: the bond sums are Hermitian analytically, round-off is not.
        return 0.5 * (D + np.conj(np.swapaxes(D, 1, 2)))

    def modes(self, q: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Phonon energies and eigenvectors at a batch of wavevectors.

        Returns
        -------
        energies : ndarray, shape (n_q, 3N)
            E = 64.654·sign(λ)·√|λ| meV, ascending (negative: imaginary mode).
        eigenvectors : ndarray, shape (n_q, 3N, 3N)
            Columns are the orthonormal eigenvectors e_ν, components ordered
            (κ, α) = 3κ + α.
        eigenvalues : ndarray, shape (n_q, 3N)
            λ in eV Å⁻² amu⁻¹.
        """
        # One batched LAPACK call for all q points: the loop runs in C.
        lam, vec = np.linalg.eigh(self.dynamical_matrix(q))
        return ENERGY_CONVERSION * np.sign(lam) * np.sqrt(np.abs(lam)), vec, lam

    def high_symmetry_points(self) -> np.ndarray:
        """Γ, the three X, three M and R points of the simple-cubic zone, shape (8, 3), Å⁻¹."""
        f = np.array([[0, 0, 0], [.5, 0, 0], [0, .5, 0], [0, 0, .5],
                      [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [.5, .5, .5]])
        return f * 2 * np.pi / self.lattice_constant


def bz_grid(n: int, lattice_constant: float, half: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A uniform n×n×n grid over the first Brillouin zone that avoids Γ.

    Reduced coordinates (i + ½)/n, folded into [−½, ½); for even n this is
    the Monkhorst–Pack grid. Avoiding Γ keeps the acoustic 1/E terms of the
    Debye–Waller sum finite.

    Parameters
    ----------
    n : int
    lattice_constant : float, Å
    half : bool, default False
        For even n, keep one q of each pair (q, −q) with weight 2: time
        reversal gives E(−q) = E(q) and e(−q) = e(q)*, so every |e|²-based
        zone average is unchanged at half the cost. (Odd n: full grid.)

    Returns
    -------
    q : ndarray, shape (n³, 3) or (n³/2, 3), Cartesian Å⁻¹
    weights : ndarray, shape (len(q),)
        Sum n³.
    """
    t = (np.arange(n) + 0.5) / n
    t = t - np.round(t)
    g = np.stack(np.meshgrid(t, t, t, indexing="ij"), -1).reshape(-1, 3)
    w = np.ones(len(g))
    if half and n % 2 == 0:
        # For even n no component is 0 or ½, so q and −q differ in the sign of q_x.
        g, w = g[g[:, 0] > 0], 2 * w[g[:, 0] > 0]
    return g * (2 * np.pi / lattice_constant), w


def reduce_to_zone(Q: np.ndarray, lattice_constant: float) -> tuple[np.ndarray, np.ndarray]:
    """Split Q = G + q with q in the first (cubic) zone. Returns (q, G), both (n, 3) Å⁻¹."""
    b = 2 * np.pi / lattice_constant
    G = b * np.round(Q / b)
    return Q - G, G


def bose_occupation(energy: Any, temperature: float) -> np.ndarray:
    """n(E) = 1/(exp(E/kT) − 1), for E > 0 (0 at T = 0)."""
    E = np.asarray(energy, dtype=float)
    if temperature <= 0:
        return np.zeros_like(E)
    with np.errstate(divide="ignore", over="ignore"):
        return 1.0 / np.expm1(E / (KB_MEV_PER_K * temperature))


def bose_factor(energy: Any, temperature: float) -> np.ndarray:
    """Thermal factor (n(E) + 1)/E of one-phonon scattering, for either sign of E.

    Parameters
    ----------
    energy : array_like
        Energy transfer to the sample, meV: E > 0 is neutron energy loss
        (phonon creation), E < 0 energy gain (phonon annihilation).
    temperature : float
        K; 0 gives 1/E for E > 0 and 0 for E < 0.

    Returns
    -------
    ndarray, meV⁻¹, same shape as ``energy`` (inf at E = 0 for T > 0).

    Notes
    -----
    (n(E) + 1)/E = 1/(E (1 − exp(−E/kT))) holds for both signs: at E < 0 it
    equals n(|E|)/|E|, the annihilation factor. Hence detailed balance
    f(−E) = exp(−E/kT) f(E) holds exactly.
    """
    E = np.asarray(energy, dtype=float)
    if not (isinstance(temperature, (int, float, np.integer, np.floating)) and temperature >= 0):
        raise ValueError(f"temperature: expected a non-negative number (K), got {temperature!r}")
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if temperature == 0:
            return np.where(E > 0, 1.0 / E, 0.0)
        return -1.0 / (E * np.expm1(-E / (KB_MEV_PER_K * temperature)))


def mean_square_displacement(energies: np.ndarray, eigenvectors: np.ndarray, masses: np.ndarray,
                             temperature: float, weights: np.ndarray | None = None,
                             min_energy: float = 1e-6) -> np.ndarray:
    """Isotropic mean-square displacement ⟨u²⟩ of each atom along one axis, Å².

    Parameters
    ----------
    energies : ndarray, shape (n_q, 3N), meV
        Modes on a uniform sampling of the zone (see :func:`bz_grid`).
    eigenvectors : ndarray, shape (n_q, 3N, 3N)
    masses : ndarray, shape (N,), amu
    temperature : float, K
    weights : ndarray, shape (n_q,), optional
        Weights of the q points (e.g. from :func:`bz_grid`); default equal.
    min_energy : float, default 1e-6
        Modes below this (meV; the acoustic modes at Γ exactly) are skipped.

    Returns
    -------
    u2 : ndarray, shape (N,)

    Notes
    -----
    ⟨u_α²⟩_κ = ħ²/(6 m_κ) · ⟨Σ_ν |e_κν|² coth(E_ν/2kT)/E_ν⟩_q, the
    trace/3 of the displacement tensor (exact for sites of cubic symmetry),
    with coth(E/2kT) = 2n + 1 and ħ²/(amu·meV) = 4.1801 Å². Limits:
    T → 0 gives the zero-point ħ²/(6m) ⟨Σ|e|²/E⟩; kT ≫ E gives the
    classical (kT/3m)⟨Σ|e|²/ω²⟩ = kT ħ²/(3m) ⟨Σ|e|²/E²⟩. The Debye–Waller
    exponent is W_κ = ½Q²⟨u²⟩_κ.
    """
    E = np.asarray(energies, dtype=float)
    n_q, n3 = E.shape
    masses = np.asarray(masses, dtype=float)
    ok = E > min_energy
    Es = np.where(ok, E, 1.0)
    if temperature > 0:
        coth = 1.0 / np.tanh(Es / (2 * KB_MEV_PER_K * temperature))
    else:
        coth = np.ones_like(Es)
    w = np.where(ok, coth / Es, 0.0)
    wq = np.ones(n_q) if weights is None else np.asarray(weights, dtype=float)
    amp = (np.abs(eigenvectors) ** 2).reshape(n_q, len(masses), 3, n3).sum(2)  # (n_q, N, 3N)
    return HBAR2_AMU_MEV / (6.0 * masses) * np.einsum("qkn,qn,q->k", amp, w, wq) / wq.sum()


def sphere_directions(n: int, rng: np.random.Generator, n_sets: int = 1) -> np.ndarray:
    """Sets of n nearly uniform unit vectors, shape (n_sets, n, 3).

    Each set is a Fibonacci sphere under its own uniformly random rotation:
    quasi-random points give a smoother powder average than independent
    uniform draws, and the random rotation keeps the average unbiased.
    """
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = i * np.pi * (3 - math.sqrt(5))
    r = np.sqrt(1 - z * z)
    v = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)
    # A uniform random rotation from a uniform random unit quaternion (w, x, y, z).
    u = rng.standard_normal((n_sets, 4))
    w, x, y, zq = (u / np.linalg.norm(u, axis=1, keepdims=True)).T
    R = np.stack([
        np.stack([1 - 2 * (y * y + zq * zq), 2 * (x * y - zq * w), 2 * (x * zq + y * w)], -1),
        np.stack([2 * (x * y + zq * w), 1 - 2 * (x * x + zq * zq), 2 * (y * zq - x * w)], -1),
        np.stack([2 * (x * zq - y * w), 2 * (y * zq + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], 1)  # (n_sets, 3, 3)
    return np.einsum("nb,sab->sna", v, R)


@njit(cache=True)
def broaden(out, rows, energies, weights, sigmas, edges):  # pragma: no cover - compiled
    """Add Gaussian-broadened modes to histogram densities, in place.

    For each mode i and channel c::

        out[rows[i], c, j] += weights[i, c] · ∫_bin j N(E; energies[i], sigmas[i]) dE / width_j

    with exact bin integrals (erf differences) over ±6σ (the tail beyond
    holds 2e-9 of the weight), or a plain histogram where sigma <= 0.
    Shapes: out (n_rows, n_channels, n_bins); rows, energies, sigmas
    (n_modes,); weights (n_modes, n_channels); edges (n_bins + 1,)
    increasing. The erf values of one mode are shared by its channels.
    """
    n_bins = edges.shape[0] - 1
    n_ch = weights.shape[1]
    lo_edge = edges[0]
    hi_edge = edges[n_bins]
    for i in range(energies.shape[0]):
        e = energies[i]
        s = sigmas[i]
        r = rows[i]
        if s <= 0.0:
            if e < lo_edge or e >= hi_edge:
                continue
            j = np.searchsorted(edges, e, side="right") - 1
            inv_w = 1.0 / (edges[j + 1] - edges[j])
            for c in range(n_ch):
                out[r, c, j] += weights[i, c] * inv_w
            continue
        lo = e - 6.0 * s
        hi = e + 6.0 * s
        if hi <= lo_edge or lo >= hi_edge:
            continue
        j0 = max(np.searchsorted(edges, lo, side="right") - 1, 0)
        j1 = min(np.searchsorted(edges, hi, side="left"), n_bins)
        inv = 1.0 / (s * math.sqrt(2.0))
        c_prev = math.erf((edges[j0] - e) * inv)
        for j in range(j0, j1):
            c_next = math.erf((edges[j + 1] - e) * inv)
            f = 0.5 * (c_next - c_prev) / (edges[j + 1] - edges[j])
            for c in range(n_ch):
                out[r, c, j] += weights[i, c] * f
            c_prev = c_next


# -- random crystals ---------------------------------------------------------------
_SLOPE_DIRECTIONS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1],
                              [0, 1, 1], [0, 1, -1], [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1],
                              [1, 2, 3], [3, -1, 2], [-2, 3, 1]], dtype=float)
_SLOPE_DIRECTIONS /= np.linalg.norm(_SLOPE_DIRECTIONS, axis=1, keepdims=True)


def check_modes(model: CentralSpringModel, grid: int = 6, stiffness_floor: float = 0.05,
                tol: float = 1e-8) -> dict:
    """Stability and floppiness test of a spring model; also its top energy.

    The wavevectors checked are a ``grid``³ zone grid (halved by time
    reversal), Γ, the X, M, R
    points and 16 directions at |q| = 0.02·2π/a.

    Parameters
    ----------
    model : CentralSpringModel
    grid : int, default 6
    stiffness_floor : float, default 0.05
        Minimum of ρ(q) below (dimensionless).
    tol : float, default 1e-8
        Relative tolerance for negative eigenvalues.

    Returns
    -------
    dict
        ``unstable`` (some λ < −tol·λ_max), ``floppy``, ``ok`` (neither),
        ``max_energy`` (meV, with the real masses), ``stiffness_ratio``
        (min ρ), ``q`` (the checked wavevectors, Å⁻¹).

    Notes
    -----
    Floppiness is a property of the spring network, not of the masses, so it
    is judged on the force-constant matrix Φ(q) (the model with unit
    masses): ρ(q) = sqrt(φ_min(q)/φ_max) / min(1, |q|a/π) compares the
    softest "frequency" with a linear acoustic floor through Γ (φ_max: the
    largest eigenvalue anywhere). ρ → 0 flags acoustic branches of ~zero
    slope (zero shear stiffness, e.g. simple cubic with nearest-neighbour
    springs only) and zero modes away from Γ; at Γ, eigenvalue 4 (the first
    optical mode, N > 1) must exceed ``stiffness_floor``² φ_max. Positive
    central springs always give φ ≥ 0, so ``unstable`` can only come from
    negative springs.
    """
    a = model.lattice_constant
    qs = np.concatenate([bz_grid(grid, a, half=True)[0], model.high_symmetry_points(),
                         0.02 * (2 * np.pi / a) * _SLOPE_DIRECTIONS])
    E, _, lam = model.modes(qs)
    unit = CentralSpringModel(a, model.sites, np.ones(model.n_atoms), model.springs, model.shell_tol)
    phi = np.linalg.eigvalsh(unit.dynamical_matrix(qs))
    phi_max = max(phi.max(), 1e-300)
    unstable = bool(lam.min() < -tol * max(lam.max(), 1e-300))
    qn = np.linalg.norm(reduce_to_zone(qs, a)[0], axis=1)
    away = qn > 1e-9
    rho = np.sqrt(np.clip(phi[away, 0], 0, None) / phi_max) / np.minimum(1.0, qn[away] * a / np.pi)
    gamma = phi[~away][0]
    rho_opt = math.sqrt(max(gamma[3], 0.0) / phi_max) if model.n_atoms > 1 else np.inf
    floppy = bool(rho.min() < stiffness_floor or rho_opt < stiffness_floor)
    return {"ok": not (unstable or floppy), "unstable": unstable, "floppy": floppy,
            "max_energy": float(E.max()), "stiffness_ratio": float(min(rho.min(), rho_opt)), "q": qs}


FEATURE_NAMES = (
    ["lattice_constant", "n_atoms", "n_shells"]
    + [f"mass_{i}" for i in range(_MAX_SITES)] + [f"b_c_{i}" for i in range(_MAX_SITES)]
    + [f"{c}_{i}" for i in range(_MAX_SITES) for c in "xyz"]
    + [f"spring_{s + 1}" for s in range(_MAX_SHELLS)] + [f"shell_distance_{s + 1}" for s in range(_MAX_SHELLS)]
    + ["max_energy", "temperature"]
)


@dataclass
class Crystal:
    """A random crystal from :func:`random_crystal` (springs already rescaled).

    Attributes: ``prototype`` (a key of :data:`PROTOTYPES`),
    ``lattice_constant`` (Å), ``sites`` (N, 3), ``elements``, ``masses``
    (amu), ``scattering_lengths`` (fm), ``springs`` (eV/Å²),
    ``shell_distances`` (Å), ``temperature`` (K), ``max_energy`` (meV: the
    drawn target), ``rejected`` (floppy/unstable draws discarded before it).
    """

    prototype: str
    lattice_constant: float
    sites: np.ndarray
    elements: tuple
    masses: np.ndarray
    scattering_lengths: np.ndarray
    springs: np.ndarray
    shell_distances: np.ndarray
    temperature: float
    max_energy: float
    rejected: int = 0

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`crystal_spectrum` for this crystal."""
        return {"lattice_constant": self.lattice_constant, "sites": self.sites, "elements": list(self.elements),
                "springs": self.springs, "temperature": self.temperature}

    def model(self) -> CentralSpringModel:
        return CentralSpringModel(self.lattice_constant, self.sites, self.masses, self.springs)

    def features(self) -> np.ndarray:
        """Numeric description, shape (len(FEATURE_NAMES),); absent sites/shells are 0."""
        n, s = len(self.masses), len(self.springs)
        pad = lambda x, k: np.concatenate([np.ravel(x), np.zeros(k - np.size(x))])  # noqa: E731
        return np.concatenate([[self.lattice_constant, n, s], pad(self.masses, _MAX_SITES),
                               pad(self.scattering_lengths, _MAX_SITES), pad(self.sites, 3 * _MAX_SITES),
                               pad(self.springs, _MAX_SHELLS), pad(self.shell_distances, _MAX_SHELLS),
                               [self.max_energy, self.temperature]])


def random_crystal(rng: Any, max_energy_range: tuple = (40.0, 95.0), temperature_range: tuple = (5.0, 300.0),
                   lattice_range: tuple = (3.0, 5.5), elements: Sequence[str] = DEFAULT_ELEMENTS,
                   spring_ratio_range: tuple = (0.02, 0.8), max_tries: int = 200) -> Crystal:
    """Draw a random, mechanically sound cubic crystal.

    Parameters
    ----------
    rng : numpy.random.Generator or int
    max_energy_range : (low, high), default (40, 95)
        meV; the springs are scaled so the top phonon energy is U(low, high).
    temperature_range, lattice_range : (low, high)
        K and Å, drawn uniformly.
    elements : sequence of str
    spring_ratio_range : (low, high), default (0.02, 0.8)
        k_{s+1}/k_s is drawn from it: springs decay with the shell.
    max_tries : int, default 200

    Returns
    -------
    Crystal

    Notes
    -----
    Prototype uniform over :data:`PROTOTYPES` (1–3 atoms); 2 or 3 shells;
    the 3c sites share one element with probability ½. Draws that
    :func:`check_modes` flags as unstable or floppy are rejected and redrawn.
    Since E ∝ √k, multiplying every spring by (E_target/E_max)² puts the
    highest checked mode exactly at the target.
    """
    rng = check_random_state(rng)
    e_lo, e_hi = _pair(max_energy_range, "max_energy_range", 0.0)
    t_lo, t_hi = _pair(temperature_range, "temperature_range", 0.0)
    a_lo, a_hi = _pair(lattice_range, "lattice_range", 0.0)
    r_lo, r_hi = _pair(spring_ratio_range, "spring_ratio_range", 0.0)
    elements = tuple(elements)
    if len(elements) == 0:
        raise ValueError("elements: expected at least one element symbol, got none")
    element_properties(elements)  # validates the symbols up front
    names = sorted(PROTOTYPES)
    for tries in range(_count(max_tries, "max_tries")):
        proto = names[rng.integers(len(names))]
        sites = np.array(PROTOTYPES[proto])
        a = rng.uniform(a_lo, a_hi)
        if proto == "3c" and rng.random() < 0.5:
            els = (elements[rng.integers(len(elements))],) * 3
        else:
            els = tuple(elements[i] for i in rng.integers(len(elements), size=len(sites)))
        ratios = rng.uniform(r_lo, r_hi, size=rng.integers(2, _MAX_SHELLS + 1) - 1)
        springs = np.cumprod(np.concatenate([[1.0], ratios]))
        masses, b = element_properties(els)
        model = CentralSpringModel(a, sites, masses, springs)
        check = check_modes(model)
        if not check["ok"]:
            continue
        target = rng.uniform(e_lo, e_hi)
        springs = springs * (target / check["max_energy"]) ** 2
        return Crystal(proto, float(a), sites, els, masses, b, springs, model.shell_distances.copy(),
                       float(rng.uniform(t_lo, t_hi)), float(target), tries)
    raise RuntimeError(f"random_crystal: no stable crystal in max_tries={max_tries} draws")
