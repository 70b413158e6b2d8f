"""Compiled kernels of the relaxation gap: the shifted sector chain with blocks made on the fly.

Optional (needs numba, the ``fast`` extra), used by :mod:`.relaxation` for large sectors. The chain
is ``R_N x_{N-1} + (D_N - sigma) x_N + U_N x_{N+1}`` over the blocks ``N = 0 .. cutoff + 2`` of one
parameter set (real ``k x k`` blocks). Only the inverse of every pivot block ``S_N`` is stored
(``S_top = D_top - sigma``, ``S_{N-1} = D_{N-1} - sigma - U_{N-1} S_N^-1 R_N``: ``k^2`` numbers
per block; an explicit inverse, by Gauss-Jordan with partial pivoting, makes every later solve two
dense matrix products per block);
``D``, ``U`` and ``R`` are rebuilt from the interior polynomial of
:func:`.liouvillian_blocks._nonzero_interior_polynomial` whenever a sweep needs them, as lists of
terms ``(row, column, monomial, coefficient)`` per part (about 100 terms for the 300 entries of a
10-parameter block), applied without forming the blocks. The edge blocks (``N <= 2`` and ``N >=
cutoff - 1``, where states are missing; absent entries decoupled by identity rows in ``D``,
unshifted) are term lists of their own, of constant terms (monomial 0, which is 1), so every block
goes through the same loops: :func:`_kind` says which list a block uses, ``bounds[kind]`` where
its ``D``, ``U`` and ``R`` terms start and end.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .compiled_blocks import _monomials


@njit(cache=True, boundscheck=False, inline="always")
def _invert(A, perm, column):  # pragma: no cover - compiled
    """``A <- A^-1`` in place: Gauss-Jordan with partial pivoting (``k^3`` flops); ``perm`` and
    ``column`` are work buffers of length ``k``."""
    k = A.shape[0]
    for i in range(k):
        perm[i] = i
    for c in range(k):
        p = c
        best = abs(A[c, c])
        for r in range(c + 1, k):
            if abs(A[r, c]) > best:
                best = abs(A[r, c])
                p = r
        if p != c:
            for j in range(k):
                tmp = A[c, j]
                A[c, j] = A[p, j]
                A[p, j] = tmp
            tmp_index = perm[c]
            perm[c] = perm[p]
            perm[p] = tmp_index
        inverse = 1.0 / A[c, c]
        A[c, c] = 1.0
        for j in range(k):
            A[c, j] *= inverse
        for r in range(k):
            if r != c:
                f = A[r, c]
                if f != 0.0:
                    A[r, c] = 0.0
                    for j in range(k):
                        A[r, j] -= f * A[c, j]
    for i in range(k):  # undo the row swaps as column swaps: A^-1 = (P A)^-1 P
        for j in range(k):
            column[perm[j]] = A[i, j]
        for j in range(k):
            A[i, j] = column[j]


@njit(cache=True, boundscheck=False, inline="always")
def _kind(N, cutoff):  # pragma: no cover - compiled
    """The term list of block ``N``: 0 the interior polynomial, ``1 + N`` for ``N <= 2``, ``4 + N -
    (cutoff - 1)`` for ``N >= cutoff - 1`` (the edge blocks, constant terms)."""
    if N <= 2:
        return 1 + N
    if N >= cutoff - 1:
        return 4 + N - (cutoff - 1)
    return 0


@njit(cache=True, boundscheck=False, inline="always")
def _subtract_terms(out, mono, terms, coefficients, lo, hi, X):  # pragma: no cover - compiled
    """``out -= B X`` for the block part given by ``terms[lo:hi]`` (rows ``row, column,
    monomial``) and ``coefficients[lo:hi]``; ``X``, ``out`` are ``k x b``."""
    b = X.shape[1]
    for t in range(lo, hi):
        f = coefficients[t] * mono[terms[t, 2]]
        i, j = terms[t, 0], terms[t, 1]
        for c in range(b):
            out[i, c] -= f * X[j, c]


@njit(cache=True, boundscheck=False, inline="always")
def _fill_terms(out, mono, terms, coefficients, lo, hi):  # pragma: no cover - compiled
    """The dense block part ``terms[lo:hi]`` into ``out`` (``k x k``)."""
    out[:, :] = 0.0
    for t in range(lo, hi):
        out[terms[t, 0], terms[t, 1]] += coefficients[t] * mono[terms[t, 2]]


@njit(cache=True, boundscheck=False, inline="always")
def _multiply_terms(out, A, mono, terms, coefficients, lo, hi):  # pragma: no cover - compiled
    """``out = A B`` with ``B`` the block part ``terms[lo:hi]`` (``k x k``), column by term."""
    k = A.shape[0]
    out[:, :] = 0.0
    for t in range(lo, hi):
        f = coefficients[t] * mono[terms[t, 2]]
        l, j = terms[t, 0], terms[t, 1]
        for i in range(k):
            out[i, j] += f * A[i, l]


@njit(cache=True, boundscheck=False)
def factor_shifted(sigma, cutoff, terms, coefficients, bounds, shifted, inverse):  # pragma: no cover - compiled
    """Block elimination from the top of ``L - sigma``: ``inverse[N]`` is ``S_N^-1``.

    ``bounds[kind]``: the terms of ``D``, ``U``, ``R`` of a block of that kind (:func:`_kind`) are
    ``bounds[kind, 0]:bounds[kind, 1]``, ``bounds[kind, 1]:bounds[kind, 2]`` and ``bounds[kind,
    2]:bounds[kind, 3]``; ``shifted[kind, i]`` is 1 where the shift applies (0 for absent entries)."""
    n, k, _ = inverse.shape
    T = np.empty((k, k))
    perm = np.empty(k, np.int64)
    column = np.empty(k)
    mono = np.empty(15)
    kind = _kind(n - 1, cutoff)
    _monomials(n - 1, mono)
    _fill_terms(inverse[n - 1], mono, terms, coefficients, bounds[kind, 0], bounds[kind, 1])  # S_top = D_top
    for N in range(n - 1, -1, -1):
        S = inverse[N]
        kind = _kind(N, cutoff)
        for i in range(k):
            S[i, i] -= sigma * shifted[kind, i]
        _invert(S, perm, column)
        if N == 0:
            break
        _monomials(N, mono)  # T_N = S_N^-1 R_N
        _multiply_terms(T, S, mono, terms, coefficients, bounds[kind, 2], bounds[kind, 3])
        below = inverse[N - 1]  # S_{N-1} = D_{N-1} - U_{N-1} T_N (the shift at the next step)
        kind = _kind(N - 1, cutoff)
        _monomials(N - 1, mono)
        _fill_terms(below, mono, terms, coefficients, bounds[kind, 0], bounds[kind, 1])
        _subtract_terms(below, mono, terms, coefficients, bounds[kind, 1], bounds[kind, 2], T)


#: Floating-point flags of the solve: sums may be reassociated (so LLVM vectorises the dot products
#: of a block's inverse with the right-hand sides; rounding changes at the 1e-16 level), NaN and inf
#: keep their meaning (breakdowns are detected from them).
_SOLVE_FLAGS = {"reassoc", "contract"}


@njit(cache=True, boundscheck=False, inline="always", fastmath=_SOLVE_FLAGS)
def _dot_rows(out, A, W):  # pragma: no cover - compiled
    """``out[c] = A @ W[c]`` for every right-hand side ``c`` (``A`` is ``k x k``, ``W`` and ``out``
    are ``b x k``: each right-hand side contiguous)."""
    b, k = W.shape
    for c in range(b):
        for i in range(k):
            s = 0.0
            for l in range(k):
                s += A[i, l] * W[c, l]
            out[c, i] = s


@njit(cache=True, boundscheck=False, inline="always", fastmath=_SOLVE_FLAGS)
def _subtract_terms_rows(out, mono, terms, coefficients, lo, hi, X):  # pragma: no cover - compiled
    """``out[c] -= B X[c]`` for the block part ``terms[lo:hi]``; ``out`` and ``X`` are ``b x k``
    (right-hand sides as rows)."""
    b = X.shape[0]
    for t in range(lo, hi):
        f = coefficients[t] * mono[terms[t, 2]]
        i, j = terms[t, 0], terms[t, 1]
        for c in range(b):
            out[c, i] -= f * X[c, j]


@njit(cache=True, boundscheck=False, fastmath=_SOLVE_FLAGS)
def solve_shifted(cutoff, terms, coefficients, bounds, inverse, V, X):  # pragma: no cover - compiled
    """``X <- (L - sigma)^-1 V`` from :func:`factor_shifted`'s inverses (``V`` may be ``X``: in
    place); both are ``(b, n, k)``: ``b`` vectors, each contiguous. From the top ``y_N = S_N^-1
    (v_N - U_N y_{N+1})``, then from the bottom ``x_N = y_N - S_N^-1 R_N x_{N-1}``."""
    b, n, k = X.shape
    work = np.empty((b, k))
    done = np.empty((b, k))  # y_{N+1}, then x_{N-1}
    product = np.empty((b, k))
    mono = np.empty(15)
    for N in range(n - 1, -1, -1):
        for c in range(b):
            for i in range(k):
                work[c, i] = V[c, N, i]
        if N < n - 1:
            kind = _kind(N, cutoff)
            _monomials(N, mono)
            _subtract_terms_rows(work, mono, terms, coefficients, bounds[kind, 1], bounds[kind, 2], done)
        _dot_rows(done, inverse[N], work)
        for c in range(b):
            for i in range(k):
                X[c, N, i] = done[c, i]
    for N in range(1, n):  # done holds x_0 = y_0
        kind = _kind(N, cutoff)
        _monomials(N, mono)
        work[:, :] = 0.0
        _subtract_terms_rows(work, mono, terms, coefficients, bounds[kind, 2], bounds[kind, 3], done)
        _dot_rows(product, inverse[N], work)  # -S_N^-1 R_N x_{N-1}
        for c in range(b):
            for i in range(k):
                value = X[c, N, i] + product[c, i]
                X[c, N, i] = value
                done[c, i] = value


@njit(cache=True, boundscheck=False)
def rayleigh_matrix(cutoff, terms, coefficients, bounds, Q, H):  # pragma: no cover - compiled
    """``H = Q^T L Q`` (unshifted ``L``) for ``Q`` of shape ``(b, n, k)``, without storing ``L Q``."""
    b, n, k = Q.shape
    minus_LQ = np.empty((k, b))
    below = np.zeros((k, b))
    here = np.empty((k, b))
    above = np.empty((k, b))
    mono = np.empty(15)
    H[:, :] = 0.0
    for i in range(k):
        for j in range(b):
            here[i, j] = Q[j, 0, i]
    for N in range(n):
        if N < n - 1:
            for i in range(k):
                for j in range(b):
                    above[i, j] = Q[j, N + 1, i]
        kind = _kind(N, cutoff)
        _monomials(N, mono)
        minus_LQ[:, :] = 0.0
        _subtract_terms(minus_LQ, mono, terms, coefficients, bounds[kind, 0], bounds[kind, 1], here)
        if N > 0:
            _subtract_terms(minus_LQ, mono, terms, coefficients, bounds[kind, 2], bounds[kind, 3], below)
        if N < n - 1:
            _subtract_terms(minus_LQ, mono, terms, coefficients, bounds[kind, 1], bounds[kind, 2], above)
        for i in range(b):
            for j in range(b):
                s = 0.0
                for r in range(k):
                    s -= here[r, i] * minus_LQ[r, j]
                H[i, j] += s
        below, here, above = here, above, below


@njit(cache=True, boundscheck=False)
def remove_filter_marginal(X, gg, ge, eg, ee):  # pragma: no cover - compiled
    """Every vector ``X[j]`` (``X`` is ``(b, blocks, k)``) without a filter marginal, in place: block
    ``m``'s ``|gg>`` population (photon number ``m``) set to minus the other populations at photon
    number ``m`` (``ge``, ``eg`` of block ``m + 1``, ``ee`` of block ``m + 2``); one pass."""
    b, n, _ = X.shape
    for j in range(b):
        for m in range(n - 2):
            X[j, m, gg] = -(X[j, m + 1, ge] + X[j, m + 1, eg] + X[j, m + 2, ee])
