"""Compiled kernels of the batched MLE's two Newton phases, table by table.

Optional (needs numba, the ``fast`` extra); :mod:`.tomography` uses them for stacks when numba is
installed and keeps its numpy loops as the fallback (tested against them: the same iterations,
flags and states to rounding). The arithmetic is those loops', per table, without numpy's per-call
cost on 15 x 15 and 4 x 4 matrices:

* :func:`newton_steps`: damped Newton in the 15 traceless Pauli coordinates inside the positive
  definite states (:func:`.tomography._mle_newton`); a table whose full step leaves them stops
  and is handed back with that step (its projection onto the states is numpy's).
* :func:`low_rank_steps`: Newton on the rank-k states (:func:`.tomography._low_rank_group`):
  coordinates ``x`` of ``B``, ``p_k = x.M_k.x``, the step from a Cholesky solve or, where the
  Hessian is not positive definite, from ``eigh`` with the non-positive eigenvalues flipped.

Both take Armijo steps on exact changes. The certificate ``lambda_max(R) - 1 <= tol`` is decided
by a 4x4 Cholesky test of ``(1 + tol) I - R`` (rank-k: ``(1 + tol) / x.x``), its value computed
(``eigvalsh``) only where a table stops or the test passes (and confirms it). The Hessians' sums of
outer products are one ``np.dot`` (BLAS) per step: written as loops they did not vectorise and
cost 9.5 us a table (the interior kernel was then slower than numpy's batched loop, 8.0 against
5.4 ms for a 200-table fit).
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


@njit(cache=True, boundscheck=False, inline="always")
def _weighted_sum(q, e, out):  # pragma: no cover - compiled
    """``out = R = sum_k q_k E_k`` (4 x 4) from ``e`` (K, 16), each ``E_k`` flattened row-major."""
    out[:, :] = 0.0
    for k in range(len(q)):
        if q[k] != 0.0:
            for a in range(4):
                for b in range(4):
                    out[a, b] += q[k] * e[k, 4 * a + b]


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
def newton_steps(f, observed, design, free, free_t, povm, to_state, r, tol, max_iter, full_out):  # pragma: no cover
    """Damped Newton steps of :func:`.tomography._mle_newton`, table by table, in place on ``r``.

    ``f`` (B, K) frequencies per shot, ``observed`` (B, K), ``design`` (K, 16) (``p = design @
    r``), ``free`` (K, 15) its traceless columns and ``free_t`` their transpose (contiguous),
    ``povm`` (K, 16) the ``E_k`` flattened, ``to_state`` (16, 16) complex
    (``rho.flat = r @ to_state``), ``r`` (B, 16) Pauli
    vectors of positive-definite starts, ``tol`` (B,) certificate per shot. Returns (converged,
    iterations, certificate, handed over); a table handed over has its full Newton step, which
    leaves the positive-definite states, in ``full_out`` and its ``r`` unchanged.
    """
    b_count, k_count = f.shape
    n = 15
    converged = np.zeros(b_count, np.bool_)
    iterations = np.zeros(b_count, np.int64)
    gaps = np.full(b_count, np.inf)
    handed = np.zeros(b_count, np.bool_)
    p = np.empty(k_count)
    q = np.empty(k_count)
    dp = np.empty(k_count)
    grad = np.empty(n)
    step = np.empty(n)
    hess = np.empty((n, n))
    lower = np.empty((n, n))
    trial = np.empty(16)
    r_matrix = np.empty((4, 4), np.complex128)
    rho = np.empty((4, 4), np.complex128)
    work = np.empty((2, 4, 4), np.complex128)
    weighted = np.empty((n, k_count))
    for g in range(b_count):
        rg, fg, obs = r[g], f[g], observed[g]
        for it in range(max_iter + 1):
            for k in range(k_count):
                s = 0.0
                for a in range(16):
                    s += design[k, a] * rg[a]
                p[k] = s
                q[k] = fg[k] / s if obs[k] else 0.0
            _weighted_sum(q, povm, r_matrix)
            iterations[g] = it
            if _below(r_matrix, 1.0 + tol[g], work):
                gaps[g] = np.linalg.eigvalsh(r_matrix)[3] - 1.0
                if gaps[g] <= tol[g]:
                    converged[g] = True
                    break
            if it == max_iter:
                break
            for a in range(n):
                grad[a] = 0.0
            for k in range(k_count):
                w = q[k] / p[k] if obs[k] else 0.0
                for a in range(n):
                    grad[a] -= q[k] * free_t[a, k]
                    weighted[a, k] = w * free_t[a, k]
            np.dot(weighted, free, hess)  # sum_k (f_k / p_k^2) d_k d_k^T
            scale = 0.0
            for a in range(n):
                scale += hess[a, a]
            for a in range(n):
                hess[a, a] += scale * 1e-12
            solved, solution = _cholesky_solve(hess, grad, lower)
            if not solved:
                solution = np.linalg.solve(hess, grad)
            slope = 0.0
            for a in range(n):
                step[a] = -solution[a]
                slope += grad[a] * step[a]
            for k in range(k_count):
                s = 0.0
                for a in range(n):
                    s += free[k, a] * step[a]
                dp[k] = s
            accepted = False
            t = 1.0
            for attempt in range(51):
                trial[0] = rg[0]
                for a in range(n):
                    trial[a + 1] = rg[a + 1] + t * step[a]
                rho[:, :] = 0.0
                for a in range(16):
                    if trial[a] != 0.0:
                        for m in range(4):
                            for c in range(4):
                                rho[m, c] += trial[a] * to_state[a, 4 * m + c]
                if attempt == 0 and not _positive(rho, work[1]):  # the full step leaves the states
                    for a in range(16):
                        full_out[g, a] = trial[a]
                    handed[g] = True
                    break
                if attempt == 50:
                    break
                positive = attempt == 0 or _positive(rho, work[1])
                change = 0.0
                bad = False
                for k in range(k_count):
                    if obs[k]:
                        ratio = t * dp[k] / max(p[k], 1e-300)
                        if ratio <= -1.0:
                            bad = True
                        else:
                            change -= fg[k] * np.log1p(ratio)
                if positive and not bad and change <= ARMIJO * t * slope:
                    accepted = True
                    for a in range(16):
                        rg[a] = trial[a]
                    break
                t *= 0.5
            if not accepted:  # handed over, or no decrease along the step: the table stops here
                break
        if not converged[g]:  # the certificate at the iterate it stopped at (R is of it)
            gaps[g] = np.linalg.eigvalsh(r_matrix)[3] - 1.0
    return converged, iterations, gaps, handed


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
    weighted = np.empty((n, k_count))
    twice_q = np.empty(k_count)
    form_sum = np.empty(n * n)
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
            _weighted_sum(q, er, r_matrix)
            trace = 0.0
            for i in range(n):
                trace += xg[i] * xg[i]
            # The certificate lambda_max(R) x.x - 1 <= tol, decided by a Cholesky test; its value
            # (an eigvalsh) only where the test passes (confirmed there) or the table stops.
            if _below(r_matrix, (1.0 + tol[g]) / trace, chol4):
                gaps[g] = np.linalg.eigvalsh(r_matrix)[3] * trace - 1.0
                if gaps[g] <= tol[g]:
                    ok[g] = True
                    break
            if its[g] >= cap[g]:
                break
            for i in range(n):
                grad[i] = xg[i]
            for k in range(k_count):
                c = 4.0 * q[k] / p[k] if obs[k] else 0.0
                twice_q[k] = 2.0 * q[k]
                for i in range(n):
                    grad[i] -= q[k] * hj[k, i]
                    weighted[i, k] = c * hj[k, i]
            for i in range(n):
                grad[i] *= 2.0
            np.dot(weighted, hj, hess)  # sum_k 4 q_k / p_k (M_k x)(M_k x)^T
            np.dot(twice_q, fm.reshape(k_count, n * n), form_sum)  # sum_k 2 q_k M_k
            for i in range(n):
                for j in range(n):
                    hess[i, j] -= form_sum[i * n + j]
                hess[i, i] += 2.0
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
                break
            for i in range(n):
                xg[i] += t * step[i]
            for k in range(k_count):
                for i in range(n):
                    hj[k, i] += t * jac_step[k, i]
        if not ok[g]:  # the certificate at the iterate it stopped at (R and x.x are of it)
            gaps[g] = np.linalg.eigvalsh(r_matrix)[3] * trace - 1.0
    return its, gaps, ok, stalled
