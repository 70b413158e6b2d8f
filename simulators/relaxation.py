"""Relaxation towards the steady state: the slowest decay rate of the excitation-diagonal sector.

Rates are in the twin's unit (the same as ``kappa``); lab time constants come from
``LabLink.seconds`` in the units layer.

Without detunings the sector splits exactly into its real-symmetric (10 parameters per block) and
imaginary-antisymmetric (6) parts, handled separately; the eigenvalues are those of the whole
sector either way. Two paths, the same eigenvalues to rounding (tested to 1e-8):

* compiled (``method="auto"`` above ``COMPILED_ABOVE`` blocks with numba, or ``"compiled"``):
  inverse iteration on :class:`FactorLightChain`, which keeps only the inverse of every pivot
  block (``k^2`` numbers per block) and rebuilds the blocks from the interior polynomial
  (:mod:`.compiled_gap`). A subspace iteration of 4 vectors picks the eigenvalues nearest the
  shift, as ARPACK would (its Ritz matrix from the solve itself up to ``_RITZ_COPY_BYTES``);
  inverse iteration at the wanted Ritz value refines it (the estimate
  from the shift-inverted Rayleigh quotient, as ARPACK's). On the chiral link the filter chain's
  slowest mode comes exactly from :mod:`.filter_chain` and the search runs on the vectors without a
  filter marginal (an invariant subspace holding every other mode), so a set whose modes lie far
  to the left of the filter's needs no refinement. Memory ``~ (k^2 + 4 k)`` numbers per block (0.9 GB
  at n_source 1e5); when it cannot settle (an oscillating slowest mode), ARPACK decides.
* numpy (``"reduction"``, and the fallback): ARPACK in shift-invert mode on the block solves of
  :class:`ShiftedBlockChain` (block cyclic reduction, factorised once; ``5 k^2`` numbers per block,
  or ``3 k^2`` with the compiled block LU of :mod:`.compiled_blocks`), ~40 Arnoldi steps
  orthogonalising against 20 vectors.

Costs are in docs/design.md, "Cost model".
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from .blas_threads import single_threaded_blas
from .errors import InputError
from .exact_solver import METHODS, fock_cutoff, reduction_level, resolve_method
from .filter_chain import filter_gap
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


class FactorLightChain:
    """``L - sigma`` on one parameter set of the sector, for repeated shifts and solves (compiled).

    Only the inverse of every pivot block is kept (``k^2`` numbers per block, :mod:`.compiled_gap`);
    the blocks themselves are rebuilt by every sweep from term lists: the interior polynomial, and
    one list of constant terms per edge block (absent states decoupled as in
    :class:`ShiftedBlockChain`). Vectors are ``(b, blocks, k)`` arrays: ``b`` right-hand sides
    solved in one sweep.
    """

    def __init__(self, p: LinkParameters, cutoff: int, params: tuple[int, ...]):
        from .liouvillian_blocks import _nonzero_interior_polynomial

        k = len(params)
        self.cutoff, self.k, self.size = cutoff, k, cutoff + 3
        columns, polynomial = _nonzero_interior_polynomial(p, params)
        monomial, entry = np.nonzero(polynomial)  # the terms, in the order of their entries
        order = np.argsort(columns[entry], kind="stable")
        lists = [(columns[entry][order], monomial[order], polynomial[monomial[order], entry[order]])]
        blocks = np.r_[0:3, cutoff - 1 : cutoff + 3]  # the edge blocks, in compiled_gap._kind's order
        diag, up, down = (np.array(a) for a in sector_blocks(p, blocks, cutoff, params=params))
        present = present_params(np.arange(-1, cutoff + 4), cutoff)[:, list(params)]
        here = present[blocks + 1]
        diag *= here[:, None, :]  # columns of absent entries, here and in the neighbours
        down *= present[blocks][:, None, :]
        up *= present[blocks + 2][:, None, :]
        for block, absent in zip(range(len(blocks)), ~here):
            diag[block][absent], up[block][absent], down[block][absent] = 0.0, 0.0, 0.0
            diag[block][absent, absent] = 1.0  # decoupled, and not shifted
        edges = np.stack([diag, up, down], axis=1)  # (7, 3, k, k)
        for edge in edges:
            flat = np.flatnonzero(edge)
            lists.append((flat, np.zeros(len(flat), dtype=np.int64), edge.ravel()[flat]))
        parts = [np.unravel_index(flat, (3, k, k)) for flat, _, _ in lists]
        self._terms = (
            np.ascontiguousarray(np.concatenate([np.stack([row, column, mono], axis=1)
                                                 for (_, row, column), (_, mono, _) in zip(parts, lists)]),
                                 dtype=np.int64),
            np.ascontiguousarray(np.concatenate([values for _, _, values in lists])),
            np.array([np.searchsorted(part, [0, 1, 2, 3]) for part, _, _ in parts], dtype=np.int64)
            + np.cumsum([0] + [len(flat) for flat, _, _ in lists[:-1]])[:, None],
        )
        #: Where the shift applies, per kind of block (interior: every entry).
        self._shifted = np.vstack([np.ones((1, k)), here.astype(float)])
        self.present = present_params(np.arange(cutoff + 3), cutoff)[:, list(params)]
        #: Positions of the populations in ``params`` (block 0's ``|gg><gg|`` first), if any.
        self.populations = tuple(i for i, q in enumerate(params) if REAL_PARAMS[q][0] == "d")
        self.inverse = np.empty((self.size, k, k))

    def factor(self, sigma: float) -> None:
        from .compiled_gap import factor_shifted

        factor_shifted(float(sigma), self.cutoff, *self._terms, self._shifted, self.inverse)

    def solve(self, X: np.ndarray, out: np.ndarray | None = None) -> None:
        """``X <- (L - sigma)^-1 X`` in place, or into ``out`` (``sigma`` of the last
        :meth:`factor`); ``X`` and ``out`` are ``(b, blocks, k)``."""
        from .compiled_gap import solve_shifted

        solve_shifted(self.cutoff, *self._terms, self.inverse, X, X if out is None else out)

    def rayleigh(self, Q: np.ndarray) -> np.ndarray:
        """``Q^T L Q`` (``b x b``), ``L`` unshifted, without storing ``L Q``."""
        from .compiled_gap import rayleigh_matrix

        H = np.empty((Q.shape[0], Q.shape[0]))
        rayleigh_matrix(self.cutoff, *self._terms, Q, H)
        return H


class _NeedsArnoldi(Exception):
    """The inverse iteration cannot settle the gap (complex or unconverged): ARPACK decides."""


#: Vectors per parameter set in the selection (kept free of the steady state: see _project).
_SUBSPACE = 4
#: Up to this size the selection keeps a copy of its vectors (``_SUBSPACE`` per block) and takes
#: the Ritz matrix from the solve itself (:func:`_ritz_from_solve`: no sweep of ``L``, ~20 % of the
#: time); above it (n_source ~1e5, where the copy would take the memory past 1 GB) a sweep of
#: ``L`` forms it (:meth:`FactorLightChain.rayleigh`).
_RITZ_COPY_BYTES = 1 << 27
#: Subspace iterations at most, and the relative change of the wanted Ritz value that ends them.
_SUBSPACE_ITERATIONS = 60
_SUBSPACE_TOL = 1e-3
#: A parameter set whose slowest Ritz value lies left of a mode already found by more than
#: ``_DISCARD_FACTOR`` times that mode's rate and ``_DISCARD_MARGIN`` times its last change (after
#: three solves, so that a slower mode would already dominate the subspace) cannot hold the gap:
#: its iteration stops there, unrefined.
_DISCARD_MARGIN = 10.0
_DISCARD_FACTOR = 1.0
#: Inverse iterations at most in the refinement, and the relative change that ends them.
_REFINE_ITERATIONS = 20
_REFINE_TOL = 1e-10
#: The rounding floor: when the changes stop shrinking, the estimate is taken only if the last
#: change is below this (relative); otherwise (a neighbouring eigenvalue slows the iteration) the
#: shift moves to the estimate and the iteration goes on, up to ``_REFINE_ITERATIONS``.
_FLOOR_TOL = 1e-8
#: The refined eigenvalue must stay this close (relative) to the Ritz value it started from; a
#: larger move means the selection had not settled on it, and ARPACK decides.
_SELECTION_TOL = 1e-2
#: A Ritz value with a larger imaginary part (relative) is an oscillating mode: ARPACK decides.
#: (A real matrix's real eigenvalue comes out of ``eig`` with a zero imaginary part; a near-real
#: pair of Ritz values is two real modes not yet resolved, or a complex pair.)
_REAL_TOL = 1e-8
_CHUNK = 1 << 16
#: One Cholesky-QR pass leaves the vectors orthonormal to ~``cond^2 x 1e-16``: up to this condition
#: number (1e-10, far below the selection's ``_SUBSPACE_TOL``) it is the only pass.
_ONE_PASS_CONDITION = 1e3


def _orthonormalize(X: np.ndarray) -> np.ndarray:
    """The vectors ``X[j]`` (``X`` is ``(b, blocks, k)``) orthonormal in place: Cholesky QR, a
    second pass only if the vectors' condition number exceeds ``_ONE_PASS_CONDITION``. Returns ``W``
    (``b x b``, lower triangular): the new vectors are ``W`` times the old ones."""
    flat = X.reshape(X.shape[0], -1)
    W = np.eye(X.shape[0])
    for _ in range(2):
        factor = np.linalg.cholesky(flat @ flat.T)
        step = np.linalg.inv(factor)
        for lo in range(0, flat.shape[1], _CHUNK):
            flat[:, lo : lo + _CHUNK] = step @ flat[:, lo : lo + _CHUNK]
        W = step @ W
        if np.linalg.cond(factor) <= _ONE_PASS_CONDITION:
            break
    return W


def _ritz_from_solve(sigma: float, Q: np.ndarray, previous: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``Q^T L Q`` without a sweep of ``L``, for ``Q = W Y`` with ``Y = (L - sigma)^-1 previous``:
    ``L Y = sigma Y + previous``, so ``Q^T L Q = sigma + (Q^T previous) W^T``."""
    b = Q.shape[0]
    flat, flat_previous = Q.reshape(b, -1), previous.reshape(b, -1)
    overlap = np.zeros((b, b))
    for lo in range(0, flat.shape[1], _CHUNK):
        overlap += flat[:, lo : lo + _CHUNK] @ flat_previous[:, lo : lo + _CHUNK].T
    return sigma * np.eye(b) + overlap @ W.T


