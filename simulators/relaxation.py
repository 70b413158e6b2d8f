"""Relaxation towards the steady state: the slowest decay rate of the excitation-diagonal sector.

Rates are in the twin's unit (the same as ``kappa``); lab time constants come from
``LabLink.seconds`` in the units layer.

The gap is found by ARPACK in shift-invert mode, as before issue 10, but the shifted solves use the
block-tridiagonal structure: :class:`ShiftedBlockChain` factorises ``L - sigma`` once by block cyclic
reduction and every Arnoldi step reuses it (a few batched matrix-vector products per level).
Without detunings the sector splits exactly into its real-symmetric (10 parameters per block) and
imaginary-antisymmetric (6) parts, which are factorised separately; the eigenvalues are those of
the whole sector either way. Large sectors (``method="auto"``, numba installed) factorise instead
by the compiled block LU of :mod:`.compiled_blocks` (``3 k^2`` numbers per block instead of
``5 k^2``); ARPACK's own steps (~40, each orthogonalising against 20 vectors) are the same and
dominate the time (docs/design.md, "Cost model").
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from .blas_threads import single_threaded_blas
from .errors import InputError
from .exact_solver import METHODS, fock_cutoff, reduction_level, resolve_method
from .liouvillian_blocks import BLOCK_SIZE, REAL_PARAMS, is_real_link, present_params, sector_blocks
from .link_parameters import LinkParameters

#: Sectors up to this many unknowns are diagonalised densely.
DENSE_LIMIT = 400
#: Eigenvalues ARPACK finds nearest the shift; the steady state's zero is one of them.
_NEAREST = 8
#: ARPACK's convergence tolerance (relative, on the Ritz values of the shift-inverted operator): the
#: rate comes out to ~1e-10 relative (the tests ask 1e-8 against the dense gap and the old sparse-LU
#: path, which used machine precision); 25-35 % fewer Arnoldi steps than ``tol=0``.
_ARPACK_TOL = 1e-10
#: Blocks assembled at once while factorising (bounds the transient memory).
_ASSEMBLY_RUN = 8192
_REAL_SYMMETRIC = tuple(i for i, (kind, _, _) in enumerate(REAL_PARAMS) if kind != "im")
_IMAGINARY = tuple(i for i, (kind, _, _) in enumerate(REAL_PARAMS) if kind == "im")


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


class ShiftedBlockChain:
    """``(L - sigma) x = b`` on one parameter set of the sector, factorised once by cyclic reduction.

    ``x`` and ``b`` are ``(blocks, k)`` arrays over all blocks ``0..cutoff + 2``; entries of absent
    states are decoupled (their rows and columns cleared, unit diagonal), so a ``b`` that is zero
    there gives an ``x`` that is exactly zero there. Each level eliminates the odd blocks,
    ``x_odd = y_odd - P x_{odd-1} - Q x_{odd+1}`` with ``y = D^-1 b`` and ``[P | Q] = D^-1 [R | U]``;
    it keeps ``D^-1``, ``[P | Q]`` and the even blocks' ``[R | U]``: about ``5 k^2`` numbers per
    block in all. A solve is three batched matrix-vector products per odd block and level.
    ``method="compiled"``: block LU from the top instead (:func:`.compiled_blocks.factor_chain`),
    keeping the LU of every pivot block, ``T_N = S_N^-1 R_N`` and ``U_N`` (``3 k^2`` per block).
    """

    def __init__(self, p: LinkParameters, cutoff: int, params: tuple[int, ...], sigma: float,
                 method: str = "reduction"):
        top = cutoff + 2
        k = len(params)
        self.k = k
        self.size = top + 1
        diag = np.empty((top + 1, k, k))
        coupling = np.empty((top + 1, k, 2 * k))
        for lo in range(0, top + 1, _ASSEMBLY_RUN):
            hi = min(top + 1, lo + _ASSEMBLY_RUN)
            d, u, r = sector_blocks(p, np.arange(lo, hi), cutoff, params=params)
            diag[lo:hi] = d
            coupling[lo:hi, :, :k] = r
            coupling[lo:hi, :, k:] = u
        diag -= sigma * np.eye(k)
        # States are missing only in the edge blocks: clear their rows and columns there.
        edges = np.unique(np.clip(np.r_[0:3, cutoff - 1 : top + 1], 0, top))
        present = present_params(np.arange(-1, top + 2), cutoff)[:, list(params)]
        for n in edges:
            here, below, above = present[n + 1], present[n], present[n + 2]
            diag[n] *= here[None, :]
            coupling[n, :, :k] *= below[None, :]
            coupling[n, :, k:] *= above[None, :]
            diag[n][~here] = 0.0
            coupling[n][~here] = 0.0
            diag[n][~here, ~here] = 1.0
            if n + 1 <= top:  # columns of block n's absent entries in its neighbours' rows
                coupling[n + 1, :, :k] *= here[None, :]
            if n >= 1:
                coupling[n - 1, :, k:] *= here[None, :]
        self.method = method
        self.levels = []
        if method == "compiled":  # block LU from the top (.compiled_blocks), factors in place
            from .compiled_blocks import factor_chain

            self.piv = np.empty((top + 1, k), dtype=np.int64)
            # T and U in arrays of their own: each sweep of a solve then reads only what it needs.
            down, up = np.ascontiguousarray(coupling[:, :, :k]), np.ascontiguousarray(coupling[:, :, k:])
            del coupling
            factor_chain(diag, down, up, self.piv)
            self.factors = (diag, down, up)
            self.solution = np.empty((top + 1, k))
            return
        while len(diag) > 1:
            n = len(diag)
            n_odd = n // 2
            inverse, pq, even, next_diag, next_coupling = reduction_level(diag, coupling)
            # Work buffers for the solves (reused, so a solve allocates nothing large); the zero
            # parts of the neighbour stacks (no neighbour there) stay zero.
            buffers = dict(
                y=np.empty((n_odd, k, 1)),
                y_neighbours=np.zeros((len(even), 2 * k, 1)),
                even_product=np.empty((len(even), k, 1)),
                reduced=np.empty((len(even), k)),
                x_neighbours=np.zeros((n_odd, 2 * k, 1)),
                odd_product=np.empty((n_odd, k, 1)),
                solution=np.empty((n, k)),
            )
            self.levels.append((n, inverse, pq, even, buffers))
            diag, coupling = next_diag, next_coupling
        self.last = np.linalg.inv(diag[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the factorisation and its work buffers."""
        if self.method == "compiled":
            return sum(a.nbytes for a in (*self.factors, self.piv, self.solution))
        return sum(a.nbytes for _, inverse, pq, even, buffers in self.levels
                   for a in (inverse, pq, even, *buffers.values()))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``x`` with ``(L - sigma) x = b``, both ``(blocks, k)``. The result is a work buffer:
        valid until the next solve."""
        if self.method == "compiled":
            from .compiled_blocks import solve_chain

            diag, down, up = self.factors
            solve_chain(diag, self.piv, down, up, np.ascontiguousarray(b, dtype=float), self.solution)
            return self.solution
        k = self.k
        for n, inverse, _, even, buf in self.levels:
            n_odd, linked = n // 2, (n + 1) // 2 - 1
            y, neighbours = buf["y"], buf["y_neighbours"]
            np.matmul(inverse, b[1::2, :, None], out=y)
            neighbours[1 : linked + 1, :k] = y[:linked]
            neighbours[:n_odd, k:] = y
            np.matmul(even, neighbours, out=buf["even_product"])
            b = np.subtract(b[0::2], buf["even_product"][..., 0], out=buf["reduced"])
        x = (self.last @ b[0])[None]
        for n, _, pq, _, buf in reversed(self.levels):
            n_odd, linked = n // 2, (n + 1) // 2 - 1
            neighbours, solution = buf["x_neighbours"], buf["solution"]
            neighbours[:, :k, 0] = x[:n_odd]
            neighbours[:linked, k:, 0] = x[1 : linked + 1]
            np.matmul(pq, neighbours, out=buf["odd_product"])
            solution[0::2] = x
            np.subtract(buf["y"][..., 0], buf["odd_product"][..., 0], out=solution[1::2])
            x = solution
        return x


def _parameter_sets(p: LinkParameters) -> tuple[tuple[int, ...], ...]:
    """Parameter sets the sector splits into: on a real link (no detunings, real cascade and
    round-trip amplitudes, :func:`.liouvillian_blocks.is_real_link`) real-symmetric and imaginary
    parts; otherwise one chain of all 16."""
    if is_real_link(p):
        return (_REAL_SYMMETRIC, _IMAGINARY)
    return (tuple(range(BLOCK_SIZE)),)


def _sector_eigenvalues_near(p: LinkParameters, cutoff: int, sigma: float, k: int = _NEAREST,
                             method: str = "reduction") -> np.ndarray:
    """The ``k`` eigenvalues of the sector nearest ``sigma``: ARPACK shift-invert on block solves.

    ARPACK's vectors are the chains' ``(blocks, k)`` layouts one after the other. The entries of
    absent states are decoupled and the start vector is zero there, so the Krylov space never
    leaves the sector's own unknowns and the eigenvalues are exactly those of the sector.
    """
    chains = [(list(params), ShiftedBlockChain(p, cutoff, params, sigma, method)) for params in _parameter_sets(p)]
    shapes = [(chain.size, chain.k) for _, chain in chains]
    bounds = np.cumsum([0] + [a * b for a, b in shapes])
    size = int(bounds[-1])

    result = np.empty(size)

    def shifted_solve(vector: np.ndarray) -> np.ndarray:
        vector = np.ravel(vector)
        for (_, chain), lo, hi, shape in zip(chains, bounds[:-1], bounds[1:], shapes):
            result[lo:hi] = chain.solve(vector[lo:hi].reshape(shape)).ravel()
        return result

    def unused(_):  # ARPACK's real shift-invert mode never multiplies by the matrix itself
        raise NotImplementedError("only (L - sigma)^-1 is available")

    present = present_params(np.arange(cutoff + 3), cutoff)
    start = np.random.default_rng(0).uniform(-1.0, 1.0, size)
    start *= np.concatenate([present[:, params].ravel() for params, _ in chains])
    inverse = scipy.sparse.linalg.LinearOperator((size, size), matvec=shifted_solve, dtype=float)
    matrix = scipy.sparse.linalg.LinearOperator((size, size), matvec=unused, dtype=float)
    return scipy.sparse.linalg.eigs(
        matrix, k=k, sigma=sigma, OPinv=inverse, which="LM", v0=start, return_eigenvectors=False, tol=_ARPACK_TOL
    )


def relaxation_rate(p: LinkParameters, tol: float = 1e-6, method: str = "auto") -> float:
    """Slowest decay rate towards the steady state (the Liouvillian gap, same unit as ``kappa``).

    A change of the source starts from the previous steady state, which lies in the
    excitation-diagonal sector, so the gap of that sector is the one an experiment waits for.
    The eigenvalues nearest a small shift are found (all of them for small sectors); the one of
    smallest modulus is the steady state's zero, and the gap is minus the largest real part of
    the others.

    ``method`` picks the shifted solves of the large sectors: ``"reduction"`` (numpy cyclic
    reduction), ``"compiled"`` (block LU of :mod:`.compiled_blocks`, needs numba) or ``"auto"``
    (compiled above ``COMPILED_ABOVE`` blocks when numba is installed); the ARPACK iteration is the
    same, and so are the eigenvalues to rounding (tested to 1e-8).
    """
    if method not in METHODS:
        raise InputError(f"method={method!r} is not one of {METHODS}")
    cutoff = fock_cutoff(p, tol)
    size = int(present_params(np.arange(cutoff + 3), cutoff).sum())
    if size <= DENSE_LIMIT:
        eigenvalues = scipy.linalg.eigvals(sector_generator(p, cutoff).toarray())
    else:
        scale = min(p.kappa, p.gamma1 + p.gamma_local, p.gamma2 + p.gamma_local)
        method = resolve_method(method, cutoff + 3)
        with single_threaded_blas():
            eigenvalues = _sector_eigenvalues_near(p, cutoff, 0.05 * scale, method=method)
    order = np.argsort(np.abs(eigenvalues))
    rest = eigenvalues[order[1:]]  # drop the steady state's zero eigenvalue
    return float(-rest.real.max())
