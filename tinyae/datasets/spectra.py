"""Synthetic inelastic neutron scattering (INS) spectra from lattice dynamics.

Real INS spectra cannot be downloaded here, so these are computed from
Born–von Kármán models of cubic crystals with central springs:

* :func:`crystal_spectrum` – the powder-averaged coherent one-phonon map
  S(|Q|, E) and the neutron-weighted density of states of one crystal
  (the function to compare with other lattice-dynamics codes);
* :func:`random_crystal` / :func:`generate_spectra` – a data set of random,
  mechanically stable crystals with their structure parameters as
  features (structure → spectrum), in parallel and cached on disk;
* :func:`peak_spectra` – a fast 1-D peak-mixture family for quick tests.

Example::

    spec = crystal_spectrum(2.87, [[0, 0, 0], [.5, .5, .5]], elements=["Fe", "Fe"],
                            springs=(1.6, 1.0), temperature=300, random_state=0)
    spec.s_qe.shape, spec.dos.shape        # (64, 128), (256,)

Units: Å, Å⁻¹, amu, eV/Å² (springs), meV, K, fm. The physics lives in
:mod:`tinyae.datasets._lattice`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tinyae.base import check_random_state
from tinyae.datasets._lattice import (
    DEFAULT_ELEMENTS, ENERGY_CONVERSION, FEATURE_NAMES, HBAR2_AMU_MEV, KB_MEV_PER_K, PROTOTYPES,
    CentralSpringModel, Crystal, _count, _number, _pair, bose_factor, bose_occupation, broaden, bz_grid,
    check_modes, element_properties, mean_square_displacement, random_crystal, reduce_to_zone, sphere_directions,
)

__all__ = [
    "Spectrum", "crystal_spectrum", "phonon_dispersion", "Crystal", "random_crystal", "check_modes",
    "SpectraDataset", "generate_spectra", "PeakSpectra", "peak_spectra",
    "CentralSpringModel", "bose_factor", "bose_occupation", "mean_square_displacement", "element_properties",
    "ENERGY_CONVERSION", "HBAR2_AMU_MEV", "KB_MEV_PER_K", "DEFAULT_ELEMENTS", "PROTOTYPES", "FEATURE_NAMES",
]

_GENERATOR_VERSION = "spectra-1"  # part of the cache key: bump when the physics changes


# -- argument checks ---------------------------------------------------------------
def _edges(bins: Any, span: Any, name: str, range_name: str) -> np.ndarray:
    """Bin edges from a bin count and a (low, high) range, or given edges."""
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        lo, hi = _pair(span, range_name)
        return np.linspace(lo, hi, _count(bins, name) + 1)
    edges = np.asarray(bins, dtype=float) if isinstance(bins, (list, tuple, np.ndarray)) else None
    if edges is None or edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) \
            or not np.all(np.diff(edges) > 0):
        raise ValueError(f"{name}: expected a bin count or increasing bin edges, got {bins!r}")
    return edges


def _resolution(resolution: Any) -> tuple[float, float]:
    if not isinstance(resolution, (tuple, list)) or len(resolution) != 2:
        raise TypeError(f"resolution: expected (sigma0 meV, c), got {resolution!r}")
    return _number(resolution[0], "resolution[0] (sigma0)", 0.0), _number(resolution[1], "resolution[1] (c)", 0.0)


# -- one crystal -------------------------------------------------------------------
@dataclass
class Spectrum:
    """The computed spectra of one crystal.

    Attributes
    ----------
    s_qe : ndarray, shape (n_q_bins, n_e_bins), or None
        Powder-averaged coherent one-phonon S(|Q|, E), fm² meV⁻¹ per unit cell.
    dos : ndarray, shape (n_dos_bins,)
        Neutron-weighted DOS, meV⁻¹, normalised to integrate to 3N.
    q_centers, e_centers, dos_e_centers : ndarray
        Bin centres: Å⁻¹, meV, meV.
    params : dict
        Crystal, model and metadata (see :func:`crystal_spectrum`).
    dos_total : ndarray, shape (n_dos_bins,)
        Plain phonon DOS g(E), meV⁻¹; integrates to 3N.
    partial_dos : ndarray, shape (N, n_dos_bins)
        g_κ(E) = ⟨Σ_ν |e_κν|² δ(E − E_ν)⟩; each integrates to 3.
    """

    s_qe: np.ndarray | None
    dos: np.ndarray
    q_centers: np.ndarray
    e_centers: np.ndarray
    dos_e_centers: np.ndarray
    params: dict
    dos_total: np.ndarray = field(repr=False, default=None)
    partial_dos: np.ndarray = field(repr=False, default=None)


def _species(n_sites: int, elements: Any, masses: Any, scattering_lengths: Any) -> tuple[list, np.ndarray, np.ndarray]:
    names: list = [None] * n_sites
    m = b = None
    if elements is not None:
        m, b = element_properties(elements)
        if len(m) != n_sites:
            raise ValueError(f"elements: expected {n_sites} symbols (one per site), got {len(m)}")
        names = [str(e) for e in elements]
    if masses is not None:  # explicit values win over the element's (e.g. an isotope)
        m = np.asarray(masses, dtype=float)
    if scattering_lengths is not None:
        b = np.asarray(scattering_lengths, dtype=float)
    if m is None or b is None:
        raise ValueError("elements: expected element symbols, or both masses (amu) and scattering_lengths (fm); "
                         f"got masses={masses!r}, scattering_lengths={scattering_lengths!r}")
    if b.shape != (n_sites,) or not np.all(np.isfinite(b)):
        raise ValueError(f"scattering_lengths: expected {n_sites} finite values (fm), got {b.tolist()}")
    return names, m, b


def crystal_spectrum(lattice_constant: float, sites: Any, elements: Sequence[str] | None = None,
                     masses: Any = None, scattering_lengths: Any = None, springs: Any = (2.0, 0.5),
                     temperature: float = 10.0, q_bins: Any = 64, e_bins: Any = 128,
                     q_range: tuple = (0.2, 8.0), e_range: tuple = (0.0, 100.0), dos_bins: Any = 256,
                     dos_range: tuple | None = None, n_q_points: int = 48, dos_grid: int = 12,
                     resolution: tuple = (0.6, 0.012), random_state: Any = None, n_shells: int | None = None,
                     include_map: bool = True, shell_tol: float = 1e-3) -> Spectrum:
    """Powder INS spectrum S(|Q|, E) and neutron-weighted DOS of one cubic crystal.

    Parameters
    ----------
    lattice_constant : float
        Cubic lattice constant a, Å.
    sites : array_like, shape (N, 3)
        Fractional coordinates of the basis atoms.
    elements : sequence of N str, optional
        Element symbols; masses and b_c come from :mod:`periodictable`.
    masses, scattering_lengths : array_like, shape (N,), optional
        amu and fm; required when ``elements`` is None, override it otherwise.
    springs : sequence of float, default (2.0, 0.5)
        Central force constant per neighbour shell, eV/Å².
    temperature : float, default 10
        K (Bose factor and Debye–Waller factor).
    q_bins, e_bins, dos_bins : int or array_like of edges, default 64, 128, 256
    q_range, e_range : (low, high), default (0.2, 8) Å⁻¹ and (0, 100) meV
        An ``e_range`` starting below 0 adds the energy-gain side.
    dos_range : (low, high), optional
        meV; defaults to ``(max(e_range[0], 0), e_range[1])``.
    n_q_points : int, default 48
        Q vectors per |Q| bin in the powder average.
    dos_grid : int, default 12
        The DOS and ⟨u²⟩ use an n×n×n Γ-avoiding zone grid (:func:`bz_grid`);
        for even n, ⟨u²⟩ is Richardson-extrapolated from the n and n/2 grids.
    resolution : (sigma0, c), default (0.6, 0.012)
        Gaussian energy resolution σ(E) = σ0 + c|E| (meV); (0, 0) bins modes
        without broadening.
    random_state : None, int or numpy.random.Generator
        Randomness of the powder sampling only.
    n_shells : int, optional
        Use the first ``n_shells`` springs (default all).
    include_map : bool, default True
        False skips S(|Q|, E) (``s_qe`` is None).
    shell_tol : float, default 1e-3
        Distances (Å) closer than this form one shell.

    Returns
    -------
    Spectrum
        ``params`` holds the inputs plus ``shell_distances``,
        ``coordination``, ``u2`` (⟨u²⟩ per atom along one axis, Å²),
        ``max_energy`` (highest mode found, meV), ``min_energy_grid``,
        the bin edges and ``units``.

    Notes
    -----
    For each |Q| bin, ``n_q_points`` vectors Q (|Q| uniform in the bin,
    directions on a randomly rotated Fibonacci sphere) are split as
    Q = G + q with q in the first zone; all D(q) are diagonalised in one
    batched ``eigh``. The coherent one-phonon intensity per unit cell is::

        S(Q, E) = Σ_ν (ħ²/2E_ν) |F_ν(Q)|² (n(E_ν) + 1) R(E − E_ν)
        F_ν(Q) = Σ_κ (b_κ/√m_κ) exp(−½Q²⟨u²⟩_κ) (Q·e*_κν(q)) exp(iG·r_κ)

    with R the resolution Gaussian (exact bin integrals); energy gain uses
    n(E_ν) at −E_ν. (ħ²/amu meV = 4.1801 Å² makes S fm²/meV.) With the
    eigenvectors e¹ of the cell-phase convention (D(q) = Σ_R Φ e^{iq·R}),
    e*_κ e^{iG·r_κ} = e¹*_κ e^{iQ·r_κ}: the textbook
    Σ b/√m e^{−W} (Q·e_κν) e^{iQ·r_κ} up to complex conjugation of e,
    i.e. |F(Q)|² versus |F(−Q)|², which the powder average (and any
    centrosymmetric crystal) cannot tell apart. Sum rule: at fixed Q,
    ∫E S dE over both signs of E is Σ_κ b_κ² ħ²Q²/(2m_κ) e^{−2W_κ}.

    The Debye–Waller factor is isotropic, from trace/3 of each atom's
    displacement tensor; that is exact on sites of cubic symmetry (sc,
    CsCl) and an approximation elsewhere (e.g. the tetragonal 3c sites).
    Multi-phonon scattering, incoherent scattering, absorption and the
    instrument's kinematic limits on (Q, E) are not modelled.

    The DOS weights atom κ by b_κ²/m_κ (coherent b, the incoherent-
    approximation weighting), normalised to mean 1 over the cell so that
    ``dos`` integrates to 3N like ``dos_total``.
    """
    sites_arr = np.asarray(sites, dtype=float) if isinstance(sites, (list, tuple, np.ndarray)) else None
    if sites_arr is None or sites_arr.ndim != 2 or sites_arr.shape[1] != 3:
        raise ValueError(f"sites: expected an (n_atoms, 3) array of fractional coordinates, got {sites!r}")
    names, m, b = _species(len(sites_arr), elements, masses, scattering_lengths)
    springs_arr = np.atleast_1d(np.asarray(springs, dtype=float)) if not isinstance(springs, str) else None
    if springs_arr is None or springs_arr.ndim != 1:
        raise TypeError(f"springs: expected a sequence of force constants (eV/Å²), got {springs!r}")
    if n_shells is not None:
        n_shells = _count(n_shells, "n_shells")
        if n_shells > springs_arr.size:
            raise ValueError(f"n_shells: expected at most len(springs) = {springs_arr.size}, got {n_shells}")
        springs_arr = springs_arr[:n_shells]
    temperature = _number(temperature, "temperature", 0.0)
    q_edges = _edges(q_bins, q_range, "q_bins", "q_range")
    if q_edges[0] < 0:
        raise ValueError(f"q_range: expected |Q| >= 0, got edges from {q_edges[0]}")
    e_edges = _edges(e_bins, e_range, "e_bins", "e_range")
    if dos_range is None:
        dos_range = (max(e_edges[0], 0.0), e_edges[-1])
    dos_edges = _edges(dos_bins, dos_range, "dos_bins", "dos_range")
    n_q_points = _count(n_q_points, "n_q_points")
    dos_grid = _count(dos_grid, "dos_grid")
    sigma0, c_res = _resolution(resolution)
    rng = check_random_state(random_state)

    model = CentralSpringModel(lattice_constant, sites_arr, m, springs_arr, shell_tol)
    N = model.n_atoms

    # Zone grid (halved by time reversal): DOS and Debye–Waller.
    qg, wg = bz_grid(dos_grid, model.lattice_constant, half=True)
    Eg, vg, lam_g = model.modes(qg)
    amp = (np.abs(vg) ** 2).reshape(len(qg), N, 3, 3 * N).sum(2)  # |e_κν|², (n_q, N, 3N)
    u2 = mean_square_displacement(Eg, vg, m, temperature, weights=wg)
    if dos_grid % 2 == 0 and dos_grid >= 4:
        # The classical acoustic term ∝ 1/q² converges as O(1/n) on Γ-avoiding grids:
        # Richardson-extrapolate from the n and n/2 grids (1/8 more work).
        qh, wh = bz_grid(dos_grid // 2, model.lattice_constant, half=True)
        Eh, vh, _ = model.modes(qh)
        u2 = 2.0 * u2 - mean_square_displacement(Eh, vh, m, temperature, weights=wh)
    partial = np.zeros((1, N, len(dos_edges) - 1))
    wmode = (amp * (wg / wg.sum())[:, None, None]).transpose(0, 2, 1).reshape(-1, N)  # (n_q·3N, N)
    broaden(partial, np.zeros(Eg.size, dtype=np.int64), Eg.ravel().copy(), np.ascontiguousarray(wmode),
            (sigma0 + c_res * np.abs(Eg)).ravel(), dos_edges)
    partial = partial[0]
    w_atom = b ** 2 / m
    w_atom = w_atom / w_atom.mean() if w_atom.mean() > 0 else np.zeros(N)
    dos_total = partial.sum(0)
    dos = w_atom @ partial

    sym_E = model.modes(model.high_symmetry_points())[0]
    lam_min = [lam_g.min()]
    e_max = [Eg.max(), sym_E.max()]

    s_qe = None
    if include_map:
        nqb = len(q_edges) - 1
        Qmag = q_edges[:-1, None] + (q_edges[1:] - q_edges[:-1])[:, None] * rng.random((nqb, n_q_points))
        dirs = sphere_directions(n_q_points, rng, nqb)
        Q = (Qmag[..., None] * dirs).reshape(-1, 3)
        q, G = reduce_to_zone(Q, model.lattice_constant)
        E, v, lam = model.modes(q)
        lam_min.append(lam.min())
        e_max.append(E.max())
        ev = v.reshape(len(Q), N, 3, 3 * N)
        Qe = np.einsum("na,nkam->nkm", Q, ev.conj())                       # Q·e*_κν
        Q2 = np.einsum("na,na->n", Q, Q)
        coef = (b / np.sqrt(m)) * np.exp(-0.5 * Q2[:, None] * u2) * np.exp(1j * (G @ model.positions.T))
        F2 = np.abs(np.einsum("nk,nkm->nm", coef, Qe)) ** 2                # |F_ν(Q)|², fm² amu⁻¹ Å⁻²
        ok = E > 1e-6 * max(E.max(), 1e-300)  # Bragg (q = 0 acoustic) modes carry no inelastic weight
        Es = np.where(ok, E, 1.0)
        base = np.where(ok, 0.5 * HBAR2_AMU_MEV * F2, 0.0) / n_q_points
        rows = np.repeat(np.arange(nqb), n_q_points * 3 * N).astype(np.int64)
        out = np.zeros((nqb, 1, len(e_edges) - 1))
        sig = (sigma0 + c_res * Es).ravel()
        broaden(out, rows, Es.ravel().copy(), (base * bose_factor(Es, temperature)).reshape(-1, 1), sig, e_edges)
        if e_edges[0] < 0 and temperature > 0:  # energy gain: annihilation at −E_ν
            broaden(out, rows, -Es.ravel(), (base * bose_factor(-Es, temperature)).reshape(-1, 1), sig, e_edges)
        s_qe = out[:, 0]

    lam_scale = max(np.abs(lam_g).max(), 1e-300)
    if min(lam_min) < -1e-8 * lam_scale:
        raise ValueError(f"springs: the crystal is dynamically unstable (eigenvalue {min(lam_min):.3g} eV Å⁻² amu⁻¹ "
                         f"< 0: imaginary modes); got springs={springs_arr.tolist()}")
    off_gamma = Eg.min(axis=0)
    params = {
        "lattice_constant": model.lattice_constant, "sites": model.sites.copy(), "elements": names,
        "masses": m.copy(), "scattering_lengths": b.copy(), "springs": springs_arr.copy(),
        "n_shells": springs_arr.size, "shell_distances": model.shell_distances.copy(),
        "coordination": model.coordination.copy(), "temperature": temperature,
        "u2": u2, "max_energy": float(max(e_max)), "min_energy_grid": float(off_gamma[0]),
        "resolution": (sigma0, c_res), "n_q_points": n_q_points, "dos_grid": dos_grid,
        "real_dynamical_matrix": model.is_real,
        "q_edges": q_edges, "e_edges": e_edges, "dos_edges": dos_edges,
        "units": {"s_qe": "fm^2 meV^-1 per cell", "dos": "meV^-1 (integral 3N)", "u2": "A^2 (one axis)",
                  "energy": "meV", "q": "A^-1", "springs": "eV A^-2", "masses": "amu", "b": "fm"},
    }
    centers = lambda e: 0.5 * (e[1:] + e[:-1])  # noqa: E731
    return Spectrum(s_qe=s_qe, dos=dos, q_centers=centers(q_edges), e_centers=centers(e_edges),
                    dos_e_centers=centers(dos_edges), params=params, dos_total=dos_total, partial_dos=partial)


def phonon_dispersion(lattice_constant: float, sites: Any, q_points: Any, elements: Sequence[str] | None = None,
                      masses: Any = None, springs: Any = (2.0, 0.5), shell_tol: float = 1e-3) -> np.ndarray:
    """Phonon energies (meV, ascending) at Cartesian wavevectors, shape (n_q, 3N).

    ``q_points`` is (n_q, 3) in Å⁻¹ (e.g. ``[[x, 0, 0] for x in ...]`` for
    [100]). Imaginary modes come out negative. For the eigenvectors use
    :class:`CentralSpringModel` directly.
    """
    sites_arr = np.asarray(sites, dtype=float)
    if masses is None:
        if elements is None:
            raise ValueError("elements: expected element symbols or masses (amu), got neither")
        masses = element_properties(elements)[0]
    model = CentralSpringModel(lattice_constant, sites_arr, masses, springs, shell_tol)
    return model.modes(np.atleast_2d(np.asarray(q_points, dtype=float)))[0]


# -- data sets ---------------------------------------------------------------------
@dataclass
class SpectraDataset:
    """Spectra of random crystals with their structure features.

    Attributes
    ----------
    X_2d : ndarray, shape (n, n_q, n_e), or None
        S(|Q|, E) maps (None for ``kind="1d"``).
    X_1d : ndarray, shape (n, n_dos), or None
        Neutron-weighted DOS (None for ``kind="2d"``).
    params : ndarray, shape (n, len(param_names))
        Crystal features (:data:`FEATURE_NAMES`).
    param_names : list of str
    q_centers, e_centers, dos_e_centers : ndarray
    scale_2d, scale_1d : ndarray, shape (n,)
        What each spectrum was divided by (1 without normalisation).
    elements : list of tuple of str
    cache_path : Path or None
    """

    X_2d: np.ndarray | None
    X_1d: np.ndarray | None
    params: np.ndarray
    param_names: list
    q_centers: np.ndarray
    e_centers: np.ndarray
    dos_e_centers: np.ndarray
    scale_2d: np.ndarray
    scale_1d: np.ndarray
    elements: list
    cache_path: Path | None = None


def _one_sample(seed: np.random.SeedSequence, cfg: dict) -> tuple:
    rng = np.random.default_rng(seed)
    crystal = random_crystal(rng, **cfg["crystal"])
    spec = crystal_spectrum(**crystal.kwargs(), **cfg["spectrum"], random_state=rng,
                            include_map=cfg["kind"] != "1d")
    dtype = np.dtype(cfg["dtype"])
    out = []
    for arr, want in ((spec.s_qe, cfg["kind"] != "1d"), (spec.dos, cfg["kind"] != "2d")):
        if not want:
            out += [None, 1.0]
            continue
        scale = float(arr.max()) if cfg["normalize"] == "max" and arr.max() > 0 else 1.0
        out += [(arr / scale).astype(dtype), scale]
    return (*out, crystal.features(), crystal.elements)


def _single_threaded_blas() -> Any:
    """Limit BLAS to one thread where threadpoolctl is installed (a no-op otherwise).

    The matrices here are tiny: BLAS threads only spin, and with one worker
    process per core they oversubscribe the machine (measured: 1.5x the CPU
    time per spectrum). Scoped, so the caller's settings come back afterwards.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _run_chunk(indices: list, seeds: list, cfg: dict) -> list:
    with _single_threaded_blas():
        return [(i, _one_sample(s, cfg)) for i, s in zip(indices, seeds)]


