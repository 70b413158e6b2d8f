"""Two-qubit state tomography: linear inversion, projected least squares, maximum likelihood.

Conventions are those of :mod:`thermalink.analysis.tomography_data`: states in the basis
``|gg>, |ge>, |eg>, |ee>`` (qubit 1 first), counts with dims ``("setting", "outcome")``, settings
like ``"XZ"`` (qubit 1's basis first; signed ``"+X-Z"`` allowed), outcomes ``"00".."11"`` (qubit 1's
bit first, bit 0 = +1 eigenstate, ``|g>`` for ``Z``), assignment matrices
``A[i, j] = P(read i | state j)`` folded into the POVM.

The log-likelihood reported everywhere is ``sum_{s,o} n[s,o] log p[s,o]`` (natural log, without
the multinomial constant; terms with ``n = 0`` omitted); ``-inf`` when a state gives zero
probability to an observed outcome.

Methods
-------
``"linear_inversion"``
    Least squares of the outcome frequencies, each setting weighted by its number of shots, with
    unit trace imposed. Hermitian and unit trace, but may have negative eigenvalues.
``"projected_least_squares"``
    The linear-inversion estimate with its eigenvalues projected onto the probability simplex
    (the Frobenius-nearest density matrix). Physical.
``"mle"``
    Maximum likelihood, started from the projected-least-squares estimate mixed with 1e-3 of the
    maximally mixed state. First damped Newton steps in the 15 traceless Pauli coordinates while
    the full step stays positive definite (a maximum inside the states: typically 2-5 steps);
    tables whose Newton step leaves the states (maximum on or next to the boundary, e.g. rank
    deficient) continue from the projection of that step (up to 256 of a stack, batched by rank
    from 4 tables on) by Newton steps on the states of the projection's rank ``k`` (``rho = V B B^dag V^dag``, ``B`` 4 x k
    triangular; the top eigenvector of ``R`` joins the support when the steps stall short of the
    certificate; typically 2-5 steps); what is left unconverged by accelerated projected
    gradient (FISTA with backtracking and adaptive restart; every iterate projected onto the
    density matrices). Convergence is *certified* in every phase: for the current estimate
    ``rho`` and ``R = sum n[k] E[k] / p[k] / N``, concavity of the log-likelihood gives
    ``logL(MLE) - logL(rho) <= N (lambda_max(R) - 1)``; iteration stops when that bound is below
    ``tol`` (nats, default 1e-4), else after ``max_iter`` (all phases together) with a
    ``RuntimeWarning`` and ``converged = False``. The Newton phase and the projected gradient are
    batched over a stack of count tables; a single table takes well under a millisecond, inside
    the states or on the boundary.

Other methods can be registered (:func:`register_estimator`; :data:`ESTIMATORS` maps names to
estimators, :data:`METHODS` lists the built-in ones); :func:`reconstruct`,
:func:`reconstruct_many` and the bootstrap dispatch through the registry. Measurement models are
cached per (settings, assignment), with the ranks of their patterns of settings with counts and
the pseudo-inverses of linear inversion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xarray as xr

from thermalink.simulators.blas_threads import single_threaded_blas
from thermalink.simulators.conventions import BASIS_LABELS

from .tomography_data import (
    _PAULI_FROM_STATE,
    _PAULI_TO_STATE,
    PAULI_BASIS,
    PAULI_SETTINGS,
    MeasurementModel,
    informational_rank,
    measurement_model,
    parse_setting,
    pauli_to_state,
    state_to_pauli,
    validate_counts,
)

#: Default MLE tolerance: certified bound (nats) on the log-likelihood shortfall from the maximum.
MLE_TOL = 1e-4
MLE_MAX_ITER = 2000
_MIX_START = 1e-3
_TINY = 1e-300


@dataclass(frozen=True)
class TomographyResult:
    """A reconstructed state (or stack of them).

    ``density_matrix`` has shape ``(..., 4, 4)`` (basis gg, ge, eg, ee); ``log_likelihood``,
    ``converged``, ``iterations`` and ``likelihood_gap`` have the leading shape ``(...)`` (floats
    for a single state). ``likelihood_gap`` is the certified bound on ``logL(MLE) - logL(estimate)``
    (nats; MLE only, ``nan`` otherwise). ``dims`` names the leading dims of a stack.
    """

    density_matrix: np.ndarray
    method: str
    log_likelihood: float | np.ndarray
    converged: bool | np.ndarray = True
    iterations: int | np.ndarray = 0
    likelihood_gap: float | np.ndarray = float("nan")
    settings: tuple[str, ...] = PAULI_SETTINGS
    dims: tuple[str, ...] = ()

    @property
    def rho(self) -> np.ndarray:
        return self.density_matrix

    def to_xarray(self) -> xr.DataArray:
        """The density matrices as a ``DataArray`` with dims ``(*dims, "ket", "bra")``, labels
        ``gg, ge, eg, ee``, and the method and log-likelihood in ``attrs`` (single state)."""
        labels = list(BASIS_LABELS)
        out = xr.DataArray(self.density_matrix, dims=(*self.dims, "ket", "bra"),
                           coords={"ket": labels, "bra": labels}, name="density_matrix")
        out.attrs["method"] = self.method
        if not self.dims:
            out.attrs["log_likelihood"] = float(self.log_likelihood)
        return out


# ----------------------------------------------------------------------------------------------
# preparation and checks


def check_complete(values: np.ndarray, model: MeasurementModel) -> None:
    """Raise ``ValueError`` unless the settings with counts determine a state, for every table.

    ``values`` has shape ``(B, S, 4)``. Also rejects tables without any counts and counts in an
    outcome that the assignment matrix makes impossible. The rank of every pattern of settings
    with counts is computed once per measurement model (cached on it).
    """
    shots = values.sum(axis=-1)  # (B, S)
    totals = shots.sum(axis=-1)
    if totals.min() == 0:
        empty = np.flatnonzero(totals == 0)
        raise ValueError(f"count table {int(empty[0])} of {len(values)} has no counts at all")
    impossible = model.cache.get("impossible")
    if impossible is None:
        impossible = np.abs(model.design).max(axis=-1).reshape(model.n_settings, 4) < 1e-14
        model.cache["impossible"] = impossible
    if impossible.any():
        seen = np.any(values > 0, axis=0)
        if np.any(impossible & seen):
            s, o = np.argwhere(impossible & seen)[0]
            raise ValueError(
                f"counts in setting {model.settings[s]!r}, outcome {o:02b}, which the assignment "
                "matrix makes impossible (its row for that outcome is zero)"
            )
    present = shots > 0
    patterns = present[:1] if len(present) == 1 or present.all() else np.unique(present, axis=0)
    ranks = model.cache.setdefault("ranks", {})
    for pattern in patterns:
        key = pattern.tobytes()
        rank = ranks.get(key)
        if rank is None:
            rank = ranks[key] = informational_rank(model.design, np.repeat(pattern.astype(float), 4))
        if rank < 16:
            present_settings = [s for s, keep in zip(model.settings, pattern) if keep]
            bases = {"".join(p for _, p in parse_setting(s)) for s in present_settings}
            missing = [s for s in PAULI_SETTINGS if s not in bases]
            zero = sorted({s for s, keep in zip(model.settings, pattern) if not keep})
            raise ValueError(
                "the settings with counts do not determine a two-qubit state (they span "
                f"{rank} of the 16 Pauli coordinates): settings with counts {present_settings}"
                + (f", settings with zero counts {zero}" if zero else "")
                + f"; missing Pauli settings {missing}"
            )


def _prepare(counts, assignment, stacked: bool):
    values, settings, counts = validate_counts(counts, stacked=stacked)
    model = measurement_model(settings, assignment)
    lead_shape = values.shape[:-2]
    flat = values.reshape((-1,) + values.shape[-2:])
    check_complete(flat, model)
    return flat, model, lead_shape, tuple(counts.dims[:-2])


# ----------------------------------------------------------------------------------------------
# numerical core (flat stacks: values (B, S, 4), Pauli vectors (B, 16))


def log_likelihood(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``sum n log p`` over the last two axes (terms with ``n = 0`` omitted; ``-inf`` if p <= 0)."""
    n = np.asarray(values, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    observed = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(observed, n * np.log(np.where(observed & (p > 0), p, 1.0)), 0.0)
    terms = np.where(observed & (p <= 0), -np.inf, terms)
    return terms.sum(axis=(-2, -1))


_LAPACK: list = []


def _lapack():
    """scipy's LAPACK wrappers ``(zheevd, dposv)`` (imported on first use): a third of
    numpy.linalg's call overhead on the 4x4 and 15x15 problems of the single-table paths."""
    if not _LAPACK:
        from scipy.linalg import lapack

        _LAPACK.extend((lapack.zheevd, lapack.dposv))
    return _LAPACK


def _project_one(rho: np.ndarray) -> np.ndarray:
    """:func:`_project_hermitian` of one Hermitian 4x4 matrix (same arithmetic for the
    eigenvalues onto the simplex, written on 4 floats)."""
    return _project_one_ranked(rho)[0]


def _project_one_ranked(rho: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`_project_one` and the rank of the projection (its eigenvalues above 0)."""
    w, v, _ = _lapack()[0](rho)
    u = w.tolist()[::-1]  # descending
    css, total, count = [], 0.0, 0
    for k, value in enumerate(u, start=1):
        total += value
        css.append(total - 1.0)
        count += value * k > total - 1.0
    theta = css[count - 1] / count
    kept = np.maximum(w - theta, 0.0)
    return (v * kept) @ np.conj(v.T), int(np.count_nonzero(kept))


def _project_sorted_to_simplex(w: np.ndarray) -> np.ndarray:
    """Euclidean projection of rows ``w`` (..., d), sorted ascending as ``eigh`` returns them,
    onto the probability simplex: ``max(w - theta, 0)`` with ``theta`` fixing the sum to 1."""
    u = w[..., ::-1]
    css = np.cumsum(u, axis=-1) - 1.0
    k = np.arange(1, w.shape[-1] + 1)
    count = np.sum(u * k > css, axis=-1)
    theta = np.take_along_axis(css, count[..., None] - 1, axis=-1)[..., 0] / count
    return np.maximum(w - theta[..., None], 0.0)


def _positive_definite(rho: np.ndarray) -> np.ndarray:
    """Whether each Hermitian ``(B, 4, 4)`` matrix is positive definite: all pivots of its Cholesky
    factorisation (of the lower triangle, as LAPACK's ``potrf`` decides it) positive. Replaces
    ``eigvalsh(rho)[:, 0] > 0`` in the Newton phase (the two agree but at the rounding level;
    vectorised over the stack: 0.18 against 0.46 ms for 200 matrices)."""
    lower = np.zeros_like(rho)
    positive = np.ones(len(rho), dtype=bool)
    for j in range(4):
        row = lower[:, j, :j]
        pivot = (rho[:, j, j].real - np.einsum("bk,bk->b", row.real, row.real)
                 - np.einsum("bk,bk->b", row.imag, row.imag))
        positive &= pivot > 0
        root = np.sqrt(np.where(pivot > 0, pivot, 1.0))
        lower[:, j, j] = root
        if j < 3:
            below = (lower[:, j + 1:, :j] @ np.conj(row)[:, :, None])[:, :, 0]
            lower[:, j + 1:, j] = (rho[:, j + 1:, j] - below) / root[:, None]
    return positive


def _project_hermitian(rho: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(rho)  # reads the lower triangle: inputs are Hermitian up to round-off
    w = _project_sorted_to_simplex(w)
    return (v * w[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))


def project_to_states(rho) -> np.ndarray:
    """Frobenius-nearest density matrices of ``(..., 4, 4)`` (Hermitian part, eigenvalues onto
    the probability simplex)."""
    rho = np.asarray(rho, dtype=complex)
    return _project_hermitian((rho + np.conj(np.swapaxes(rho, -1, -2))) / 2)


def _linear_inversion(values: np.ndarray, model: MeasurementModel) -> np.ndarray:
    """Shot-weighted least squares with unit trace; returns Pauli vectors (B, 16)."""
    n = values.astype(float)
    shots = n.sum(axis=-1, keepdims=True)  # (B, S, 1)
    freq = np.divide(n, shots, out=np.zeros_like(n), where=shots > 0).reshape(len(n), -1)
    weights = np.repeat((shots[..., 0] / shots.sum(axis=(-2, -1))[:, None]), 4, axis=-1)  # (B, K)
    m0, mr = model.design[:, 0], model.design[:, 1:]
    target = freq - m0
    r = np.empty((len(n), 16))
    r[:, 0] = 1.0
    if np.abs(weights - weights[:1]).max() <= 1e-14:  # np.allclose(rtol=0, atol=1e-14), cheaper
        sw = np.sqrt(weights[0])
        pinvs = model.cache.setdefault("pinv", {})
        key = sw.tobytes()
        if key not in pinvs:
            if len(pinvs) > 64:
                pinvs.clear()
            pinvs[key] = np.linalg.pinv(mr * sw[:, None]).T
        r[:, 1:] = (target * sw) @ pinvs[key]
    else:
        gram = np.einsum("bk,ka,kc->bac", weights, mr, mr)
        rhs = (weights * target) @ mr
        r[:, 1:] = np.linalg.solve(gram, rhs[..., None])[..., 0]
    return r


def _domain_ok(p: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """True where every observed outcome has positive probability (the NLL is finite)."""
    return ~np.any(observed & (p <= 0), axis=-1)


def _nll_change(n_per_shot, p, dp, observed):
    """``NLL(p + dp) - NLL(p)`` per shot, computed without cancellation (inf outside the domain)."""
    ratio = np.where(observed, dp / np.maximum(p, _TINY), 0.0)  # p > 0 wherever n > 0 (checked)
    bad = np.any(ratio <= -1, axis=-1)
    ratio[bad] = 0.0
    out = -(n_per_shot * np.log1p(ratio)).sum(axis=-1)
    out[bad] = np.inf
    return out


def _nll_change_one(n_per_shot, p, dp) -> float:
    """:func:`_nll_change` of one table (1-d arrays), without its masks' passes."""
    observed = n_per_shot > 0
    ratio = dp[observed] / np.maximum(p[observed], _TINY)
    if ratio.size and ratio.min() <= -1:
        return np.inf
    return float(-(n_per_shot[observed] * np.log1p(ratio)).sum())


def _real_view(rho: np.ndarray) -> np.ndarray:
    """(B, 4, 4) complex -> (B, 32) float view (re, im interleaved), no copy."""
    return np.ascontiguousarray(rho).view(np.float64).reshape(len(rho), 32)


def _complex_from_view(v: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v).view(np.complex128).reshape(len(v), 4, 4)


def _mle_operators(model: MeasurementModel) -> tuple[np.ndarray, np.ndarray]:
    """Real matrices ``D`` (32, K), ``E`` (K, 32) with ``p = view(rho) @ D`` and
    ``view(sum_k w_k E_k) = w @ E`` for the float view of complex 4x4 matrices."""
    povm = model.povm.reshape(-1, 4, 4)
    flat = povm.reshape(len(povm), 16)
    # p_k = Tr(E_k rho) = sum_m rho_m (E_k^T)_m ; Re(z w) = z.re w.re - z.im w.im
    g = np.transpose(povm, (0, 2, 1)).reshape(len(povm), 16)
    d = np.empty((32, len(povm)))
    d[0::2], d[1::2] = g.real.T, -g.imag.T
    return d, np.ascontiguousarray(flat).view(np.float64).reshape(len(povm), 32)


def _mle_reference(values: np.ndarray, model: MeasurementModel, tol: float = MLE_TOL,
                   max_iter: int = MLE_MAX_ITER, start: np.ndarray | None = None, mix: float = _MIX_START):
    """Batched accelerated projected gradient. Returns (rho, converged, iterations, gap).

    The original MLE (kept as the reference of the fast path's tests, and used by :func:`_mle`
    for the tables whose maximum lies on the boundary of the state space). ``start`` is mixed
    with ``mix`` of the maximally mixed state.

    Minimises the per-shot negative log-likelihood ``-sum f_k log p_k`` over density matrices
    (stored as complex (B, 4, 4), multiplied as float views). The gradient is ``-R`` with
    ``R = sum_k f_k E_k / p_k``. Function *changes* are evaluated as ``-sum f log1p(dp / p)`` so
    that the backtracking test stays accurate far below the float resolution of the NLL itself.
    """
    n = values.reshape(len(values), -1).astype(float)
    total = n.sum(axis=-1)
    dmat, emat = _mle_operators(model)
    b = len(n)
    if start is None:
        start = project_to_states(pauli_to_state(_linear_inversion(values, model)))
    x_out = (1 - mix) * np.array(start, dtype=complex) + mix * np.eye(4) / 4
    converged = np.zeros(b, dtype=bool)
    iterations = np.zeros(b, dtype=int)
    gap = np.full(b, np.inf)
    # working arrays hold only the tables still iterating (compacted at every convergence check)
    active = np.arange(b)
    f = n / total[:, None]
    observed = n > 0
    tol_per_shot = tol / total
    x = x_out.copy()
    y = x.copy()
    theta = np.ones(b)
    step = np.full(b, 0.25)  # initial step (adapted per table: x1.25 on success, /2 on backtrack)

    for it in range(1, max_iter + 1):
        py = _real_view(y) @ dmat
        bad = ~_domain_ok(py, observed)
        if np.any(bad):  # extrapolated point left the domain: restart the momentum there
            y[bad] = x[bad]
            py[bad] = _real_view(y[bad]) @ dmat
            theta[bad] = 1.0
        grad = (f / np.maximum(py, _TINY)) @ emat  # view of R: the NLL decreases along +R
        yv = _real_view(y)
        cand = x.copy()
        pc = np.empty_like(py)
        todo = None  # all tables on the first try
        for _ in range(60):
            sel = slice(None) if todo is None else todo
            c = _project_hermitian(_complex_from_view(yv[sel] + step[sel, None] * grad[sel]))
            d = _real_view(c) - yv[sel]
            dp = d @ dmat
            change = _nll_change(f[sel], py[sel], dp, observed[sel])
            bound = -np.einsum("ba,ba->b", grad[sel], d) + np.einsum("ba,ba->b", d, d) / (2 * step[sel])
            ok = change <= bound
            idx = np.flatnonzero(ok) if todo is None else todo[ok]
            cand[idx], pc[idx] = c[ok], py[idx] + dp[ok]
            todo = np.flatnonzero(~ok) if todo is None else todo[~ok]
            if todo.size == 0:
                break
            step[todo] *= 0.5
        step *= 1.25
        # adaptive (gradient) restart: keep momentum only while it points downhill
        restart = np.einsum("ba,ba->b", grad, _real_view(cand) - _real_view(x)) < 0
        theta_new = (1 + np.sqrt(1 + 4 * theta**2)) / 2
        beta = np.where(restart, 0.0, (theta - 1) / theta_new)
        theta = np.where(restart, 1.0, theta_new)
        y = cand + beta[:, None, None] * (cand - x)
        x = cand
        if it % 4 == 0 or it == max_iter:
            g = np.linalg.eigvalsh(_complex_from_view((f / np.maximum(pc, _TINY)) @ emat))[:, -1] - 1.0
            done = g <= tol_per_shot
            if it == max_iter:
                done[:] = True
            finished = active[done]
            x_out[finished] = x[done]
            gap[finished] = np.maximum(g[done], 0.0) * total[finished]
            converged[finished] = g[done] <= tol_per_shot[done]
            iterations[finished] = it
            keep = ~done
            if not keep.any():
                break
            active, f, observed, tol_per_shot = active[keep], f[keep], observed[keep], tol_per_shot[keep]
            x, y, theta, step = x[keep], y[keep], theta[keep], step[keep]
    return x_out, converged, iterations, gap


_NEWTON_MAX_ITER = 30
_SMALL_STACK = 8
_ARMIJO = 1e-4
_PAULI_MATRICES = PAULI_BASIS.reshape(16, 16)  # row a: P_a flattened


def _newton_operators(model: MeasurementModel):
    ops = model.cache.get("newton")
    if ops is None:
        design = np.ascontiguousarray(model.design)
        free = np.ascontiguousarray(design[:, 1:])  # d p / d r_a for the 15 traceless coordinates
        outer = np.einsum("ka,kc->kac", free, free).reshape(len(free), 225)  # Hessian = w @ outer
        ops = model.cache["newton"] = (design.T.copy(), free, free.T.copy(), outer)
    return ops


def _certificate(q: np.ndarray, design: np.ndarray) -> np.ndarray:
    """``lambda_max(R) - 1`` with ``R = sum_k q_k E_k`` (``q = f / p``), per table."""
    coefficients = q @ design  # R = sum_a c_a P_a (E_k = sum_a design[k, a] P_a)
    return np.linalg.eigvalsh((coefficients @ _PAULI_MATRICES).reshape(-1, 4, 4))[:, -1] - 1.0


def _mle_newton(f: np.ndarray, r: np.ndarray, model: MeasurementModel, tol_per_shot: np.ndarray,
                max_iter: int):
    """Damped Newton steps on the unit-trace plane, kept inside the positive-definite states.

    ``f`` (B, K) outcome frequencies per shot, ``r`` (B, 16) Pauli vectors of positive-definite
    starts. Each step solves the Newton system of the per-shot NLL in the 15 traceless Pauli
    coordinates and backtracks (halving) until the Armijo decrease holds at a positive-definite
    trial state (changes computed as ``-sum f log1p(dp / p)``). A table stops when the certificate
    ``lambda_max(R) - 1 <= tol / N`` holds (converged), after ``max_iter`` steps, or -- handed
    over, not converged -- when the full Newton step leaves the positive-definite states (the
    maximum is then on or next to the boundary, where projected gradient steps do better); the
    hand-over point is then the projection of the full step onto the states if that is more
    likely than the current iterate.
    Returns (r, converged, iterations, certificate per shot).
    """
    design_t, free, free_t, outer = _newton_operators(model)
    b = len(r)
    kernel = _newton_kernel(b)
    if kernel is not None:  # the same steps, table by table, compiled
        r = np.array(r, dtype=float, order="C")
        f = np.ascontiguousarray(f, dtype=float)
        full = np.zeros_like(r)
        converged, iterations, gap, handed = kernel(
            f, f > 0, np.ascontiguousarray(model.design), free, free_t, _povm_flat(model),
            _PAULI_TO_STATE_C, r, np.asarray(tol_per_shot, dtype=float), int(max_iter), full)
        out = np.flatnonzero(handed)
        if out.size == 1:  # one table (as a single reconstruct hands it over): the same, lean
            i = int(out[0])
            projected = (_project_one((full[i] @ _PAULI_TO_STATE).reshape(4, 4)).reshape(16) @ _PAULI_FROM_STATE).real
            p = r[i] @ design_t
            if _nll_change_one(f[i], p, (projected - r[i]) @ design_t) < 0:
                r[i] = projected
        elif out.size:  # hand over the projection of the full Newton step if it is more likely
            states = pauli_to_state(full[out])
            projected = state_to_pauli(project_to_states(states))
            change = _nll_change(f[out], r[out] @ design_t, (projected - r[out]) @ design_t, f[out] > 0)
            better = change < 0
            r[out[better]] = projected[better]
        return r, converged, iterations, np.maximum(gap, 0.0)
    r = r.copy()
    converged = np.zeros(b, dtype=bool)
    iterations = np.zeros(b, dtype=int)
    gap = np.full(b, np.inf)
    observed = f > 0
    active = np.arange(b)
    ridge = 1e-12 * np.eye(15)
    for it in range(max_iter + 1):
        ra, fa, oa = r[active], f[active], observed[active]
        p = ra @ design_t
        q = np.divide(fa, p, out=np.zeros_like(p), where=oa)
        g = _certificate(q, design_t.T)
        gap[active] = g
        iterations[active] = it
        done = g <= tol_per_shot[active]
        converged[active[done]] = True
        keep = ~done
        if it == max_iter or not keep.any():
            break
        active, ra, fa, oa, p, q = active[keep], ra[keep], fa[keep], oa[keep], p[keep], q[keep]
        grad = -(q @ free)  # gradient of the per-shot NLL in the traceless coordinates
        hess = ((q / p) @ outer).reshape(-1, 15, 15)  # sum_k f_k d_k d_k^T / p_k^2
        scale = np.trace(hess, axis1=-2, axis2=-1)[:, None, None]
        step = -np.linalg.solve(hess + scale * ridge, grad[..., None])[..., 0]
        slope = np.einsum("ba,ba->b", grad, step)  # < 0
        dp = step @ free_t
        full = ra.copy()
        full[:, 1:] += step
        outside = ~_positive_definite(pauli_to_state(full))
        if outside.any():  # hand over the projection of the full Newton step if it is more likely
            out = np.flatnonzero(outside)
            projected = state_to_pauli(project_to_states(pauli_to_state(full[out])))
            change = _nll_change(fa[out], p[out], (projected - ra[out]) @ design_t, oa[out])
            better = change < 0
            r[active[out[better]]] = projected[better]
        t = np.ones(len(active))
        accepted = np.zeros(len(active), dtype=bool)
        todo = np.flatnonzero(~outside)
        first = True
        for _ in range(50):
            if todo.size == 0:
                break
            trial = ra[todo].copy()
            trial[:, 1:] += t[todo, None] * step[todo]
            positive = True if first else _positive_definite(pauli_to_state(trial))
            change = _nll_change(fa[todo], p[todo], t[todo, None] * dp[todo], oa[todo])
            ok = positive & (change <= _ARMIJO * t[todo] * slope[todo])
            idx = todo[ok]
            r[active[idx]] = trial[ok]
            accepted[idx] = True
            todo = todo[~ok]
            t[todo] *= 0.5
            first = False
        if not accepted.all():
            active = active[accepted]
            if active.size == 0:
                break
    return r, converged, iterations, np.maximum(gap, 0.0)


def _mle_newton_one(f: np.ndarray, r: np.ndarray, model: MeasurementModel, tol_per_shot: float,
                    max_iter: int):
    """:func:`_mle_newton` for a single table (``f`` (K,), ``r`` (16,)): the same steps, tests
    and hand-over rule, written without the batch bookkeeping (a single table is overhead-bound)."""
    zheevd, dposv = _lapack()
    design_t, free, free_t, outer = _newton_operators(model)
    observed = f > 0
    if observed.all():  # (the usual case at a few thousand shots: no copies)
        fo, outer_o, design_o, free_o, free_ot, design_ot = f, outer, model.design, free, free_t, design_t
    else:
        fo = f[observed]
        outer_o = outer[observed]
        design_o, free_o = design_t.T[observed], free[observed]
        free_ot = np.ascontiguousarray(free_o.T)
        design_ot = np.ascontiguousarray(design_o.T)
    diagonal = np.arange(15) * 16  # flat indices of the Hessian's diagonal
    r = r.copy()
    converged = False
    it = 0
    while True:
        p = r @ design_ot  # probabilities of the observed outcomes (> 0 inside the states)
        q = fo / p
        gap = zheevd(((q @ design_o) @ _PAULI_MATRICES).reshape(4, 4), compute_v=0)[0][-1] - 1.0
        if gap <= tol_per_shot:
            converged = True
            break
        if it == max_iter:
            break
        grad = -(q @ free_o)
        hess = (q / p) @ outer_o
        hess[diagonal] += 1e-12 * hess[diagonal].sum()  # ridge 1e-12 Tr(H)
        hess = hess.reshape(15, 15)
        _, step, info = dposv(hess, -grad)
        if info != 0:  # not numerically positive definite
            step = -np.linalg.solve(hess, grad)
        slope = grad @ step
        ratio_step = (step @ free_ot) / p  # dp / p along the step
        trial = r.copy()
        trial[1:] += step
        trial_state = pauli_to_state(trial)
        if zheevd(trial_state, compute_v=0)[0][0] <= 0:  # the full step leaves the states:
            projected = state_to_pauli(_project_one(trial_state))  # hand over its
            ratio = ((projected - r) @ design_ot) / p  # projection if that is more likely
            if ratio.min() > -1 and -(fo @ np.log1p(ratio)) < 0:
                r = projected
            break
        t = 1.0
        accepted = False
        for _ in range(50):
            if t < 1.0:
                trial = r.copy()
                trial[1:] += t * step
            if t == 1.0 or zheevd(pauli_to_state(trial), compute_v=0)[0][0] > 0:
                ratio = t * ratio_step
                if ratio.min() > -1 and -(fo @ np.log1p(ratio)) <= _ARMIJO * t * slope:
                    accepted = True
                    break
            t *= 0.5
        it += 1
        if not accepted:
            break
        r = trial
    return r[None], np.array([converged]), np.array([it]), np.array([max(gap, 0.0)])


def _mle_reference_one(values: np.ndarray, model: MeasurementModel, tol: float, max_iter: int,
                       start: np.ndarray):
    """:func:`_mle_reference` for one table ``values`` (S, 4) from ``start`` (4, 4) (no mixing):
    the same iteration, step rule, restart and certificate (checked every 4 iterations), written
    on 1-d arrays without the batch bookkeeping. Returns (rho, converged, iterations, gap)."""
    ops = model.cache.get("fista")
    if ops is None:
        ops = model.cache["fista"] = _mle_operators(model)
    dmat, emat = ops
    n = values.reshape(-1).astype(float)
    total = n.sum()
    f = n / total
    observed = f > 0
    tol_per_shot = tol / total
    x = np.array(start, dtype=complex)
    xv = x.view(np.float64).reshape(32)
    y, yv = x, xv
    theta, step = 1.0, 0.25
    converged, gap, it = False, np.inf, 0
    for it in range(1, max_iter + 1):
        py = yv @ dmat
        if np.any(observed & (py <= 0)):  # extrapolated point left the domain: restart there
            y, yv, theta = x, xv, 1.0
            py = yv @ dmat
        grad = (f / np.maximum(py, _TINY)) @ emat
        for _ in range(60):
            w, v = np.linalg.eigh((yv + step * grad).view(np.complex128).reshape(4, 4))
            c = (v * _project_sorted_to_simplex(w)) @ v.conj().T
            cv = c.view(np.float64).reshape(32)
            d = cv - yv
            dp = d @ dmat
            ratio = np.where(observed, dp / np.maximum(py, _TINY), 0.0)
            change = np.inf if ratio.min() <= -1 else -(f @ np.log1p(ratio))
            if change <= -(grad @ d) + (d @ d) / (2 * step):
                break
            step *= 0.5
        step *= 1.25
        restart = grad @ (cv - xv) < 0
        theta_new = (1 + np.sqrt(1 + 4 * theta**2)) / 2
        beta = 0.0 if restart else (theta - 1) / theta_new
        theta = 1.0 if restart else theta_new
        y = c + beta * (c - x)
        yv = y.view(np.float64).reshape(32)
        x, xv = c, cv
        if it % 4 == 0 or it == max_iter:
            pc = py + dp
            gap = np.linalg.eigvalsh(((f / np.maximum(pc, _TINY)) @ emat).view(np.complex128).reshape(4, 4))[-1] - 1
            if gap <= tol_per_shot:
                converged = True
                break
    return x[None], np.array([converged]), np.array([it]), np.array([max(gap, 0.0) * total])


_LOW_RANK_MAX_ITER = 24  # Newton steps of the rank-k phase (all ranks together)
_LOW_RANK_CHANGES = 2  # rank increases before handing over to the projected gradient
_LOW_RANK_SUPPORT = 1e-10  # eigenvalues of the hand-over state counted in its rank
_LOW_RANK_NEW_WEIGHT = 1e-3  # weight given to a direction added to the support
#: Most handed-over tables of a stack that take the rank-k phase (a bootstrap's 200); more go to
#: the batched projected gradient. Compiled (numba installed), up to ``_COMPILED_LOW_RANK_STACK``
#: (2000 random boundary tables: 0.30 s CPU against 0.56 s with 256; the bound keeps the rotated
#: POVMs, ~9 KB a table, below ~200 MB).
_LOW_RANK_STACK = 256
_COMPILED_LOW_RANK_STACK = 20_000
#: Fewest handed-over tables that take the rank-k phase batched (:func:`_mle_low_rank_many`).
_LOW_RANK_BATCH = 4
_LOW_RANK_LAYOUTS: dict = {}


def _low_rank_layout(k: int):
    """Free real coordinates of ``B`` (4 x k, zero above the diagonal, real on it) in the float
    view ``(4, k, 2)`` of ``B``, and the linear map (32, n^2) from the float view of a Hermitian
    ``E`` to the matrix of the quadratic form ``sum_j b_j^dag E b_j`` on them (``b_j`` the
    columns of ``B``; ``E = S + iA`` gives ``u.S.u + v.S.v - 2 u.A.v`` for ``b = u + iv``)."""
    layout = _LOW_RANK_LAYOUTS.get(k)  # (free, form, 2 I)
    if layout is None:
        mask = np.zeros((4, k, 2), dtype=bool)
        for j in range(k):
            mask[j, j, 0] = True
            mask[j + 1:, j, :] = True
        free = np.flatnonzero(mask.reshape(-1))
        form = np.zeros((4, 4, 2, 4, k, 2, 4, k, 2))
        for j in range(k):
            for i in range(4):
                for i2 in range(4):
                    form[i, i2, 0, i, j, 0, i2, j, 0] = form[i, i2, 0, i, j, 1, i2, j, 1] = 1.0
                    form[i, i2, 1, i, j, 0, i2, j, 1], form[i, i2, 1, i, j, 1, i2, j, 0] = -1.0, 1.0
        form = form.reshape(32, 8 * k, 8 * k)[:, free][:, :, free]
        layout = _LOW_RANK_LAYOUTS[k] = (free, np.ascontiguousarray(form.reshape(32, -1)), 2.0 * np.eye(len(free)))
    return layout


def _mle_low_rank_one(f: np.ndarray, rho: np.ndarray, model: MeasurementModel, tol_per_shot: float,
                      max_iter: int):
    """Newton on the states of rank ``k`` for one table whose maximum is on the boundary.

    ``f`` (K,) outcome frequencies per shot, ``rho`` (4, 4) a state near the maximum (the Newton
    hand-over point); ``k`` starts as its number of eigenvalues above ``_LOW_RANK_SUPPORT``.
    States are ``rho = V B B^dag V^dag / Tr(B B^dag)`` with ``V`` the eigenvectors of the start
    (descending) and ``B`` 4 x k, zero above its diagonal and real on it (this fixes the gauge
    ``B -> B U``; ``n = 8k - k^2`` real coordinates ``x``). Minimises
    ``h(x) = -sum f log p + Tr(B B^dag)``, whose minimum over a ray ``c rho`` is at ``c = 1``, so
    that its minimum is the rank-k maximum of the likelihood: ``p_k = x.M_k.x`` exactly, Newton
    steps (negative Hessian eigenvalues flipped where it is indefinite), Armijo backtracking on
    exact changes. Stops with the certificate of :func:`_mle` (``lambda_max(R) - 1 <= tol / N`` at
    the normalised state). When the steps stall with the certificate unmet, the top eigenvector
    of ``R`` joins the support (``k + 1``; at most ``_LOW_RANK_CHANGES`` times).
    Returns (rho, converged, iterations, certificate per shot) of the last iterate. Unconverged,
    it is a valid start for the projected gradient (every observed outcome has ``p > 0``).
    """
    zheevd, dposv = _lapack()
    povm = _povm_flat(model)
    observed = f > 0
    fo, e_obs = (f, povm) if observed.all() else (f[observed], povm[observed])
    n_obs = len(fo)
    w, v, _ = zheevd(rho)
    w, v = w[::-1], v[:, ::-1]
    k = int((w > _LOW_RANK_SUPPORT).sum())
    it, changes = 0, 0
    sigma, gap = rho, np.inf
    while True:
        # the POVM in the start's eigenbasis: (V^dag E V)_ij = sum_ab conj(V_ai) E_ab V_bj
        e_rot = e_obs @ (np.conj(v)[:, None, :, None] * v[None, :, None, :]).reshape(16, 16)
        free, form, eye = _low_rank_layout(k)
        n_free = len(free)
        forms = e_rot.view(np.float64) @ form  # (K, n^2): p_k = x.M_k.x
        forms_stacked = forms.reshape(n_obs * n_free, n_free)
        hess_forms = -2.0 * forms  # the Hessian's term is -2 sum_k q_k M_k
        full = np.zeros((4, k, 2))
        weights = np.sqrt(w[:k] / w[:k].sum()).tolist()
        for j in range(k):
            full[j, j, 0] = weights[j]
        x = full.reshape(-1)[free]
        half_jac = (forms_stacked @ x).reshape(n_obs, n_free)  # M_k x = (d p_k / d x) / 2
        stalled = False
        while True:
            p = half_jac @ x
            q = fo / p
            r_matrix = (q @ e_rot).reshape(4, 4)
            trace = x @ x
            gap = zheevd(r_matrix, compute_v=0)[0][-1] * trace - 1.0  # certificate at rho / trace
            if gap <= tol_per_shot or it >= max_iter:
                break
            grad = 2.0 * (x - q @ half_jac)
            hess = (half_jac.T * (4.0 * q / p)) @ half_jac + (q @ hess_forms).reshape(n_free, n_free) + eye
            _, step, info = dposv(hess, -grad)
            slope = grad @ step
            if info != 0 or slope >= 0:  # indefinite (a saddle of the parametrisation): flip
                lam, vec = np.linalg.eigh(hess)
                lam = np.maximum(np.abs(lam), 1e-8 * np.abs(lam).max())
                step = -(vec @ ((vec.T @ grad) / lam))
                slope = grad @ step
            if -slope <= 1e-28:  # stationary on the rank-k states: the support must grow
                stalled = True
                break
            half_jac_step = (forms_stacked @ step).reshape(n_obs, n_free)
            dp1 = 2.0 * (half_jac @ step) / p  # p(x + t s) / p = 1 + t dp1 + t^2 dp2
            dp2 = (half_jac_step @ step) / p
            linear, quadratic = 2.0 * (x @ step), step @ step  # Tr(B B^dag) changes by t lin + t^2 quad
            t, accepted = 1.0, False
            for _ in range(40):
                ratio = t * (dp1 + t * dp2)
                if ratio.min() > -1 and t * (linear + t * quadratic) - fo @ np.log1p(ratio) <= _ARMIJO * t * slope:
                    accepted = True
                    break
                t *= 0.5
            it += 1
            if not accepted:
                stalled = True
                break
            x = x + t * step
            half_jac = half_jac + t * half_jac_step  # M_k (x + t s), linear in x
        full.reshape(-1)[free] = x
        b = full.view(np.complex128).reshape(4, k)
        vb = v @ b
        sigma = (vb @ np.conj(vb.T)) / trace
        if gap <= tol_per_shot:
            return sigma, True, it, max(gap, 0.0)
        if not stalled or k == 4 or changes >= _LOW_RANK_CHANGES:
            return sigma, False, it, gap
        # add the top eigenvector of R (standard basis) to the support, with a small weight
        top = np.linalg.eigh(v @ r_matrix @ np.conj(v.T))[1][:, -1]
        w, v = np.linalg.eigh((1 - _LOW_RANK_NEW_WEIGHT) * sigma
                              + _LOW_RANK_NEW_WEIGHT * np.outer(top, np.conj(top)))
        w, v = w[::-1], v[:, ::-1]
        k, changes = k + 1, changes + 1


def _mle_low_rank_many(f: np.ndarray, rho: np.ndarray, model: MeasurementModel, tol_per_shot: np.ndarray,
                       max_iter: np.ndarray):
    """The fixed-rank phase of :func:`_mle_low_rank_one` for a stack, the tables of one start
    rank stepping together: the same coordinates, Newton steps, line search and certificate
    (``f`` (B, K), ``rho`` (B, 4, 4), per-table ``tol_per_shot`` and ``max_iter``; outcomes with
    no counts stay in the arrays with weight 0). The Newton step is exact while every Hessian of
    the group is positive definite (a batched Cholesky check, then a solve); otherwise it comes
    from ``eigh`` with the negative eigenvalues flipped (as the single-table path's fallback). A table whose steps stall short of the certificate (its
    support must grow) is flagged ``redo`` (its row holds the stalled state): :func:`_mle` grows its
    support (:func:`_grown_support`) and steps again, batched.
    Returns (rho, converged, iterations, certificate per shot, redo).
    """
    povm = _povm_flat(model)
    b = len(f)
    out = (rho.copy(), np.zeros(b, dtype=bool), np.zeros(b, dtype=int), np.full(b, np.inf), np.zeros(b, dtype=bool))
    if b == 1:  # one table: LAPACK's zheevd directly (a third of numpy.linalg's call overhead)
        w, v, _ = _lapack()[0](rho[0], lower=1)  # the lower triangle, as numpy's eigh reads it
        w, v = w[None, ::-1], v[None, :, ::-1]
    else:
        w, v = np.linalg.eigh(rho)
        w, v = w[:, ::-1], v[:, :, ::-1]
    ranks = (w > _LOW_RANK_SUPPORT).sum(axis=1)
    for k in (ranks.tolist() if b == 1 else np.unique(ranks).tolist()):
        group = np.flatnonzero(ranks == k)
        _low_rank_group(f[group], w[group, :k], v[group], povm, int(k), tol_per_shot[group], max_iter[group],
                        group, out)
    rho_out, converged, iterations, gap, redo = out
    redo &= ~converged & (ranks < 4)
    gap[converged] = np.maximum(gap[converged], 0.0)
    return rho_out, converged, iterations, gap, redo


def _grown_support(f: np.ndarray, sigma: np.ndarray, model: MeasurementModel) -> np.ndarray:
    """``(1 - w) sigma + w |t><t|`` per table (``w = _LOW_RANK_NEW_WEIGHT``, ``t`` the top
    eigenvector of ``R = sum_k (f_k / p_k) E_k`` at ``sigma``): the support growth of
    :func:`_mle_low_rank_one` for a stack ``f`` (B, K), ``sigma`` (B, 4, 4) of stalled states."""
    p = (state_to_pauli(sigma) @ model.design.T).reshape(f.shape)
    q = np.divide(f, p, out=np.zeros_like(p), where=f > 0)
    r_matrix = (q @ _povm_flat(model)).reshape(-1, 4, 4)
    top = np.linalg.eigh(r_matrix)[1][:, :, -1]
    return (1 - _LOW_RANK_NEW_WEIGHT) * sigma + _LOW_RANK_NEW_WEIGHT * top[:, :, None] * np.conj(top)[:, None, :]


#: Smallest group of the rank-k phase, and smallest stack of the Newton phase (one table
#: included), handed to the compiled kernels (numba installed; imported on first use, ~0.5 s once
#: per process; without numba the numpy paths run).
_COMPILED_GROUP = 1
_COMPILED_STACK = 1
_PAULI_TO_STATE_C = np.ascontiguousarray(_PAULI_TO_STATE, dtype=complex)  # rho.flat = r @ it


def _compiled_kernel(name: str):
    """Kernel ``name`` of :mod:`.compiled_low_rank`, or ``None`` without numba."""
    try:
        from . import compiled_low_rank
    except ImportError:
        return None
    return getattr(compiled_low_rank, name)


def _newton_kernel(tables: int):
    """The compiled Newton phase for a stack of ``tables`` (``None``: the numpy path)."""
    return _compiled_kernel("newton_steps") if tables >= _COMPILED_STACK else None


def _povm_flat(model: MeasurementModel) -> np.ndarray:
    """The model's POVM ``(K, 16)`` (each ``E_k`` flattened row-major), cached on the model."""
    povm = model.cache.get("povm_flat")
    if povm is None:
        povm = model.cache["povm_flat"] = np.ascontiguousarray(model.povm.reshape(-1, 16))
    return povm


@lru_cache(maxsize=None)
def _low_rank_form_map(k: int):
    """The layout's form as a sparse map (rows, columns, source float of ``E``, sign): each of
    its columns has at most one nonzero, +-1 (checked)."""
    form = _low_rank_layout(k)[1]
    n_free = int(round(np.sqrt(form.shape[1])))
    src, column = np.nonzero(form)
    if len(np.unique(column)) != len(column) or not np.all(np.abs(form[src, column]) == 1.0):
        raise AssertionError("the rank-k form is no longer a signed selection")
    return (column // n_free, column % n_free, src, form[src, column].copy())


@lru_cache(maxsize=None)
def _low_rank_diagonal(k: int) -> np.ndarray:
    """Positions of ``B``'s diagonal (the real parts of its entries ``(j, j)``) among the free
    coordinates of :func:`_low_rank_layout`."""
    return np.searchsorted(_low_rank_layout(k)[0], np.arange(k) * (2 * k + 2))


def _low_rank_states(v: np.ndarray, x: np.ndarray, free: np.ndarray, k: int) -> np.ndarray:
    """``V B B^dag V^dag / Tr(B B^dag)`` per table from the rank-k coordinates ``x`` (G, n)."""
    fin = np.zeros((len(x), 4, k, 2))
    fin.reshape(len(fin), -1)[:, free] = x
    vb = v @ fin.view(np.complex128).reshape(len(fin), 4, k)
    trace = (x * x).sum(axis=1)
    return (vb @ np.conj(np.swapaxes(vb, -1, -2))) / trace[:, None, None]


def _low_rank_group(f, w, v, povm, k, tol_per_shot, cap, index, out):
    """:func:`_mle_low_rank_many` for tables of one rank ``k`` (start eigenvalues ``w`` (G, k)
    and eigenvectors ``v`` (G, 4, 4), descending); writes row ``index[i]`` of the ``out`` arrays.
    The arrays of the tables still stepping are compacted whenever tables finish."""
    rho_out, converged, iterations, gap, redo = out
    free, form, eye = _low_rank_layout(k)
    n_free, n_out = len(free), f.shape[1]
    rot = (np.conj(v)[:, :, None, :, None] * v[:, None, :, None, :]).reshape(-1, 16, 16)
    e_rot = np.matmul(povm, rot)  # (G, K, 16): V^dag E_k V per table
    x = np.zeros((len(f), n_free))  # B's diagonal (the real parts of its entries (j, j)) from w
    x[:, _low_rank_diagonal(k)] = np.sqrt(w / w.sum(axis=1, keepdims=True))
    observed = f > 0
    kernel = _compiled_kernel("low_rank_steps") if len(f) >= _COMPILED_GROUP else None
    if kernel is not None:  # the same iterations, table by table, compiled (the forms read off e_rot)
        x = np.ascontiguousarray(x)
        its_c, gap_c, ok_c, stalled_c = kernel(
            np.ascontiguousarray(f), observed, e_rot, *_low_rank_form_map(k), x,
            np.asarray(tol_per_shot, dtype=float), np.asarray(cap, dtype=np.int64))
        rho_out[index] = _low_rank_states(v, x, free, k)
        converged[index], iterations[index], gap[index], redo[index] = ok_c, its_c, gap_c, stalled_c
        return
    forms = (e_rot.view(np.float64).reshape(-1, 32) @ form).reshape(len(f), n_out, -1)  # p_k = x.M_k.x
    half_jac = (forms.reshape(len(f), -1, n_free) @ x[:, :, None]).reshape(len(f), n_out, n_free)  # M_k x
    its = np.zeros(len(f), dtype=int)
    live = np.ones(len(f), dtype=bool)  # still stepping (finished rows stay until compacted)
    state = [index, v, e_rot, forms, x, half_jac, f, observed, tol_per_shot, cap, its, live]

    def finish(done, ok, gap_now, stalled):
        index, v, _, _, x = state[:5]
        rows = index[done]
        rho_out[rows] = _low_rank_states(v[done], x[done], free, k)
        converged[rows], iterations[rows], gap[rows], redo[rows] = ok[done], state[10][done], gap_now[done], stalled[done]
        state[11][done] = False
        if 2 * state[11].sum() <= len(state[11]):  # compact (the copies cost more than a few idle rows)
            state[:] = [a[state[11]] for a in state]

    while len(state[0]):
        index, v, e_rot, forms, x, half_jac, f, observed, tol_g, cap_g, its, live = state
        g = len(index)
        p = (half_jac @ x[:, :, None])[:, :, 0]
        q = np.divide(f, p, out=np.zeros_like(p), where=observed)
        r_matrix = (q[:, None, :] @ e_rot).reshape(g, 4, 4)
        gap_now = np.linalg.eigvalsh(r_matrix)[:, -1] * np.einsum("gi,gi->g", x, x) - 1.0
        ok = gap_now <= tol_g
        stop = ~live | ok | (its >= cap_g)
        grad = 2.0 * (x - (q[:, None, :] @ half_jac)[:, 0])
        curvature = np.divide(4.0 * q, p, out=np.zeros_like(p), where=observed)
        hess = (np.swapaxes(half_jac * curvature[..., None], 1, 2) @ half_jac
                - 2.0 * (q[:, None, :] @ forms).reshape(g, n_free, n_free) + eye)
        try:  # positive definite (dposv succeeds in the single-table path): the Newton step
            np.linalg.cholesky(hess)
            step = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # some are not: eigenvalues flipped where negative
            lam, vec = np.linalg.eigh(hess)
            indefinite = lam[:, 0] <= 0
            flipped = np.abs(lam[indefinite])
            lam[indefinite] = np.maximum(flipped, 1e-8 * flipped.max(axis=1, keepdims=True))
            step = -(vec @ ((np.swapaxes(vec, 1, 2) @ grad[:, :, None])[:, :, 0] / lam)[:, :, None])[:, :, 0]
        slope = np.einsum("gi,gi->g", grad, step)
        stationary = ~stop & (-slope <= 1e-28)  # stationary on the rank-k states: the support must grow
        jac_step = (forms.reshape(g, -1, n_free) @ step[:, :, None]).reshape(g, n_out, n_free)
        dp1 = np.divide(2.0 * (half_jac @ step[:, :, None])[:, :, 0], p, out=np.zeros_like(p), where=observed)
        dp2 = np.divide((jac_step @ step[:, :, None])[:, :, 0], p, out=np.zeros_like(p), where=observed)
        linear, quadratic = 2.0 * np.einsum("gi,gi->g", x, step), np.einsum("gi,gi->g", step, step)
        t = np.ones(g)
        accepted = np.zeros(g, dtype=bool)
        todo = np.flatnonzero(~stop & ~stationary)
        for _ in range(40):
            if not todo.size:
                break
            tt = t[todo, None]
            ratio = tt * (dp1[todo] + tt * dp2[todo])
            inside = ratio.min(axis=1) > -1
            ratio[~inside] = 0.0
            change = t[todo] * (linear[todo] + t[todo] * quadratic[todo]) - np.einsum("gk,gk->g", f[todo], np.log1p(ratio))
            good = inside & (change <= _ARMIJO * t[todo] * slope[todo])
            accepted[todo[good]] = True
            todo = todo[~good]
            t[todo] *= 0.5
        stepped = ~stop & ~stationary
        its[stepped] += 1
        failed = stepped & ~accepted  # no decrease along the step: stalled too
        t[~accepted] = 0.0
        x += t[:, None] * step
        half_jac += t[:, None, None] * jac_step  # M_k (x + t s), linear in x
        done = live & (stop | stationary | failed)
        if done.any():
            finish(done, ok, gap_now, stationary | failed)  # (their x is the one gap_now is of)


def _mle(values: np.ndarray, model: MeasurementModel, tol: float = MLE_TOL, max_iter: int = MLE_MAX_ITER,
         start: np.ndarray | None = None):
    """Batched MLE: damped Newton while the iterates stay inside the state space, then the rank-k
    Newton for the tables it hands over (up to ``_LOW_RANK_STACK`` of them, compiled
    ``_COMPILED_LOW_RANK_STACK``; batched by start rank,
    :func:`_mle_low_rank_many`, from ``_LOW_RANK_BATCH`` tables on, the tables that stall short of
    the certificate stepping again, batched, on a support grown by one (up to ``_LOW_RANK_CHANGES``
    times, as :func:`_mle_low_rank_one` does); table by table, :func:`_mle_low_rank_one`, below
    that), then the projected-gradient reference (:func:`_mle_reference`) for those still unconverged.
    One table whose projected linear-inversion start is rank-deficient (compiled kernels,
    ``max_iter >= 1``) starts the rank-k phase at that start (the Newton phase mostly hands such a
    table over at once).

    Same contract and certificate as :func:`_mle_reference`: a table is converged when
    ``N (lambda_max(R) - 1) <= tol``; ``max_iter`` bounds the iterations of both phases together.
    Returns (rho, converged, iterations, gap).
    """
    n = values.reshape(len(values), -1).astype(float)
    total = n.sum(axis=-1)
    boundary_start = False
    if start is None and len(n) == 1:
        start, rank = _project_one_ranked(pauli_to_state(_linear_inversion(values, model))[0])
        start = start[None]
        boundary_start = rank < 4 and max_iter > 0 and _compiled_kernel("low_rank_steps") is not None
    elif start is None:  # linear inversion, projected onto the states where it is not positive definite
        start = pauli_to_state(_linear_inversion(values, model))
        outside = ~_positive_definite(start)
        start[outside] = project_to_states(start[outside])
    if boundary_start:  # one table, its start on the boundary: the rank-k phase starts there
        rho, converged, iterations, gap = start.astype(complex), np.zeros(1, bool), np.zeros(1, int), np.full(1, np.inf)
    else:
        r0 = state_to_pauli((1 - _MIX_START) * np.asarray(start, dtype=complex) + _MIX_START * np.eye(4) / 4)
        r0[:, 0] = 1.0
        if len(n) == 1 and _newton_kernel(1) is None:
            r, converged, iterations, gap = _mle_newton_one(n[0] / total[0], r0[0], model, tol / total[0],
                                                            min(_NEWTON_MAX_ITER, max_iter))
        else:
            r, converged, iterations, gap = _mle_newton(n / total[:, None], r0, model, tol / total,
                                                        min(_NEWTON_MAX_ITER, max_iter))
        rho = pauli_to_state(r)
        gap = gap * total
    rest = np.flatnonzero(~converged & (iterations < max_iter))  # handed over (or Newton's cap)
    # compiled, even one table takes the batched phase (unless it is switched off: a batch limit
    # above the stack limit)
    compiled = _compiled_kernel("low_rank_steps") is not None
    stack = _COMPILED_LOW_RANK_STACK if compiled else _LOW_RANK_STACK
    batch = 1 if compiled and _LOW_RANK_BATCH <= stack else _LOW_RANK_BATCH
    if batch <= rest.size <= stack:  # on the boundary: the rank-k phase, batched
        budgets = np.minimum(_LOW_RANK_MAX_ITER, max_iter - iterations[rest])
        grow, changes = rest, 0
        while True:  # stalled short of the certificate: the support grows (as in _mle_low_rank_one), batched
            rho_r, conv_r, its_r, gap_r, redo = _mle_low_rank_many(n[grow] / total[grow, None], rho[grow], model,
                                                                    tol / total[grow], budgets)
            rho[grow], converged[grow], gap[grow] = rho_r, conv_r, gap_r * total[grow]
            iterations[grow] += its_r
            budgets = (budgets - its_r)[redo]
            grow = grow[redo][budgets > 0]
            budgets = budgets[budgets > 0]
            if not grow.size or changes == _LOW_RANK_CHANGES:
                one_by_one = grow[:0]
                break
            rho[grow] = _grown_support(n[grow] / total[grow, None], rho[grow], model)
            changes += 1
            if grow.size < batch:
                one_by_one = grow  # a few: table by table from their grown support
                break
    else:
        one_by_one = rest if rest.size <= stack else rest[:0]
    if one_by_one.size:  # Newton on the rank-k states, table by table
        for i in one_by_one:
            budget = max_iter - int(iterations[i])
            rho_i, conv_i, its_i, gap_i = _mle_low_rank_one(n[i] / total[i], rho[i], model, tol / total[i],
                                                            min(_LOW_RANK_MAX_ITER, budget))
            rho[i], converged[i], gap[i] = rho_i, conv_i, gap_i * total[i]
            iterations[i] += its_i
    rest = rest[~converged[rest] & (iterations[rest] < max_iter)]
    budget = max_iter - (int(iterations[rest].max()) if rest.size else 0)  # >= 1
    if rest.size and budget > 0:
        if rest.size == 1:
            rho_r, conv_r, its_r, gap_r = _mle_reference_one(values[rest[0]], model, tol, budget, rho[rest[0]])
        else:
            rho_r, conv_r, its_r, gap_r = _mle_reference(values[rest], model, tol, budget, start=rho[rest], mix=0.0)
        rho[rest], converged[rest], gap[rest] = rho_r, conv_r, gap_r
        iterations[rest] += its_r
    return rho, converged, iterations, gap


# ----------------------------------------------------------------------------------------------
# estimator registry


#: Signature of a registered estimator (see :func:`register_estimator`).
Estimator = Callable[..., "np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]"]
#: The tomography methods by name; :func:`reconstruct`, :func:`reconstruct_many` and
#: :func:`thermalink.analysis.bootstrap` dispatch through it. Change it with
#: :func:`register_estimator` / :func:`unregister_estimator`.
ESTIMATORS: dict[str, Estimator] = {}
_BUILT_IN: tuple[str, ...] = ()  # filled below, once the built-in methods are registered


def register_estimator(name: str, estimator: Estimator, *, replace: bool = False) -> None:
    """Make ``estimator`` available as ``reconstruct(counts, method=name)`` (and in the bootstrap).

    The estimator is called on a flat stack of validated count tables as
    ``estimator(values, model, *, tol, max_iter, start)``:

    * ``values``: int64 array ``(B, S, 4)``, outcomes ``00, 01, 10, 11`` (qubit 1's bit first),
      settings ``model.settings``; every table has counts and its settings with counts determine
      a state (checked before the call).
    * ``model``: the :class:`~thermalink.analysis.tomography_data.MeasurementModel` (POVM with the
      readout errors folded in, ``model.probabilities(rho)``).
    * ``tol``, ``max_iter``: the caller's stopping rule (iterative estimators; others ignore them).
    * ``start``: ``None`` or density matrices ``(B, 4, 4)`` near the answer (a warm start, e.g. the
      point estimate in a bootstrap); may be ignored.

    It returns the density matrices ``(B, 4, 4)`` (basis gg, ge, eg, ee), or a tuple
    ``(rho, converged, iterations, likelihood_gap)`` with arrays of shape ``(B,)``. Estimates may
    be unphysical (like ``"linear_inversion"``); the bootstrap then resamples from their projection.
    ``ValueError`` if ``name`` is taken (unless ``replace=True``) or ``estimator`` is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"estimator name must be a non-empty string, got {name!r}")
    if not callable(estimator):
        raise ValueError(f"estimator for {name!r} must be callable, got {estimator!r}")
    if name in ESTIMATORS and not replace:
        raise ValueError(f"tomography method {name!r} is already registered; pass replace=True to replace it")
    if name in _BUILT_IN and replace:
        raise ValueError(f"the built-in tomography method {name!r} cannot be replaced; "
                         f"built-in: {', '.join(_BUILT_IN)}")
    ESTIMATORS[name] = estimator


def unregister_estimator(name: str) -> None:
    """Remove a user-registered method (built-in methods cannot be removed)."""
    if name in _BUILT_IN:
        raise ValueError(f"the built-in tomography method {name!r} cannot be removed")
    if name not in ESTIMATORS:
        raise ValueError(f"unknown tomography method {name!r}; registered: {', '.join(ESTIMATORS)}")
    del ESTIMATORS[name]


def _linear_inversion_estimator(values, model, **options):
    return pauli_to_state(_linear_inversion(values, model))


def _projected_least_squares_estimator(values, model, **options):
    return project_to_states(pauli_to_state(_linear_inversion(values, model)))


def _mle_estimator(values, model, *, tol=MLE_TOL, max_iter=MLE_MAX_ITER, start=None, **options):
    if len(values) <= _SMALL_STACK:  # products too small to thread: skip the thread-limit switch
        return _mle(values, model, tol, max_iter, start=start)
    with single_threaded_blas():
        return _mle(values, model, tol, max_iter, start=start)


register_estimator("linear_inversion", _linear_inversion_estimator)
register_estimator("projected_least_squares", _projected_least_squares_estimator)
register_estimator("mle", _mle_estimator)
_BUILT_IN: tuple[str, ...] = tuple(ESTIMATORS)
#: The built-in methods (``tuple(ESTIMATORS)`` also lists user-registered ones).
METHODS: tuple[str, ...] = _BUILT_IN


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method not in ESTIMATORS:
        raise ValueError(f"unknown tomography method {method!r}; allowed: {', '.join(ESTIMATORS)}")
    return method


def _fit(values: np.ndarray, model: MeasurementModel, method: str, tol: float = MLE_TOL,
         max_iter: int = MLE_MAX_ITER, start: np.ndarray | None = None):
    """Fit flat stacks ``(B, S, 4)`` with the registered ``method``; returns
    (rho (B,4,4), logL, converged, iterations, gap). No validation (callers validated)."""
    b = len(values)
    out = ESTIMATORS[method](values, model, tol=tol, max_iter=max_iter, start=start)
    if isinstance(out, tuple):
        rho, converged, iterations, gap = out
    else:
        rho, converged, iterations, gap = out, np.ones(b, dtype=bool), np.zeros(b, dtype=int), np.full(b, np.nan)
    rho = np.asarray(rho, dtype=complex)
    if rho.shape != (b, 4, 4):
        raise ValueError(f"estimator {method!r} returned shape {rho.shape} for {b} count tables; "
                         f"expected ({b}, 4, 4)")
    p = (state_to_pauli(rho) @ model.design.T).reshape(values.shape)
    if b == 1:  # one table: skip log_likelihood's masks unless a probability is not positive
        observed = values.reshape(-1) > 0
        p_observed = p.reshape(-1)[observed]
        if p_observed.min() > 0:
            logl = np.array([values.reshape(-1)[observed] @ np.log(p_observed)])
        else:
            logl = log_likelihood(values, p)
    else:
        logl = log_likelihood(values, p)
    return rho, logl, np.asarray(converged), np.asarray(iterations), np.asarray(gap)


def _warn_unconverged(converged, gap, max_iter: int) -> None:
    failed = ~np.asarray(converged, dtype=bool)
    if np.any(failed):
        warnings.warn(
            f"MLE did not reach its tolerance in max_iter={max_iter} iterations for {int(failed.sum())} "
            f"of {failed.size} count tables (largest certified log-likelihood gap "
            f"{np.max(np.asarray(gap)[failed]):.3g} nats); see result.converged",
            RuntimeWarning,
            stacklevel=3,
        )


def _unstack(x, lead_shape):
    x = np.asarray(x)
    x = x.reshape(lead_shape + x.shape[1:])
    return x.item() if x.ndim == 0 else x


# ----------------------------------------------------------------------------------------------
# public API


def reconstruct(counts: xr.DataArray, method: str = "mle", assignment=None, *, tol: float = MLE_TOL,
                max_iter: int = MLE_MAX_ITER) -> TomographyResult:
    """Reconstruct one two-qubit state from a counts table.

    Parameters
    ----------
    counts
        Integer ``DataArray`` with dims ``("setting", "outcome")``; settings like ``"XZ"`` (qubit 1's
        basis first, signed ``"+X-Z"`` allowed), outcomes ``"00", "01", "10", "11"`` (qubit 1's bit
        first; bit 0 is the +1 eigenstate, ``|g>`` for ``Z``). Settings with zero counts are
        ignored; the rest must determine the state (else ``ValueError`` naming what is missing).
    method
        ``"mle"`` (default), ``"projected_least_squares"``, ``"linear_inversion"``, or any name
        registered with :func:`register_estimator` (``tuple(ESTIMATORS)`` lists them).
    assignment
        Readout errors, ``A[i, j] = P(read i | state j)``: a pair of 2x2 matrices (qubit 1, 2) or
        one 4x4 joint matrix; folded into the measurement operators.
    tol, max_iter
        MLE stopping rule: certified log-likelihood shortfall below ``tol`` nats.

    Returns
    -------
    TomographyResult
        ``density_matrix`` 4x4 in the basis ``|gg>, |ge>, |eg>, |ee>``.
    """
    _check_method(method)
    values, model, _, _ = _prepare(counts, assignment, stacked=False)
    rho, logl, conv, its, gap = _fit(values, model, method, tol, max_iter)
    _warn_unconverged(conv, gap, max_iter)
    return TomographyResult(rho[0], method, float(logl[0]), bool(conv[0]), int(its[0]), float(gap[0]),
                            model.settings)


def reconstruct_many(counts: xr.DataArray, method: str = "mle", assignment=None, *, tol: float = MLE_TOL,
                     max_iter: int = MLE_MAX_ITER) -> TomographyResult:
    """Reconstruct a stack of states at once (vectorised): counts dims ``(..., "setting", "outcome")``.

    Same conventions and options as :func:`reconstruct`; the result's arrays carry the leading dims
    of ``counts`` (named in ``result.dims``), e.g. ``density_matrix`` of shape ``(..., 4, 4)``.
    """
    _check_method(method)
    values, model, lead_shape, dims = _prepare(counts, assignment, stacked=True)
    rho, logl, conv, its, gap = _fit(values, model, method, tol, max_iter)
    _warn_unconverged(conv, gap, max_iter)
    return TomographyResult(
        rho.reshape(lead_shape + (4, 4)), method, _unstack(logl, lead_shape), _unstack(conv, lead_shape),
        _unstack(its, lead_shape), _unstack(gap, lead_shape), model.settings, dims,
    )


def state_log_likelihood(counts: xr.DataArray, rho, assignment=None) -> float | np.ndarray:
    """``sum n log p`` of counts ``(..., "setting", "outcome")`` under states ``rho`` (broadcast)."""
    values, settings, _ = validate_counts(counts, stacked=True)
    model = measurement_model(settings, assignment)
    logl = log_likelihood(values, model.probabilities(rho))
    return float(logl) if np.ndim(logl) == 0 else logl
