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
    Maximum likelihood by accelerated projected gradient (FISTA with backtracking and adaptive
    restart; every iterate is projected onto the density matrices, so the estimate is physical by
    construction, including rank-deficient ones). Started from the projected-least-squares estimate
    mixed with 1e-3 of the maximally mixed state. Convergence is *certified*: for the current
    estimate ``rho`` and ``R = sum n[k] E[k] / p[k] / N``, concavity of the log-likelihood gives
    ``logL(MLE) - logL(rho) <= N (lambda_max(R) - 1)`` (checked every 4 iterations); iteration
    stops when that bound is below ``tol`` (nats, default 1e-4), else after ``max_iter`` with a
    ``RuntimeWarning`` and ``converged = False``. Everything is batched over a stack of count
    tables (a few thousand tables per second on 2 cores); single tables are overhead-bound
    (~5-10 ms), so sweeps and bootstraps should use :func:`reconstruct_many`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from thermalink.simulators.blas_threads import single_threaded_blas
from thermalink.simulators.conventions import BASIS_LABELS

from .tomography_data import (
    PAULI_SETTINGS,
    MeasurementModel,
    informational_rank,
    measurement_model,
    parse_setting,
    pauli_to_state,
    state_to_pauli,
    validate_counts,
)

METHODS: tuple[str, ...] = ("linear_inversion", "projected_least_squares", "mle")
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


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown tomography method {method!r}; allowed: {', '.join(METHODS)}")
    return method


def check_complete(values: np.ndarray, model: MeasurementModel) -> None:
    """Raise ``ValueError`` unless the settings with counts determine a state, for every table.

    ``values`` has shape ``(B, S, 4)``. Also rejects tables without any counts and counts in an
    outcome that the assignment matrix makes impossible.
    """
    shots = values.sum(axis=-1)  # (B, S)
    empty = np.flatnonzero(shots.sum(axis=-1) == 0)
    if empty.size:
        raise ValueError(f"count table {int(empty[0])} of {len(values)} has no counts at all")
    impossible = np.abs(model.design).max(axis=-1).reshape(model.n_settings, 4) < 1e-14
    if np.any(impossible & np.any(values > 0, axis=0)):
        s, o = np.argwhere(impossible & np.any(values > 0, axis=0))[0]
        raise ValueError(
            f"counts in setting {model.settings[s]!r}, outcome {o:02b}, which the assignment "
            "matrix makes impossible (its row for that outcome is zero)"
        )
    for pattern in np.unique(shots > 0, axis=0):
        weights = np.repeat(pattern.astype(float), 4)
        rank = informational_rank(model.design, weights)
        if rank < 16:
            present = [s for s, keep in zip(model.settings, pattern) if keep]
            bases = {"".join(p for _, p in parse_setting(s)) for s in present}
            missing = [s for s in PAULI_SETTINGS if s not in bases]
            zero = sorted({s for s, keep in zip(model.settings, pattern) if not keep})
            raise ValueError(
                "the settings with counts do not determine a two-qubit state (they span "
                f"{rank} of the 16 Pauli coordinates): settings with counts {present}"
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


def _project_sorted_to_simplex(w: np.ndarray) -> np.ndarray:
    """Euclidean projection of rows ``w`` (..., d), sorted ascending as ``eigh`` returns them,
    onto the probability simplex: ``max(w - theta, 0)`` with ``theta`` fixing the sum to 1."""
    u = w[..., ::-1]
    css = np.cumsum(u, axis=-1) - 1.0
    k = np.arange(1, w.shape[-1] + 1)
    count = np.sum(u * k > css, axis=-1)
    theta = np.take_along_axis(css, count[..., None] - 1, axis=-1)[..., 0] / count
    return np.maximum(w - theta[..., None], 0.0)


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
    if np.allclose(weights, weights[:1], rtol=0, atol=1e-14):
        sw = np.sqrt(weights[0])
        r[:, 1:] = (target * sw) @ np.linalg.pinv(mr * sw[:, None]).T
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


def _mle(values: np.ndarray, model: MeasurementModel, tol: float = MLE_TOL, max_iter: int = MLE_MAX_ITER,
         start: np.ndarray | None = None):
    """Batched accelerated projected gradient. Returns (rho, converged, iterations, gap).

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
    x_out = (1 - _MIX_START) * np.array(start, dtype=complex) + _MIX_START * np.eye(4) / 4
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


def _fit(values: np.ndarray, model: MeasurementModel, method: str, tol: float = MLE_TOL,
         max_iter: int = MLE_MAX_ITER):
    """Fit flat stacks ``(B, S, 4)``; returns (rho (B,4,4), logL, converged, iterations, gap)."""
    b = len(values)
    r = _linear_inversion(values, model)
    converged = np.ones(b, dtype=bool)
    iterations = np.zeros(b, dtype=int)
    gap = np.full(b, np.nan)
    if method == "linear_inversion":
        rho = pauli_to_state(r)
    elif method == "projected_least_squares":
        rho = project_to_states(pauli_to_state(r))
    else:
        with single_threaded_blas():
            rho, converged, iterations, gap = _mle(values, model, tol, max_iter,
                                                   start=project_to_states(pauli_to_state(r)))
    p = (state_to_pauli(rho) @ model.design.T).reshape(values.shape)
    return rho, log_likelihood(values, p), converged, iterations, gap


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
        ``"mle"`` (default), ``"projected_least_squares"`` or ``"linear_inversion"``.
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