def _cache_key(cfg: dict, n_samples: int, random_state: int) -> str:
    blob = json.dumps({"v": _GENERATOR_VERSION, "n": n_samples, "seed": random_state, **cfg},
                      sort_keys=True, default=lambda o: np.asarray(o).tolist())
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _load_cache(path: Path, mmap_threshold: int) -> SpectraDataset | None:
    meta_file = path / "meta.json"
    if not meta_file.exists():
        return None
    meta = json.loads(meta_file.read_text())

    def load(name):
        f = path / f"{name}.npy"
        if not f.exists():
            return None
        return np.load(f, mmap_mode="r" if f.stat().st_size > mmap_threshold else None)

    return SpectraDataset(load("X_2d"), load("X_1d"), load("params"), meta["param_names"],
                          np.array(meta["q_centers"]), np.array(meta["e_centers"]), np.array(meta["dos_e_centers"]),
                          load("scale_2d"), load("scale_1d"), [tuple(e) for e in meta["elements"]], path)


def _save_cache(ds: SpectraDataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))  # write aside, then rename: no torn caches
    try:
        for name in ("X_2d", "X_1d", "params", "scale_2d", "scale_1d"):
            if getattr(ds, name) is not None:
                np.save(tmp / f"{name}.npy", getattr(ds, name))
        meta = {"param_names": ds.param_names, "q_centers": ds.q_centers.tolist(), "e_centers": ds.e_centers.tolist(),
                "dos_e_centers": ds.dos_e_centers.tolist(), "elements": [list(e) for e in ds.elements]}
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.replace(tmp, path)
    except OSError:
        if not (path / "meta.json").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # a concurrent writer won the race: keep theirs


