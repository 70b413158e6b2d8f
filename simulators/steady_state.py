"""Steady state of the two qubits, exact and in the limits of physics.md.

``steady_state(p)`` returns the 4x4 reduced density matrix of the qubits (basis ``|gg>, |ge>,
|eg>, |ee>``) after tracing out the filter mode.

* ``method="exact"``: the full master equation, solved in its excitation-diagonal sector as the
  block-tridiagonal system it is (:mod:`.liouvillian_blocks`), by block cyclic reduction: each
  level eliminates every other block in one batched step, so the work is a few batched numpy
  calls per level (log2 of the cutoff levels), not per block. Time and memory are linear in the
  Fock cutoff.
  **Truncation bound:** the filter Fock space is cut at the smallest ``M`` whose thermal tail weight
  ``(n_c / (n_c + 1))**(M + 1)`` is at most ``tol`` (default ``1e-8``); since the filter marginal is
  exactly thermal, the neglected probability is at most ``tol`` and the qubit state moves by that
  order (checked in the tests by doubling the cutoff). That bounds truncation only: float64
  rounding adds 1e-14 to 1e-11 in ordinary cases and up to ~1e-6 at extreme rate ratios
  (docs/design.md).
* ``method="adiabatic"``: ``kappa -> 0`` at fixed ``kappa_out * n_c``: the phase average, over a
  thermal field ``|alpha|^2 = n_c u`` with ``u ~ Exp(1)``, of the qubits' steady state under the
  coherent drive ``sqrt(kappa_out) alpha`` (for the symmetric resonant link this is physics.md's
  closed form ``|gg><gg| + s u |S><S|``).
* ``method="markov"``: ``kappa >> gamma``: each qubit thermalises to the filtered noise it sees,
  occupation ``kappa_in kappa_out N_h / (kappa^2/4 + delta_j^2)`` (times ``transmission`` for qubit
  2); the qubits are uncorrelated. Defined for ``gamma_local = 0`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from .blas_threads import single_threaded_blas
from .liouvillian_blocks import (
    EXCITATIONS,
    REAL_PARAMS,
    present_params,
    sector_blocks,
)
from .lab_units import LabLink
from .link_parameters import LinkParameters

DEFAULT_TOL = 1e-8
MIN_CUTOFF = 4
#: Largest cutoff solved (the reduction keeps ~2 KB per block, 4 KB with detunings: 1e6 blocks ~ 2-4 GB).
MAX_CUTOFF = 1_000_000
#: Blocks reduced together (~5 MB working set, so every level runs in cache; 1024 to 16384 were
#: measured, 2048 was fastest).
_RUN = 2048
#: Above this many blocks, BLAS/LAPACK are held to one thread for the solve (see .blas_threads).
_SINGLE_THREAD_ABOVE = 500
_RE_GE_EG = REAL_PARAMS.index(("re", 1, 2))
_REAL_SYMMETRIC = np.array([i for i, (kind, _, _) in enumerate(REAL_PARAMS) if kind != "im"])
_IM_GE_EG = REAL_PARAMS.index(("im", 1, 2))

METHODS = ("exact", "adiabatic", "markov")


def fock_cutoff(p: LinkParameters, tol: float = DEFAULT_TOL) -> int:
    """Largest filter photon number kept: thermal tail weight beyond it is at most ``tol``."""
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol={tol!r} is outside the allowed range (0, 1)")
    n_c = p.n_filter
    if n_c == 0.0:
        return MIN_CUTOFF
    cutoff = math.ceil(math.log(tol) / math.log(n_c / (n_c + 1.0))) - 1
    return max(cutoff, MIN_CUTOFF)


@dataclass(frozen=True)
class ExactSteadyState:
    """Result of the exact solver: qubit state and what the truncation left out."""

    rho: np.ndarray  # 4x4, basis gg, ge, eg, ee
    cutoff: int  # largest filter photon number kept
    tail_bound: float  # thermal weight of the filter beyond the cutoff
    filter_distribution: np.ndarray  # P(m) for m = 0..cutoff, as solved


def solve_exact(p: LinkParameters, tol: float = DEFAULT_TOL, cutoff: int | None = None) -> ExactSteadyState:
    """Exact steady state by block cyclic reduction over the excitation blocks."""
    if cutoff is None:
        cutoff = fock_cutoff(p, tol)
    elif int(cutoff) != cutoff or cutoff < 0:
        raise ValueError(f"cutoff={cutoff!r} is outside the allowed range: integers >= 0")
    if cutoff > MAX_CUTOFF:
        raise ValueError(
            f"the filter occupation n_c={p.n_filter:.4g} needs a Fock cutoff of {cutoff} (allowed range: up to "
            f"{MAX_CUTOFF}, about n_c <= {MAX_CUTOFF / 18.4:.0f} at tol=1e-8): use method='adiabatic' there"
        )
    cutoff = int(cutoff)
    top = cutoff + 2
    if top > _SINGLE_THREAD_ABOVE:
        with single_threaded_blas():
            return _cyclic_reduction(p, cutoff)
    return _cyclic_reduction(p, cutoff)


def _solved_parameters(p: LinkParameters) -> np.ndarray:
    """Real block parameters the recursion carries.

    Without detunings the Hamiltonian is imaginary and every jump operator real, so real-symmetric
    blocks never mix with imaginary-antisymmetric ones and the steady state has no imaginary part:
    the 10 diagonal and real-part parameters suffice. Otherwise all 16.
    """
    if p.delta1 == 0.0 and p.delta2 == 0.0:
        return _REAL_SYMMETRIC
    return np.arange(16)


def _reduce(diag: np.ndarray, up: np.ndarray, down: np.ndarray):
    """Cyclic reduction of one run of blocks down to its first block.

    Equations ``R_N x_{N-1} + D_N x_N + U_N x_{N+1} = 0`` for the run; the last block's ``U`` and
    the first block's ``R`` are never used (the caller closes both ends). Each level eliminates the
    odd-numbered blocks at once, ``x_odd = -P x_{odd-1} - Q x_{odd+1}`` with ``P = D^-1 R`` and
    ``Q = D^-1 U``, leaving a block-tridiagonal system of half the size for the even ones. Returns
    the levels ``(n, P, Q)`` and the first block's reduced diagonal block.
    """
    levels = []
    while len(diag) > 1:
        n = len(diag)
        inverse = np.linalg.inv(diag[1::2])
        below, above = inverse @ down[1::2], inverse @ up[1::2]
        del inverse
        levels.append((n, below, above))
        linked = (n + 1) // 2 - 1  # even blocks with an odd block and another even block above
        next_diag = diag[0::2].copy()
        next_diag[1:] -= down[2::2] @ above[:linked]
        next_diag[: len(below)] -= up[0::2][: len(below)] @ below
        next_down = np.zeros_like(next_diag)
        next_down[1:] = -(down[2::2] @ below[:linked])
        next_up = np.zeros_like(next_diag)
        next_up[:linked] = -(up[0::2][:linked] @ above[:linked])
        diag, up, down = next_diag, next_up, next_down
    return levels, diag[0]


def _substitute(levels, first: np.ndarray) -> np.ndarray:
    """All blocks of a reduced run from its first block, level by level back up."""
    x = first[None]
    for n, below, above in reversed(levels):
        odd = -(below @ x[: len(below), :, None])[..., 0]
        linked = len(x) - 1
        odd[:linked] -= (above[:linked] @ x[1:, :, None])[..., 0]
        solution = np.empty((n, x.shape[1]))
        solution[0::2], solution[1::2] = x, odd
        x = solution
    return x


def _cyclic_reduction(p: LinkParameters, cutoff: int) -> ExactSteadyState:
    top = cutoff + 2
    solved = _solved_parameters(p)
    size = len(solved)
    # Blocks 0..top in runs of _RUN, from the top down (so the working set stays in cache and
    # only the reduction levels are kept). A reduced run closes into x_lo = -T_lo x_{lo-1}, which
    # folds into the top block of the run below as D -> D - U T.
    runs = []
    closing = None
    for hi in range(top + 1, 0, -_RUN):
        lo = max(0, hi - _RUN)
        diag, up, down = sector_blocks(p, np.arange(lo, hi), cutoff, params=solved)
        if closing is not None:
            diag[-1] -= up[-1] @ closing
        levels, first = _reduce(diag, up, down)
        closing = np.linalg.solve(first, down[0]) if lo > 0 else None
        runs.append((lo, hi, levels, closing))
    # Block 0 holds only |0, gg> (parameter 0): fix its weight to 1, substitute back up, normalise.
    x = np.zeros((top + 1, size))
    below = np.zeros(size)
    below[0] = 1.0  # x_0 itself for the bottom run
    for lo, hi, levels, closing in reversed(runs):
        first = below if lo == 0 else -(closing @ below)
        x[lo:hi] = _substitute(levels, first)
        below = x[hi - 1]
    if not np.isfinite(x).all():
        raise np.linalg.LinAlgError(f"the block recursion broke down for {p}")
    states = np.zeros((top + 1, 16))
    states[:, solved] = x
    populations = states[:, :4]
    coherence = states[:, _RE_GE_EG] + 1j * states[:, _IM_GE_EG]
    norm = populations.sum()
    rho = np.zeros((4, 4), dtype=complex)
    rho[np.arange(4), np.arange(4)] = populations.sum(axis=0) / norm
    rho[1, 2] = coherence.sum() / norm
    rho[2, 1] = np.conj(rho[1, 2])
    photons = np.arange(top + 1)[:, None] - EXCITATIONS[None, :]
    valid = (photons >= 0) & (photons <= cutoff)
    distribution = np.bincount(photons[valid], weights=populations[valid] / norm, minlength=cutoff + 1)
    n_c = p.n_filter
    tail = (n_c / (n_c + 1.0)) ** (cutoff + 1)
    return ExactSteadyState(rho=rho, cutoff=cutoff, tail_bound=tail, filter_distribution=distribution)


# --- limits -----------------------------------------------------------------------------------

def _driven_liouvillian(p: LinkParameters, alpha: np.ndarray) -> np.ndarray:
    """Qubit Liouvillians (row-major vec) with the filter replaced by real amplitudes ``alpha``."""
    g = np.array([[0, 1], [0, 0]], dtype=complex)  # |g><e| in basis (g, e)
    eye2 = np.eye(2)
    s1, s2 = np.kron(g, eye2), np.kron(eye2, g)
    eye = np.eye(4)
    n1, n2 = s1.T @ s1, s2.T @ s2
    sz1, sz2 = 2 * n1 - eye, 2 * n2 - eye
    eta, ko = p.transmission, p.kappa_out
    a1, a2 = np.sqrt(p.gamma1) * s1, np.sqrt(p.gamma2) * s2
    alpha = np.asarray(alpha, dtype=float)[:, None, None]
    a0 = np.sqrt(ko) * alpha * eye  # (n, 4, 4)
    field = a0 + a1
    dag = lambda op: np.conj(np.swapaxes(op, -1, -2))  # noqa: E731
    h = p.delta1 * n1 + p.delta2 * n2 + 0.5j * (dag(a0) @ a1 - a1.T @ a0)
    h = h + 0.5j * np.sqrt(eta) * (dag(field) @ a2 - a2.T @ field)
    jumps = [np.sqrt(eta) * field + a2, np.sqrt(1 - eta) * field]
    rate_down, rate_up = p.gamma_local * (p.n_qubit + 1), p.gamma_local * p.n_qubit
    jumps += [np.broadcast_to(np.sqrt(rate_down) * op, field.shape) for op in (s1, s2)]
    jumps += [np.broadcast_to(np.sqrt(rate_up) * op.T, field.shape) for op in (s1, s2)]
    jumps += [np.broadcast_to(np.sqrt(p.gamma_phi / 2) * op, field.shape) for op in (sz1, sz2)]
    kron = lambda a, b: np.einsum("nij,nkl->nikjl", a, b).reshape(a.shape[0], 16, 16)  # noqa: E731
    ident = np.broadcast_to(eye, field.shape)
    no_jump = -1j * h - 0.5 * sum(dag(j) @ j for j in jumps)
    out = kron(no_jump, ident) + kron(ident, np.conj(no_jump))
    for j in jumps:
        out = out + kron(j, np.conj(j))
    return out


def driven_steady_state(p: LinkParameters, alpha) -> np.ndarray:
    """Qubit steady states ``(n, 4, 4)`` under a coherent filter amplitude ``alpha`` (real, n values)."""
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    lindblad = _driven_liouvillian(p, alpha)
    lindblad[:, 0, :] = np.eye(4).reshape(16)  # replace one equation by the trace
    rhs = np.zeros((len(alpha), 16), dtype=complex)
    rhs[:, 0] = 1.0
    vec = np.linalg.solve(lindblad, rhs[..., None])[..., 0]
    rho = vec.reshape(-1, 4, 4)
    return (rho + np.conj(np.swapaxes(rho, -1, -2))) / 2


_EXCITATION_DIAGONAL = EXCITATIONS[:, None] == EXCITATIONS[None, :]


def adiabatic_steady_state(p: LinkParameters) -> np.ndarray:
    """Phase average of the coherently driven steady state over a thermal filter field."""
    n_c = p.n_filter
    if n_c == 0.0:
        return driven_steady_state(p, [0.0])[0]

    def integrand(u: float) -> np.ndarray:
        return np.exp(-u) * driven_steady_state(p, [math.sqrt(n_c * u)])[0].reshape(16)

    # The integrand varies on the scale where the drive saturates the qubits, which can be far
    # below u = 1 for a strong source: split the range at every decade.
    edges = [0.0, *np.logspace(-6, 1, 8), 50.0, math.inf]
    total = np.zeros(16, dtype=complex)
    for a, b in zip(edges[:-1], edges[1:]):
        value, _ = scipy.integrate.quad_vec(integrand, a, b, epsabs=1e-14, epsrel=1e-12)
        total += value
    rho = total.reshape(4, 4) * _EXCITATION_DIAGONAL
    return rho / np.trace(rho).real


def filtered_noise_occupation(p: LinkParameters, detuning: float) -> float:
    """Thermal photon flux per unit bandwidth of the filter output at ``detuning`` from its centre."""
    return p.kappa_in * p.kappa_out * p.n_source / (p.kappa**2 / 4 + detuning**2)


def markov_steady_state(p: LinkParameters) -> np.ndarray:
    """Broadband limit: product of the qubits' thermal states (no correlations).

    Stated for the waveguide-only link (``gamma_local = 0``): with a local bath, qubit 1 re-emits
    light that is no longer at the waveguide's temperature and the qubits become correlated, so
    this limit is refused there (use the exact solver at large ``kappa``).
    """
    if p.gamma_local != 0.0:
        raise ValueError(
            f"method='markov' needs gamma_local=0 (allowed range [0, 0]), got gamma_local={p.gamma_local}"
        )
    occupations = (
        filtered_noise_occupation(p, p.delta1),
        p.transmission * filtered_noise_occupation(p, p.delta2),
    )
    single = []
    for n in occupations:
        excited = n / (2 * n + 1)
        single.append(np.diag([1 - excited, excited]))
    return np.kron(single[0], single[1]).astype(complex)


def steady_state(
    p: LinkParameters, method: str = "exact", tol: float = DEFAULT_TOL, cutoff: int | None = None
) -> np.ndarray:
    """Qubit steady state, 4x4 complex, basis ``|gg>, |ge>, |eg>, |ee>``.

    ``tol`` (exact only): thermal tail weight of the filter left out by the Fock cutoff; or give
    ``cutoff`` (largest photon number kept) directly.
    """
    if method == "exact":
        return solve_exact(p, tol=tol, cutoff=cutoff).rho
    if method == "adiabatic":
        return adiabatic_steady_state(p)
    if method == "markov":
        return markov_steady_state(p)
    raise ValueError(f"method={method!r} is not one of {METHODS}")


@lru_cache(maxsize=512)
def twin_state(link: LabLink, method: str = "exact") -> np.ndarray:
    """Steady state (read-only 4x4) of a lab operating point, cached: the virtual readout and the
    analysis of the same point share one solve, and sweeps revisit operating points."""
    rho = steady_state(link.to_parameters(), method=method)
    rho.setflags(write=False)
    return rho


@lru_cache(maxsize=512)
def twin_relaxation_time_s(link: LabLink) -> float:
    """Time constant in s of the slowest relaxation towards the steady state at a lab operating
    point (``1 / relaxation_rate`` in lab time), cached like :func:`twin_state`."""
    return link.seconds(relaxation_rate(link.to_parameters()))


# --- relaxation -------------------------------------------------------------------------------

def sector_generator(p: LinkParameters, cutoff: int) -> scipy.sparse.csr_matrix:
    """The excitation-diagonal sector of the Liouvillian as a sparse real matrix.

    Unknowns are the real parameters of every block that refer to existing states, block by block.
    """
    top = cutoff + 2
    blocks = np.arange(top + 1)
    diag, up, down = sector_blocks(p, blocks, cutoff)
    keep = present_params(blocks, cutoff)
    index = np.full(keep.shape, -1)
    index[keep] = np.arange(keep.sum())
    rows, cols, vals = [], [], []
    for offset, mats in ((0, diag), (1, up), (-1, down)):
        n = np.arange(max(0, -offset), min(top + 1, top + 1 - offset))  # blocks whose partner exists
        block = mats[n]
        mask = keep[n][:, :, None] & keep[n + offset][:, None, :] & (block != 0)
        which, p, q = np.nonzero(mask)
        rows.append(index[n[which], p])
        cols.append(index[n[which] + offset, q])
        vals.append(block[which, p, q])
    size = int(keep.sum())
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )


def relaxation_rate(p: LinkParameters, tol: float = 1e-6) -> float:
    """Slowest decay rate towards the steady state (the Liouvillian gap, same unit as ``kappa``).

    A change of the source starts from the previous steady state, which lies in the
    excitation-diagonal sector, so the gap of that sector is the one an experiment waits for.
    """
    generator = sector_generator(p, fock_cutoff(p, tol))
    size = generator.shape[0]
    if size <= 400:
        eigenvalues = scipy.linalg.eigvals(generator.toarray())
    else:
        scale = min(p.kappa, p.gamma1 + p.gamma_local, p.gamma2 + p.gamma_local)
        eigenvalues = scipy.sparse.linalg.eigs(
            generator.tocsc(), k=8, sigma=0.05 * scale, which="LM", return_eigenvectors=False
        )
    order = np.argsort(np.abs(eigenvalues))
    rest = eigenvalues[order[1:]]  # drop the steady state's zero eigenvalue
    return float(-rest.real.max())