def _project(X: np.ndarray, populations: tuple[int, ...], filter_modes: bool) -> None:
    """Take out of every vector ``X[j]`` (in place, before a solve) the part the iteration must not
    see, by changing the ``|gg>`` populations: its trace or, with ``filter_modes``, its whole filter
    marginal (the photon-number distribution, populations summed at equal photon number ``m``;
    the ``|m, gg><m, gg|`` entry of block ``m`` absorbs it).

    The trace is the sector's left eigenvector of the eigenvalue 0, so traceless vectors stay
    traceless under ``(L - sigma)^-1`` and the steady state never enters the subspace. On the chiral
    link the filter marginal evolves by itself (:mod:`.filter_chain`), so the vectors without one
    form an invariant subspace too: it holds every mode but the filter chain's, whose slowest is
    known exactly. Done before every solve (against rounding), so the Ritz matrix taken from the
    solve stays exact. A parameter set without populations (the imaginary one) is left alone."""
    if not populations:
        return
    if filter_modes:
        from .compiled_gap import remove_filter_marginal

        remove_filter_marginal(X, *populations)  # photon number m = 0 .. cutoff: blocks m .. m + 2
        return
    weights = np.zeros(X.shape[2])
    weights[list(populations)] = 1.0
    X[:, 0, populations[0]] -= (X @ weights).sum(axis=1)  # one pass over X (column by column: 4x longer)


