"""Compiled kernel of the exact steady state: block elimination from the top, one block at a time.

Optional (needs numba, the ``fast`` extra); :mod:`.exact_solver` falls back to its pure-numpy
cyclic reduction when numba is missing. Same system as there, ``R_N x_{N-1} + D_N x_N + U_N
x_{N+1} = 0``, real ``k x k`` blocks, but eliminated sequentially (a block LU from the top, the
matrix continued fraction): ``S_top = D_top``, ``T_N = S_N^-1 R_N`` (so ``x_N = -T_N x_{N-1}``),
``S_{N-1} = D_{N-1} - U_{N-1} T_N``, and the linear functionals of the qubit marginal carried as
``acc_{N-1} = w_{N-1} - acc_N T_N``. That is about ``k^3`` flops fewer per block than cyclic
reduction's ``~ 5 k^3`` and, compiled, free of numpy's per-call overhead on small matrices. LU with
partial pivoting per block; nothing is kept per block.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, boundscheck=False, inline="always")
def _lu_factor(lu, piv):  # pragma: no cover - compiled
    """LU with partial pivoting of the ``k x k`` matrix ``lu``, in place (LAPACK getrf's layout:
    unit lower factor below the diagonal, row ``c`` swapped with ``piv[c]`` at step ``c``)."""
    k = lu.shape[0]
    for c in range(k):
        p = c
        best = abs(lu[c, c])
        for r in range(c + 1, k):
            v = abs(lu[r, c])
            if v > best:
                best = v
                p = r
        piv[c] = p
        if p != c:
            for j in range(k):
                tmp = lu[c, j]
                lu[c, j] = lu[p, j]
                lu[p, j] = tmp
        inverse = 1.0 / lu[c, c]
        for r in range(c + 1, k):
            f = lu[r, c] * inverse
            lu[r, c] = f
            for j in range(c + 1, k):
                lu[r, j] -= f * lu[c, j]


@njit(cache=True, boundscheck=False, inline="always")
def _lu_solve(lu, piv, B):  # pragma: no cover - compiled
    """``B <- A^-1 B`` in place from :func:`_lu_factor`'s ``lu, piv``; ``B`` is ``k x r``."""
    k = lu.shape[0]
    r_count = B.shape[1]
    for c in range(k):  # all row swaps first (the stored L is in the final row order)
        p = piv[c]
        if p != c:
            for j in range(r_count):
                tmp = B[c, j]
                B[c, j] = B[p, j]
                B[p, j] = tmp
    for c in range(k):
        for r in range(c + 1, k):
            f = lu[r, c]
            for j in range(r_count):
                B[r, j] -= f * B[c, j]
    for c in range(k - 1, -1, -1):
        inverse = 1.0 / lu[c, c]
        for j in range(r_count):
            B[c, j] *= inverse
        for r in range(c):
            f = lu[r, c]
            for j in range(r_count):
                B[r, j] -= f * B[c, j]


@njit(cache=True, boundscheck=False, inline="always")
def _subtract_product(out, a, b):  # pragma: no cover - compiled
    """``out -= a @ b`` skipping the zeros of ``a`` (the couplings are sparse)."""
    for i in range(a.shape[0]):
        for l in range(a.shape[1]):
            f = a[i, l]
            if f != 0.0:
                for j in range(b.shape[1]):
                    out[i, j] -= f * b[l, j]


@njit(cache=True, boundscheck=False, inline="always")
def _step(S, acc, down, diag, up, weights, T, piv, new):  # pragma: no cover - compiled
    """Eliminate one block: ``S``, ``acc`` of block ``N`` -> those of ``N - 1``, in place.

    ``down`` is ``R_N``; ``diag``, ``up``, ``weights`` are ``D_{N-1}``, ``U_{N-1}``, ``w_{N-1}``.
    ``T``, ``piv``, ``new`` are work buffers.
    """
    _lu_factor(S, piv)  # S is rebuilt for block N - 1 below
    T[:, :] = down
    _lu_solve(S, piv, T)  # T_N = S_N^-1 R_N
    S[:, :] = diag
    _subtract_product(S, up, T)  # S_{N-1} = D_{N-1} - U_{N-1} T_N
    new[:, :] = weights
    _subtract_product(new, acc, T)  # acc_{N-1} = w_{N-1} - acc_N T_N
    acc[:, :] = new


@njit(cache=True, boundscheck=False)
def eliminate_run(diag, up, down, weights, S, acc):  # pragma: no cover - compiled
    """Eliminate blocks ``n - 1 .. 1`` of a run from the top, in place on ``S`` and ``acc``.

    ``diag, up, down``: ``(n, k, k)`` blocks ``D, U, R``; ``weights``: ``(n, m, k)`` functional rows.
    On entry ``S`` (``k x k``) and ``acc`` (``m x k``) are block ``n - 1``'s with everything above
    folded in; on exit they are block 0's. Overlapping runs by one block chains them.
    """
    n, k, _ = diag.shape
    T = np.empty((k, k))
    piv = np.empty(k, np.int64)
    new = np.empty(acc.shape)
    for N in range(n - 1, 0, -1):
        _step(S, acc, down[N], diag[N - 1], up[N - 1], weights[N - 1], T, piv, new)


