"""The twin's solvers as they were before issue 10, kept as references for the fast paths.

``level_storing_steady_state``: block cyclic reduction that keeps every level of every run and
substitutes every block back (memory linear in the cutoff). ``sparse_lu_relaxation_rate``: the
sector's gap from ARPACK shift-invert on a sparse LU of the whole 16-parameter sector.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from thermalink.simulators import exact_solver
from thermalink.simulators.exact_solver import ExactSteadyState, fock_cutoff
from thermalink.simulators.liouvillian_blocks import EXCITATIONS, sector_blocks
from thermalink.simulators.link_parameters import LinkParameters
from thermalink.simulators.relaxation import sector_generator


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


def level_storing_steady_state(p: LinkParameters, cutoff: int, run: int = 2048) -> ExactSteadyState:
    """The solver as it was before issue 10: every reduction level kept, every block substituted back."""
    top = cutoff + 2
    solved = exact_solver._solved_parameters(p)
    size = len(solved)
    # Blocks 0..top in runs of run, from the top down (so the working set stays in cache and
    # only the reduction levels are kept). A reduced run closes into x_lo = -T_lo x_{lo-1}, which
    # folds into the top block of the run below as D -> D - U T.
    runs = []
    closing = None
    for hi in range(top + 1, 0, -run):
        lo = max(0, hi - run)
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
    coherence = states[:, exact_solver._RE_GE_EG] + 1j * states[:, exact_solver._IM_GE_EG]
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


def sparse_lu_relaxation_rate(p: LinkParameters, tol: float = 1e-6) -> float:
    """relaxation_rate as it was before issue 10: sparse LU of the whole 16-parameter sector, ARPACK.

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