def _slowest_mode(chain: FactorLightChain, sigma: float, slower_than: float | None = None,
                  filter_modes: bool = False) -> float:
    """Rightmost eigenvalue of one parameter set among its traceless modes (the steady state's
    zero excluded; a second zero, if any, is found), or with ``filter_modes`` among those without
    a filter marginal (the filter chain's own modes excluded, :func:`_project`), by inverse iteration.

    Selection: subspace iteration with ``_SUBSPACE`` such vectors on ``(L - sigma)^-1`` (the
    eigenvalues nearest ``sigma``, as ARPACK finds them), Ritz values of ``L`` itself. Refinement: inverse
    iteration from the wanted Ritz vector, shifted to its Ritz value (refactorised when progress
    is slow), the estimate from the shift-inverted Rayleigh quotient. ``slower_than``: an eigenvalue
    already found elsewhere; a Ritz value settling far to its left is returned unrefined, and the
    refinement stops once its estimate stays to its left (see ``_DISCARD_MARGIN``). Raises ``_NeedsArnoldi`` whenever the result would not be certain
    (complex, unsettled, moved away from the selection, singular, non-finite).
    """
    try:
        return _inverse_iteration(chain, sigma, slower_than, filter_modes)
    except (ZeroDivisionError, np.linalg.LinAlgError) as error:
        raise _NeedsArnoldi(f"the inverse iteration broke down ({error})") from error


