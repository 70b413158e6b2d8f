"""Compiled kernel of the batched MLE's rank-k phase: the Newton iterations table by table.

Optional (needs numba, the ``fast`` extra); :func:`.tomography._low_rank_group` uses it when
numba is installed and keeps its numpy loop as the fallback. The arithmetic is that loop's, per
table (coordinates ``x`` of ``B``, ``p_k = x.M_k.x``, Newton step from a Cholesky solve, or from
``eigh`` with the non-positive eigenvalues flipped when the Hessian is not positive definite,
Armijo backtracking on exact changes), without numpy's per-call cost on 15 x 15 and 4 x 4
matrices: about 47 us per table and iteration batched in numpy, 11 us here. The certificate
``lambda_max(R) x.x - 1 <= tol`` is decided by a Cholesky test of ``(1 + tol) / x.x I - R``, its
value computed (``eigvalsh``) only where a table stops or the test passes (and confirms it).

(A kernel of the interior Newton phase, :func:`.tomography._mle_newton`, was tried and measured
slower than the batched numpy loop there: 8.0 against 5.4 ms for a 200-table fit of 2 steps.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

ARMIJO = 1e-4  # the same constant as tomography._ARMIJO (tested)
#: Reassociation and fused multiply-adds allowed (the dot products vectorise); NaN and inf keep
#: their meaning (a non-finite ratio still fails the line search).
_FLAGS = {"reassoc", "contract"}


@njit(cache=True, boundscheck=False)
def _cholesky_solve(a, b, lower):  # pragma: no cover - compiled
    """``(ok, a^-1 b)`` by Cholesky (``lower``: an ``n x n`` work array); ``ok`` False, and ``x``
    unset, when a pivot is not positive (``a`` not positive definite)."""
    n = a.shape[0]
    x = np.empty(n)
    for j in range(n):
        s = a[j, j]
        for m in range(j):
            s -= lower[j, m] * lower[j, m]
        if not s > 0.0:
            return False, x
        root = np.sqrt(s)
        lower[j, j] = root
        for i in range(j + 1, n):
            s = a[i, j]
            for m in range(j):
                s -= lower[i, m] * lower[j, m]
            lower[i, j] = s / root
    for i in range(n):  # L y = b
        s = b[i]
        for m in range(i):
            s -= lower[i, m] * x[m]
        x[i] = s / lower[i, i]
    for i in range(n - 1, -1, -1):  # L^T x = y
        s = x[i]
        for m in range(i + 1, n):
            s -= lower[m, i] * x[m]
        x[i] = s / lower[i, i]
    return True, x


@njit(cache=True, boundscheck=False)
def _positive(a, work):  # pragma: no cover - compiled
    """Whether the Hermitian 4 x 4 ``a`` (lower triangle read) is positive definite: all pivots of
    its Cholesky factorisation positive, as :func:`.tomography._positive_definite` decides it."""
    for j in range(4):
        s = a[j, j].real
        for m in range(j):
            s -= work[j, m].real * work[j, m].real + work[j, m].imag * work[j, m].imag
        if not s > 0.0:
            return False
        root = np.sqrt(s)
        work[j, j] = root
        for i in range(j + 1, 4):
            z = a[i, j]
            for m in range(j):
                z -= work[i, m] * np.conj(work[j, m])
            work[i, j] = z / root
    return True


@njit(cache=True, boundscheck=False)
def _below(r_matrix, level, work):  # pragma: no cover - compiled
    """Whether every eigenvalue of the Hermitian 4 x 4 ``R`` lies below ``level`` (``level I - R``
    positive definite); ``work`` two 4 x 4 complex arrays."""
    for i in range(4):
        for j in range(4):
            work[0, i, j] = -r_matrix[i, j]
        work[0, i, i] += level
    return _positive(work[0], work[1])


@njit(cache=True, boundscheck=False, fastmath=_FLAGS)
def low_rank_steps(f, observed, e_rot, form_rows, form_cols, form_src, form_sign, x, tol, cap):  # pragma: no cover
    """Newton on the rank-k states for every table of a group, in place on ``x``.

    ``f`` (G, K) frequencies per shot, ``observed`` (G, K) ``f > 0``, ``e_rot`` (G, K, 16)
    ``V^dag E_k V`` (row-major 4 x 4), ``x`` (G, n) start coordinates, ``tol`` (G,) certificate
    per shot, ``cap`` (G,) iteration budget. The quadratic forms ``M_k`` (``p_k = x.M_k.x``) are
    built per table from ``e_rot`` through the layout's sparse map: entry ``(form_rows[m], form_cols[m])`` is
    ``form_sign[m]`` times float ``form_src[m]`` of ``E_k`` (the only nonzero of that column of
    :func:`.tomography._low_rank_layout`'s form). Returns per table (iterations, certificate at
    the final ``x``, converged, stalled).
    """
    g_count, k_count = f.shape
    n = x.shape[1]
    n_form = len(form_rows)
    its = np.zeros(g_count, np.int64)
    gaps = np.zeros(g_count)
    ok = np.zeros(g_count, np.bool_)
    stalled = np.zeros(g_count, np.bool_)
    p = np.empty(k_count)
    q = np.empty(k_count)
    dp1 = np.empty(k_count)
    dp2 = np.empty(k_count)
    ratio = np.empty(k_count)
    grad = np.empty(n)
    step = np.empty(n)
    hess = np.empty((n, n))
    lower = np.empty((n, n))
    hj = np.empty((k_count, n))  # M_k x = (d p_k / d x) / 2
    jac_step = np.empty((k_count, n))
    fm = np.empty((k_count, n, n))  # M_k of the table
    r_matrix = np.empty((4, 4), np.complex128)
    chol4 = np.empty((2, 4, 4), np.complex128)
    for g in range(g_count):
        xg, fg, obs = x[g], f[g], observed[g]
        er = e_rot[g]
        ev = er.view(np.float64)
        fm[:, :, :] = 0.0
        for k in range(k_count):
            for m in range(n_form):
                fm[k, form_rows[m], form_cols[m]] = form_sign[m] * ev[k, form_src[m]]
            for i in range(n):
                s = 0.0
                for j in range(n):
                    s += fm[k, i, j] * xg[j]
                hj[k, i] = s
        while True:
            for k in range(k_count):
                s = 0.0
                for i in range(n):
                    s += hj[k, i] * xg[i]
                p[k] = s
                q[k] = fg[k] / s if obs[k] else 0.0
            r_matrix[:, :] = 0.0
            for k in range(k_count):
                if q[k] != 0.0:
                    for a in range(4):
                        for b in range(4):
                            r_matrix[a, b] += q[k] * er[k, 4 * a + b]
            trace = 0.0
            for i in range(n):
                trace += xg[i] * xg[i]
            # The certificate lambda_max(R) x.x - 1 <= tol, decided by a Cholesky test; its value
            # (an eigvalsh) only where the table stops or the test passes (confirmed there).
            gaps[g] = np.inf
            if _below(r_matrix, (1.0 + tol[g]) / trace, chol4):
                gaps[g] = np.linalg.eigvalsh(r_matrix)[3] * trace - 1.0
                if gaps[g] <= tol[g]:
                    ok[g] = True
                    break
            if its[g] >= cap[g]:
                gaps[g] = np.linalg.eigvalsh(r_matrix)[3] * trace - 1.0
                break
            for i in range(n):
                grad[i] = xg[i]
                for j in range(n):
                    hess[i, j] = 2.0 if i == j else 0.0
            for k in range(k_count):
                if obs[k]:
                    c = 4.0 * q[k] / p[k]
                    qk = 2.0 * q[k]
                    for i in range(n):
                        grad[i] -= q[k] * hj[k, i]
                        ci = c * hj[k, i]
                        for j in range(n):
                            hess[i, j] += ci * hj[k, j] - qk * fm[k, i, j]
            for i in range(n):
                grad[i] *= 2.0
            solved, solution = _cholesky_solve(hess, grad, lower)
            if solved:
                for i in range(n):
                    step[i] = -solution[i]
            else:  # not positive definite: eigenvalues flipped where negative
                lam, vec = np.linalg.eigh(hess)
                if lam[0] <= 0.0:
                    biggest = 0.0
                    for i in range(n):
                        biggest = max(biggest, abs(lam[i]))
                    for i in range(n):
                        lam[i] = max(abs(lam[i]), 1e-8 * biggest)
                coefficient = np.empty(n)
                for i in range(n):
                    s = 0.0
                    for j in range(n):
                        s += vec[j, i] * grad[j]
                    coefficient[i] = s / lam[i]
                for i in range(n):
                    s = 0.0
                    for j in range(n):
                        s += vec[i, j] * coefficient[j]
                    step[i] = -s
            slope = 0.0
            for i in range(n):
                slope += grad[i] * step[i]
            if -slope <= 1e-28:  # stationary on the rank-k states: the support must grow
                stalled[g] = True
                gaps[g] = np.linalg.eigvalsh(r_matrix)[3] * trace - 1.0
                break
            linear, quadratic = 0.0, 0.0
            for i in range(n):
                linear += 2.0 * xg[i] * step[i]
                quadratic += step[i] * step[i]
            for k in range(k_count):
                for i in range(n):
                    s = 0.0
                    for j in range(n):
                        s += fm[k, i, j] * step[j]
                    jac_step[k, i] = s
                if obs[k]:
                    d, h = 0.0, 0.0
                    for i in range(n):
                        d += hj[k, i] * step[i]
                        h += jac_step[k, i] * step[i]
                    dp1[k] = 2.0 * d / p[k]
                    dp2[k] = h / p[k]
                else:
                    dp1[k] = 0.0
                    dp2[k] = 0.0
            t, accepted = 1.0, False
            for _ in range(40):
                inside = True
                for k in range(k_count):
                    ratio[k] = t * (dp1[k] + t * dp2[k])
                    if not ratio[k] > -1.0:
                        inside = False
                if inside:
                    change = t * (linear + t * quadratic)
                    for k in range(k_count):
                        if fg[k] != 0.0:
                            change -= fg[k] * np.log1p(ratio[k])
                    if change <= ARMIJO * t * slope:
                        accepted = True
                        break
                t *= 0.5
            its[g] += 1
            if not accepted:  # no decrease along the step: stalled too (x unchanged)
                stalled[g] = True
                gaps[g] = np.linalg.eigvalsh(r_matrix)[3] * trace - 1.0
                break
            for i in range(n):
                xg[i] += t * step[i]
            for k in range(k_count):
                for i in range(n):
                    hj[k, i] += t * jac_step[k, i]
    return its, gaps, ok, stalled