def generate_spectra(n_samples: int, random_state: int | None = 0, kind: str = "2d", q_bins: Any = 64,
                     e_bins: Any = 128, q_range: tuple = (0.2, 8.0), e_range: tuple = (0.0, 100.0),
                     dos_bins: Any = 256, n_q_points: int = 32, dos_grid: int = 10,
                     resolution: tuple = (0.6, 0.012), max_energy_range: tuple = (40.0, 95.0),
                     temperature_range: tuple = (5.0, 300.0), lattice_range: tuple = (3.0, 5.5),
                     elements: Sequence[str] = DEFAULT_ELEMENTS, normalize: str | None = "max",
                     dtype: Any = np.float32, n_jobs: int = 2, cache_dir: str | os.PathLike | None = None,
                     progress: bool = True, mmap_threshold: int = 100 * 2 ** 20) -> SpectraDataset:
    """INS spectra of random Born–von Kármán crystals, with their structure features.

    Parameters
    ----------
    n_samples : int
    random_state : int or None, default 0
        Sample i uses the i-th child of ``SeedSequence(random_state)``, so the
        data do not depend on ``n_jobs``. None: fresh entropy, never cached.
    kind : {"2d", "1d", "both"}, default "2d"
        S(|Q|, E) maps, neutron-weighted DOS, or both.
    q_bins, e_bins, q_range, e_range, dos_bins, n_q_points, dos_grid, resolution
        As in :func:`crystal_spectrum` (fewer powder points and a coarser
        grid by default, for speed).
    max_energy_range, temperature_range, lattice_range, elements
        As in :func:`random_crystal`.
    normalize : {"max", None}, default "max"
        Divide each spectrum by its maximum (``scale_2d``/``scale_1d`` keep it).
    dtype : default float32
    n_jobs : int, default 2
        Worker processes (1: in this process; -1: all cores).
    cache_dir : path, optional
        Store the result as .npy files under ``cache_dir/spectra-<hash of all
        arguments>/`` and reuse them; files over ``mmap_threshold`` bytes are
        loaded with ``mmap_mode="r"``.
    progress : bool, default True
        tqdm bar on stderr (only when it is a terminal).

    Returns
    -------
    SpectraDataset
    """
    n_samples = _count(n_samples, "n_samples")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))
                                     or random_state < 0):
        raise ValueError(f"random_state: expected a non-negative int or None, got {random_state!r}")
    if kind not in ("2d", "1d", "both"):
        raise ValueError(f"kind: expected '2d', '1d' or 'both', got {kind!r}")
    if normalize not in ("max", None):
        raise ValueError(f"normalize: expected 'max' or None, got {normalize!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or not (n_jobs >= 1 or n_jobs == -1):
        raise ValueError(f"n_jobs: expected a positive int or -1, got {n_jobs!r}")
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64 (spectra are real intensities), got {dtype}")
    cfg = {
        "kind": kind, "normalize": normalize, "dtype": np.dtype(dtype).str,
        "crystal": {"max_energy_range": tuple(max_energy_range), "temperature_range": tuple(temperature_range),
                    "lattice_range": tuple(lattice_range), "elements": tuple(elements)},
        "spectrum": {"q_bins": q_bins, "e_bins": e_bins, "q_range": tuple(q_range), "e_range": tuple(e_range),
                     "dos_bins": dos_bins, "n_q_points": n_q_points, "dos_grid": dos_grid,
                     "resolution": tuple(resolution)},
    }
    # Validate everything here (one cheap call) rather than in the workers.
    _count(n_q_points, "n_q_points")
    _count(dos_grid, "dos_grid")
    probe = crystal_spectrum(3.0, [[0, 0, 0]], masses=[1.0], scattering_lengths=[1.0], springs=(1.0, 0.5),
                             **{**cfg["spectrum"], "n_q_points": 1, "dos_grid": 1}, include_map=False)
    random_crystal(np.random.default_rng(0), **cfg["crystal"])

    path = None
    if cache_dir is not None and random_state is not None:
        path = Path(cache_dir) / f"spectra-{_cache_key(cfg, n_samples, int(random_state))}"
        cached = _load_cache(path, mmap_threshold)
        if cached is not None:
            return cached

    seeds = np.random.SeedSequence(random_state).spawn(n_samples)
    results: list = [None] * n_samples
    from tqdm import tqdm

    bar = tqdm(total=n_samples, desc="spectra", unit="sample",
               disable=not progress or not getattr(sys.stderr, "isatty", lambda: False)())
    try:
        if n_jobs == 1 or n_samples == 1:
            with _single_threaded_blas():
                for i, s in enumerate(seeds):
                    results[i] = _one_sample(s, cfg)
                    bar.update(1)
        else:
            import multiprocessing as mp

            # fork on Linux: workers inherit the imports and compiled kernels (no re-import,
            # no __main__ guard needed); spawn elsewhere, where fork is unsafe.
            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            chunk = max(1, min(16, n_samples // (4 * n_jobs)))
            with ProcessPoolExecutor(max_workers=min(n_jobs, n_samples), mp_context=ctx) as pool:
                futures = [pool.submit(_run_chunk, list(range(i, min(i + chunk, n_samples))),
                                       seeds[i:i + chunk], cfg) for i in range(0, n_samples, chunk)]
                for fut in as_completed(futures):
                    for i, r in fut.result():
                        results[i] = r
                    bar.update(len(fut.result()))
    finally:
        bar.close()

    x2, s2, x1, s1, feats, els = zip(*results)
    ds = SpectraDataset(
        X_2d=np.stack(x2) if kind != "1d" else None, X_1d=np.stack(x1) if kind != "2d" else None,
        params=np.stack(feats), param_names=list(FEATURE_NAMES), q_centers=probe.q_centers,
        e_centers=probe.e_centers, dos_e_centers=probe.dos_e_centers,
        scale_2d=np.array(s2), scale_1d=np.array(s1), elements=list(els))
    if path is not None:
        _save_cache(ds, path)
        ds.cache_path = path
    return ds


# -- peak mixtures -----------------------------------------------------------------
@dataclass
class PeakSpectra:
    """1-D peak-mixture spectra: ``X`` (n, n_bins), ``params`` (n, len(param_names)), axis ``e_centers`` (meV)."""

    X: np.ndarray
    params: np.ndarray
    param_names: list
    e_centers: np.ndarray


def peak_spectra(n_samples: int, n_bins: int = 256, random_state: Any = None, e_range: tuple = (0.0, 100.0),
                 max_peaks: int = 6, resolution: tuple = (0.6, 0.012), noise: float = 0.0) -> PeakSpectra:
    """Fast VISION-like 1-D spectra: a few peaks on a Debye-like band and a smooth background.

    Parameters
    ----------
    n_samples : int
    n_bins : int, default 256
    random_state : None, int or numpy.random.Generator
    e_range : (low, high), default (0, 100) meV
        ``low`` must be 0 or more; energies are measured from it.
    max_peaks : int, default 6
        Each spectrum has 1..max_peaks peaks.
    resolution : (sigma0, c), default (0.6, 0.012)
        Smallest Gaussian width σ(E) = σ0 + cE of a peak (meV).
    noise : float, default 0
        Gaussian noise, relative to each spectrum's maximum.

    Returns
    -------
    PeakSpectra
        ``params``: n_peaks, then per peak (sorted by centre; zero-padded)
        center (meV), sigma (meV), amplitude, eta (Lorentzian fraction), then
        rise_energy, debye_amplitude, debye_cutoff (meV),
        background_amplitude, background_energy (meV).

    Notes
    -----
    With ε = E − low::

        I = w(ε) Σ_p A_p ((1−η_p) G_p + η_p L_p) + A_D D(ε) + B h(ε)
        w(ε) = 1 − exp(−(ε/ε_w)²)                       (∝ ε² below ε_w)
        D(ε) = min(ε/ε_D, 1)² exp(−max(ε − ε_D, 0)/5 meV)  (acoustic band)
        h(ε) = (ε/2τ)² exp(2 − ε/τ)                      (hump of height B at 2τ)

    G_p and L_p are a unit-height Gaussian (σ_p) and Lorentzian of the same
    FWHM; w removes the peaks' (Lorentzian) tails at ε → 0. Every term
    rises ∝ ε² at low energy, like the one-phonon
    intensity of a crystal (Debye DOS, and Q² ∝ E on an indirect-geometry
    instrument such as VISION).
    """
    n_samples = _count(n_samples, "n_samples")
    n_bins = _count(n_bins, "n_bins", 2)
    max_peaks = _count(max_peaks, "max_peaks")
    lo, hi = _pair(e_range, "e_range", 0.0)
    sigma0, c_res = _resolution(resolution)
    noise = _number(noise, "noise", 0.0)
    if hi - lo > 1e6 or noise > 1e6:
        raise ValueError(f"e_range, noise: expected an energy span and relative noise up to 1e6, "
                         f"got span {hi - lo:g} meV and noise {noise:g}")
    rng = check_random_state(random_state)
    edges = np.linspace(lo, hi, n_bins + 1)
    E = 0.5 * (edges[1:] + edges[:-1])
    eps = E - lo
    span = hi - lo
    X = np.zeros((n_samples, n_bins))
    P = np.zeros((n_samples, 1 + 4 * max_peaks + 5))
    for i in range(n_samples):
        k = int(rng.integers(1, max_peaks + 1))
        c = np.sort(rng.uniform(lo + 0.05 * span, hi - 0.05 * span, k))
        s = (sigma0 + c_res * c) * rng.uniform(1.0, 3.0, k)
        amp = rng.uniform(0.2, 1.0, k)
        eta = rng.uniform(0.0, 1.0, k)
        d = E[None, :] - c[:, None]
        gauss = np.exp(-0.5 * (d / s[:, None]) ** 2)
        lor = 1.0 / (1.0 + (d / (s[:, None] * math.sqrt(2 * math.log(2)))) ** 2)
        e_w = rng.uniform(0.02, 0.08) * span
        a_d, e_d = rng.uniform(0.05, 0.5), rng.uniform(0.1, 0.4) * span
        band = np.minimum(eps / e_d, 1.0) ** 2 * np.exp(-np.maximum(eps - e_d, 0.0) / 5.0)
        x = (1 - np.exp(-(eps / e_w) ** 2)) * (amp[:, None] * ((1 - eta[:, None]) * gauss + eta[:, None] * lor)).sum(0)
        x += a_d * band
        b_amp, tau = rng.uniform(0.0, 0.2), rng.uniform(0.1, 0.5) * span
        x += b_amp * (eps / (2 * tau)) ** 2 * np.exp(2 - eps / tau)
        if noise > 0:
            x = x + noise * x.max() * rng.standard_normal(n_bins)
        X[i] = x
        peaks = np.zeros((max_peaks, 4))
        peaks[:k] = np.stack([c, s, amp, eta], 1)
        P[i] = np.concatenate([[k], peaks.ravel(), [e_w, a_d, e_d, b_amp, tau]])
    names = (["n_peaks"] + [f"{f}_{j}" for j in range(max_peaks) for f in ("center", "sigma", "amplitude", "eta")]
             + ["rise_energy", "debye_amplitude", "debye_cutoff", "background_amplitude", "background_energy"])
    return PeakSpectra(X, P, names, E)