def _inverse_iteration(chain: FactorLightChain, sigma: float, slower_than: float | None,
                       filter_modes: bool = False) -> float:
    """:func:`_slowest_mode` without its guard against breakdowns."""
    chain.factor(sigma)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (_SUBSPACE, chain.size, chain.k))
    X *= chain.present[None]
    previous = None
    start = np.empty_like(X) if X.nbytes <= _RITZ_COPY_BYTES else None  # the vectors before a solve
    for iteration in range(_SUBSPACE_ITERATIONS):
        _project(X, chain.populations, filter_modes)
        if start is not None:  # solved out of place: X holds the solution, start its right-hand side
            chain.solve(X, out=start)
            X, start = start, X
        else:
            chain.solve(X)
        W = _orthonormalize(X)
        if iteration == 0:
            continue
        if start is not None:
            ritz = _ritz_from_solve(sigma, X, start, W)
        else:
            ritz = chain.rayleigh(X)
        theta, vectors = np.linalg.eig(ritz)
        if not np.isfinite(theta).all():
            raise _NeedsArnoldi("the subspace became singular or non-finite")
        wanted = np.argmax(theta.real)
        value = theta[wanted]
        change = np.inf if previous is None else abs(value - previous)
        margin = slower_than - value.real if slower_than is not None else -np.inf
        # Settling far to the left of a mode found already: not the gap (also when settled; a
        # settled Ritz value closer to that mode is refined, since it can pause on its way to a
        # slower mode of its set: seen 0.8 % left of the filter's mode with the true one 1.5 % right).
        if iteration >= 2 and margin > _DISCARD_MARGIN * change and margin > _DISCARD_FACTOR * abs(slower_than):
            return float(value.real)
        if change <= _SUBSPACE_TOL * abs(value):
            break
        previous = value
    else:
        raise _NeedsArnoldi("the subspace iteration did not settle")
    if abs(value.imag) > _REAL_TOL * abs(value):
        raise _NeedsArnoldi("the slowest mode is oscillating, or not yet resolved from a neighbour")
    weights = np.real(vectors[:, wanted])
    flat = X.reshape(_SUBSPACE, -1)
    for lo in range(0, flat.shape[1], _CHUNK):  # the Ritz vector, in place of the first
        flat[0, lo : lo + _CHUNK] = weights @ flat[:, lo : lo + _CHUNK]
    x, flat_x, flat_previous = X[:1], flat[0], flat[1]
    flat_x /= np.linalg.norm(flat_x)
    shift = estimate = float(value.real)
    chain.factor(shift)
    last_change, since_factor = np.inf, 0
    for _ in range(_REFINE_ITERATIONS):
        _project(x, chain.populations, filter_modes)
        flat_previous[:] = flat_x
        chain.solve(x)
        # x^T (L - shift)^-1 x = 1 / (lambda - shift) for the normalised eigenvector: the estimate
        # carries the rounding of lambda - shift, not of lambda (the rates in L reach 1e5 times the
        # gap at n_source 1e4, where the Rayleigh quotient of L itself is good to ~1e-9 only).
        new = shift + 1.0 / float(flat_previous @ flat_x)
        if not np.isfinite(new) or not np.isfinite(flat_x).all():
            raise _NeedsArnoldi("the shift hit an eigenvalue")
        flat_x /= np.linalg.norm(flat_x)
        change = abs(new - estimate)
        if abs(new - value.real) > _SELECTION_TOL * abs(value.real):
            raise _NeedsArnoldi("the refinement left the selected mode")
        if slower_than is not None and slower_than - new > _DISCARD_MARGIN * change:
            return new  # the mode it converges to stays left of one found already: not the gap
        # Converged, or at the rounding floor (the changes stop shrinking) close enough to it.
        if change <= _REFINE_TOL * abs(new):
            return new
        stalled = since_factor >= 2 and change > 0.25 * last_change
        if stalled and change <= _FLOOR_TOL * abs(new):
            return new
        estimate, last_change = new, change
        since_factor += 1
        if stalled or since_factor == 4:  # slow (a close neighbour): move the shift to the estimate
            shift, since_factor, last_change = estimate, 0, np.inf
            chain.factor(shift)
    raise _NeedsArnoldi("the inverse iteration did not converge")


