"""Exact steady state of the thermal link: block cyclic reduction over the excitation blocks.

``solve_exact(p)`` solves the full master equation of physics.md in its excitation-diagonal sector
as the block-tridiagonal system it is (:mod:`.liouvillian_blocks`), by block cyclic reduction: each
level eliminates every other block in one batched step, so the work is a few batched numpy calls
per level (log2 of the cutoff levels), not per block. Time and memory are linear in the Fock
cutoff. The result's ``rho`` is 4x4 complex in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 left).

**Truncation bound:** the filter Fock space is cut at the smallest ``M`` whose thermal tail weight
``(n_c / (n_c + 1))**(M + 1)`` is at most ``tol`` (default ``1e-8``); since the filter marginal is
exactly thermal, the neglected probability is at most ``tol`` and the qubit state moves by that
order (checked in the tests by doubling the cutoff). That bounds truncation only: float64
rounding adds 1e-14 to 1e-11 in ordinary cases and up to ~1e-6 at extreme rate ratios
(docs/design.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .blas_threads import single_threaded_blas
from .liouvillian_blocks import EXCITATIONS, REAL_PARAMS, sector_blocks
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