@njit(cache=True, boundscheck=False, inline="always")
def _monomials(N, mono):  # pragma: no cover - compiled
    """The monomials of block ``N``'s photon amplitudes ``v_i = sqrt(N + 1 - i)`` in
    :func:`.liouvillian_blocks._monomials` order: 1, ``v_i``, ``v_i^2``, ``v_i v_j`` (i < j)."""
    v0 = np.sqrt(max(N + 1.0, 0.0))
    v1 = np.sqrt(max(N + 0.0, 0.0))
    v2 = np.sqrt(max(N - 1.0, 0.0))
    v3 = np.sqrt(max(N - 2.0, 0.0))
    mono[0] = 1.0
    mono[1], mono[2], mono[3], mono[4] = v0, v1, v2, v3
    mono[5], mono[6], mono[7], mono[8] = v0 * v0, v1 * v1, v2 * v2, v3 * v3
    mono[9], mono[10], mono[11] = v0 * v1, v0 * v2, v0 * v3
    mono[12], mono[13], mono[14] = v1 * v2, v1 * v3, v2 * v3


@njit(cache=True, boundscheck=False, inline="always")
def _interior_block(N, columns, starts, monomials, coefficients, flat):  # pragma: no cover - compiled
    """Block ``N``'s nonzero ``(D, U, R)`` entries into ``flat`` (``3 k^2``, row-major; the other
    entries are left alone: zero them once) from the interior polynomial
    (:func:`.liouvillian_blocks._nonzero_interior_polynomial`) as terms: entry ``columns[c]`` is the
    sum over ``t = starts[c] .. starts[c + 1]`` of ``coefficients[t]`` times monomial
    ``monomials[t]`` (:func:`_monomials`).
    """
    mono = np.empty(15)
    _monomials(N, mono)
    for c in range(len(columns)):
        s = 0.0
        for t in range(starts[c], starts[c + 1]):
            s += coefficients[t] * mono[monomials[t]]
        flat[columns[c]] = s


@njit(cache=True, boundscheck=False)
def eliminate_interior(top, bottom, columns, starts, monomials, coefficients, w0, w1, S, acc):  # pragma: no cover
    """:func:`eliminate_run` over the interior blocks ``top .. bottom`` (``top > bottom``), assembled
    here from the interior polynomial's terms (:func:`_interior_block`), with functional rows ``w0 +
    N w1``. On entry ``S``, ``acc`` are block ``top``'s, on exit block ``bottom``'s."""
    k = S.shape[0]
    here = np.zeros((3, k, k))  # the entries outside ``columns`` stay zero
    below = np.zeros((3, k, k))
    weights = np.empty(acc.shape)
    T = np.empty((k, k))
    piv = np.empty(k, np.int64)
    new = np.empty(acc.shape)
    _interior_block(top, columns, starts, monomials, coefficients, here.reshape(here.size))
    for N in range(top, bottom, -1):
        _interior_block(N - 1, columns, starts, monomials, coefficients, below.reshape(below.size))
        for i in range(acc.shape[0]):
            for j in range(k):
                weights[i, j] = w0[i, j] + (N - 1) * w1[i, j]
        _step(S, acc, here[2], below[0], below[1], weights, T, piv, new)
        here, below = below, here


@njit(cache=True, boundscheck=False)
def factor_chain(diag, down, up, piv):  # pragma: no cover - compiled
    """Block LU from the top of a whole chain, in place, for repeated solves (:func:`solve_chain`).

    ``diag[N]`` is ``D_N`` (shift included), ``down[N]`` is ``R_N``, ``up[N]`` is ``U_N``, each
    ``(n, k, k)``. On exit ``diag[N]`` holds the LU of ``S_N`` (``S_top = D_top``, ``S_{N-1} =
    D_{N-1} - U_{N-1} T_N``), ``piv[N]`` its pivots and ``down[N]`` holds ``T_N = S_N^-1 R_N``.
    """
    n = diag.shape[0]
    for N in range(n - 1, -1, -1):
        _lu_factor(diag[N], piv[N])
        if N == 0:
            break
        _lu_solve(diag[N], piv[N], down[N])
        _subtract_product(diag[N - 1], up[N - 1], down[N])


@njit(cache=True, boundscheck=False)
def solve_chain(diag, piv, down, up, b, x):  # pragma: no cover - compiled
    """``x`` with ``(L - sigma) x = b`` from :func:`factor_chain`'s factors; ``b``, ``x``: ``(n, k)``.

    From the top, ``y_N = S_N^-1 (b_N - U_N y_{N+1})``; then from the bottom, ``x_0 = y_0`` and
    ``x_N = y_N - T_N x_{N-1}``. ``x`` holds ``y`` in between.
    """
    n, k, _ = diag.shape
    for N in range(n - 1, -1, -1):
        y = x[N]
        for i in range(k):
            y[i] = b[N, i]
        if N < n - 1:
            above = x[N + 1]
            for i in range(k):
                s = y[i]
                for j in range(k):
                    s -= up[N, i, j] * above[j]
                y[i] = s
        lu = diag[N]
        for c in range(k):  # row swaps, forward (unit lower), then back substitution
            p = piv[N, c]
            if p != c:
                tmp = y[c]
                y[c] = y[p]
                y[p] = tmp
        for c in range(k):
            for r in range(c + 1, k):
                y[r] -= lu[r, c] * y[c]
        for c in range(k - 1, -1, -1):
            s = y[c]
            for j in range(c + 1, k):
                s -= lu[c, j] * y[j]
            y[c] = s / lu[c, c]
    for N in range(1, n):
        for i in range(k):
            s = x[N, i]
            for j in range(k):
                s -= down[N, i, j] * x[N - 1, j]
            x[N, i] = s