def _gap_by_inverse_iteration(p: LinkParameters, cutoff: int, sigma: float) -> float:
    """The gap from each parameter set's slowest mode (compiled; memory ``(k^2 + 4 k)`` numbers
    per block of the largest set: the inverses and ``_SUBSPACE`` vectors). On the chiral link the
    filter chain's slowest mode comes first, exactly (:func:`.filter_chain.filter_gap`), and the
    sets are searched without the filter's modes."""
    filter_modes, slowest = False, None
    if p.is_chiral:
        try:
            slowest, filter_modes = -filter_gap(p, cutoff), True
        except ArithmeticError:
            pass  # the filter's modes stay in the search, as without a chiral link
    for params in _parameter_sets(p):
        mode = _slowest_mode(FactorLightChain(p, cutoff, params), sigma, slowest, filter_modes)
        slowest = mode if slowest is None else max(slowest, mode)
    return -slowest


def relaxation_rate(p: LinkParameters, tol: float = 1e-6, method: str = "auto") -> float:
    """Slowest decay rate towards the steady state (the Liouvillian gap, same unit as ``kappa``).

    A change of the source starts from the previous steady state, which lies in the
    excitation-diagonal sector, so the gap of that sector is the one an experiment waits for.
    The eigenvalues nearest a small shift are found (all of them for small sectors); the one of
    smallest modulus is the steady state's zero, and the gap is minus the largest real part of
    the others.

    ``method`` picks the path of the large sectors (module docstring): ``"reduction"`` (ARPACK on
    numpy cyclic reduction), ``"compiled"`` (inverse iteration on compiled factor-light solves,
    needs numba; ARPACK on compiled solves when it cannot settle) or ``"auto"`` (compiled above
    ``COMPILED_ABOVE`` blocks when numba is installed); the eigenvalues are the same to rounding
    (tested to 1e-8).
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
            if method == "compiled":
                try:
                    return _gap_by_inverse_iteration(p, cutoff, 0.05 * scale)
                except _NeedsArnoldi:
                    pass
            eigenvalues = _sector_eigenvalues_near(p, cutoff, 0.05 * scale, method=method)
    order = np.argsort(np.abs(eigenvalues))
    rest = eigenvalues[order[1:]]  # drop the steady state's zero eigenvalue
    return float(-rest.real.max())
