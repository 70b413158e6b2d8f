"""Certification: one-sided lower confidence bounds from tomography counts, and shot budgets.

Conventions are those of :mod:`thermalink.analysis.tomography_data` (basis ``|gg>, |ge>, |eg>,
|ee>``, qubit 1 first; counts with dims ``("setting", "outcome")``; readout errors
``A[i, j] = P(read i | state j)``). The certified figures are :data:`CERTIFIED_FIGURES`: the Bell
fidelity maximised over the phase, the singlet fidelity and Wootters' concurrence.

Lower bounds (:func:`lower_confidence_bounds`)
----------------------------------------------
Built on an unbiased estimator: the linear inversion of the readout-corrected frequencies
``A^-1 f`` (per setting; least squares over the settings). For every linear function of the state
it is exactly unbiased when ``A`` is right, so a bound from it does not inherit the bias of the
positivity-constrained MLE near the edge of state space (a bias-corrected percentile bootstrap of
the MLE covered the twin state's concurrence only 78 % of the time at a nominal 95 %).

1. Resampling (nonparametric): new tomography counts from the observed frequencies (same shots
   per setting) and, with a ``calibration`` (the counts of the four prepared basis states, see
   :func:`calibration_values`), new calibration counts from its observed frequencies (same shots
   per state), from which the per-qubit assignment matrices are re-estimated exactly as
   :mod:`thermalink.experiments.readout_calibration` does (marginals of the joint frequencies,
   averaged over the other qubit's prepared state). So the calibration's own statistical error
   enters every resample. Without a calibration the assignment matrices are taken as exact.
2. Bootstrap-t: for each quantity ``q`` the bound uses ``t* = (q* - q_hat) / se*``, with ``se*``
   the plug-in (multinomial, delta-method) standard error of the resample, and
   ``L = q_hat - t_c se_hat`` with ``t_c`` the normal quantile of the ``t*`` distribution's mean
   and spread (stable with a few hundred resamples, unlike its raw tail quantile). This corrects
   for the estimated standard error moving with the estimate (the Wald bound under-covers at few
   shots).
3. Singlet fidelity: ``q`` is the (linear) fidelity. Bell fidelity (maximised over the phase):
   ``q = (rho_ge,ge + rho_eg,eg)/2 + |rho_eg,ge|``; when ``|rho_eg,ge|`` is not resolved from 0
   (below :data:`PHASE_RESOLVED` standard errors) its modulus is biased up, and the bound falls back
   to the populations part alone (a lower bound of the Bell fidelity).
4. Concurrence: ``C >= C_X``, the concurrence of the X-part (the ``Z (x) Z`` twirl, a mixture of
   local unitaries, cannot raise it; equality for X-states such as the twin's steady states),
   ``C_X = 2 (|rho_eg,ge| - sqrt(rho_gg rho_ee))`` (or the other branch). Simultaneous bounds at
   ``alpha / 3`` each (Bonferroni) on ``|rho_eg,ge|`` (below) and ``rho_gg``, ``rho_ee`` (above) give
   ``C >= 2 (L - sqrt(U_gg U_ee))``. Conservative (coverage ~0.99 at 95 %), but it never relies on
   the estimator's behaviour at the boundary ``C = 0``, where the plug-in concurrence is biased up.
   An unresolved coherence gives the bound 0.

Bounds are clipped to [0, 1]. ``estimate`` reports the MLE's figures (what the sweep analysis
reports). Coverage is checked by simulation (tests/test_certification.py,
benchmarks/certification_speed.py): nominal from 200 shots per setting (:data:`MIN_RELIABLE_SHOTS`).

Shot budget (:func:`shot_budget`)
---------------------------------
Normal approximation of the bound above, around the predicted state ``rho``: the covariance of the
bound's quantities at ``N`` shots per setting is ``Sigma_1 / N + Sigma_cal``, with ``Sigma_1`` the
exact multinomial covariance of the readout-corrected linear inversion at one shot per setting
and ``Sigma_cal`` (with ``calibration_shots``) the delta-method covariance from the estimated error
probabilities, which does not shrink with ``N``. The bound is then ``L(N)`` (the fidelity minus
``z_c`` standard errors; for the concurrence the Bonferroni combination) with spread
``s(N)``; the budget is the smallest ``N`` with ``Phi((L(N) - target) / s(N)) >=
success_probability`` (for a fidelity: ``(theta - target) / sigma(N) >= z_c + z_s``), and at least
:data:`MIN_RELIABLE_SHOTS`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.special import ndtr, ndtri

from thermalink.simulators.blas_threads import single_threaded_blas
from thermalink.simulators.errors import InputError

from thermalink.simulators.figures_of_merit import bell_fidelity, concurrence, singlet_fidelity
from .tomography import MLE_MAX_ITER, MLE_TOL, _linear_inversion, _mle, _prepare, project_to_states
from .tomography_data import (
    PAULI_SETTINGS,
    _as_generator,
    joint_assignment_matrix,
    measurement_model,
    pauli_to_state,
    state_to_pauli,
)

#: Figures with a lower confidence bound, and the function computing each from states (..., 4, 4).
CERTIFIED_FIGURES = {
    "bell_fidelity": bell_fidelity,
    "singlet_fidelity": singlet_fidelity,
    "concurrence": concurrence,
}
#: Default certification targets: ``F > 0.70`` for the fidelities, ``C > 0`` for the concurrence.
DEFAULT_TARGETS = {"bell_fidelity": 0.70, "singlet_fidelity": 0.70, "concurrence": 0.0}
#: Default number of bootstrap resamples (each with its own calibration draw).
DEFAULT_RESAMPLES = 400
CALIBRATION_STATES = ("00", "01", "10", "11")


# ----------------------------------------------------------------------------------------------
# input checks


def check_probability(name: str, value, *, closed: bool = False) -> float:
    """``value`` as a float in (0, 1) (``[0, 1]`` with ``closed``), else ValueError naming it."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in {'[0, 1]' if closed else '(0, 1)'}, got {value!r}") from None
    ok = (0 <= value <= 1) if closed else (0 < value < 1)
    if not (math.isfinite(value) and ok):
        raise InputError(f"{name}={value!r} is outside the allowed range {'[0, 1]' if closed else '(0, 1)'}")
    return value


def check_figure(figure: str) -> str:
    if figure not in CERTIFIED_FIGURES:
        raise InputError(f"unknown figure of merit {figure!r}; allowed: {', '.join(CERTIFIED_FIGURES)}")
    return figure


def _check_resamples(n_resamples) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 20:
        raise InputError(f"n_resamples={n_resamples!r} is outside the allowed range: an integer >= 20")
    return int(n_resamples)


# ----------------------------------------------------------------------------------------------
# readout calibration counts


def calibration_values(calibration) -> np.ndarray:
    """Counts of a readout calibration as an int array ``[prepared j, read i]`` (4 x 4).

    Accepts a ``DataArray`` with dims ``("prepared", "outcome")`` (labels ``"00".."11"``, qubit 1's
    bit first), an object with such a ``counts`` attribute (a ``ReadoutCalibration``), the JSON a
    run stores (``ReadoutCalibration.to_json``: ``joint`` frequencies and ``shots``), or an array
    ``[prepared, read]``. Every prepared state needs the same, positive number of shots.
    """
    if hasattr(calibration, "counts") and isinstance(calibration.counts, xr.DataArray):
        calibration = calibration.counts
    if isinstance(calibration, str):
        try:
            stored = json.loads(calibration)
            joint = np.asarray(stored["joint"], dtype=float)  # [read i, prepared j]
            values = np.rint(joint.T * int(stored["shots"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"stored readout calibration is not readable ({exc}); expected the JSON of "
                             "ReadoutCalibration.to_json with 'joint' and 'shots'") from None
    elif isinstance(calibration, xr.DataArray):
        if set(calibration.dims) != {"prepared", "outcome"}:
            raise InputError(f"calibration counts must have dims ('prepared', 'outcome'), got {calibration.dims}")
        try:
            calibration = calibration.sel(prepared=list(CALIBRATION_STATES), outcome=list(CALIBRATION_STATES))
        except KeyError:
            raise InputError("calibration counts need the prepared states and outcomes "
                             f"{CALIBRATION_STATES} (qubit 1's bit first)") from None
        values = calibration.transpose("prepared", "outcome").values
    else:
        values = np.asarray(calibration)
    values = np.asarray(values, dtype=float)
    if values.shape != (4, 4) or not np.all(np.isfinite(values)) or np.any(values < 0) \
            or np.any(values != np.rint(values)):
        raise InputError(f"calibration counts must be non-negative integers [prepared, read] of shape (4, 4), "
                         f"got {values.tolist() if values.size <= 16 else values.shape}")
    shots = values.sum(axis=1)
    if shots[0] <= 0 or np.any(shots != shots[0]):
        raise InputError(f"calibration shots per prepared state must be equal and positive, got {shots.tolist()}")
    return values.astype(np.int64)


def assignment_from_calibration(values) -> np.ndarray:
    """Per-qubit assignment matrices ``(..., 2, 2, 2)`` from calibration counts ``(..., 4, 4)``
    ``[prepared j, read i]``: the marginals of the joint frequencies, averaged over the other
    qubit's prepared state (the convention of ``experiments.readout_calibration``)."""
    values = np.asarray(values, dtype=float)
    joint = np.swapaxes(values, -1, -2) / values.sum(axis=-1)[..., None, :]  # [read i, prepared j]
    j4 = joint.reshape(joint.shape[:-2] + (2, 2, 2, 2))  # [r1, r2, p1, p2]
    a1 = j4.sum(axis=-3).mean(axis=-1)  # [r1, p1]
    a2 = j4.sum(axis=-4).mean(axis=-2)  # [r2, p2]
    return np.stack([a1, a2], axis=-3)


def _kron_pair(pair: np.ndarray) -> np.ndarray:
    """Joint 4x4 matrices ``A1 (x) A2`` of per-qubit pairs ``(..., 2, 2, 2)``."""
    a1, a2 = pair[..., 0, :, :], pair[..., 1, :, :]
    return np.einsum("...ij,...kl->...ikjl", a1, a2).reshape(pair.shape[:-3] + (4, 4))


# ----------------------------------------------------------------------------------------------
# pieces: the linear (or nearly linear) quantities the bounds are built from

GE, EG, GG, EE = 1, 2, 0, 3


def _pieces(figure: str, rho: np.ndarray, branch: np.ndarray | int | None = None) -> np.ndarray:
    """The quantities a figure's bound is built from, shape ``(..., k)``, of Hermitian ``rho``.

    Fidelities: the figure itself (k = 1). Concurrence (k = 3), X-part branch ``b``:
    ``b = 0``: ``(|rho_eg,ge|, rho_gg,gg, rho_ee,ee)``; ``b = 1``: ``(|rho_ee,gg|, rho_ge,ge, rho_eg,eg)``.
    """
    rho = np.asarray(rho)
    if figure != "concurrence":
        return np.asarray(CERTIFIED_FIGURES[figure](rho), dtype=float)[..., None]
    p0 = np.stack([np.abs(rho[..., EG, GE]), rho[..., GG, GG].real, rho[..., EE, EE].real], axis=-1)
    p1 = np.stack([np.abs(rho[..., EE, GG]), rho[..., GE, GE].real, rho[..., EG, EG].real], axis=-1)
    if branch is None:
        return p0, p1
    return np.where(np.asarray(branch)[..., None] == 0, p0, p1)


def x_part_concurrence(rho):
    """Concurrence of the X-part of ``rho`` (its ``Z (x) Z``-twirl): ``2 max(0, |rho_eg,ge| -
    sqrt(rho_gg rho_ee), |rho_ee,gg| - sqrt(rho_ge rho_eg))``. The twirl is a mixture of local
    unitaries, so this is a lower bound on the concurrence of any state (equal for X-states, such
    as the twin's steady states)."""
    p0, p1 = _pieces("concurrence", np.asarray(rho, dtype=complex))
    c0 = p0[..., 0] - np.sqrt(np.clip(p0[..., 1], 0, None) * np.clip(p0[..., 2], 0, None))
    c1 = p1[..., 0] - np.sqrt(np.clip(p1[..., 1], 0, None) * np.clip(p1[..., 2], 0, None))
    out = 2 * np.clip(np.maximum(c0, c1), 0, None)
    return float(out) if np.ndim(out) == 0 else out


#: The coherence behind the Bell fidelity and the concurrence counts as resolved (its phase as known)
#: when its modulus exceeds this many standard errors; below, the bounds use only the phase-free part.
PHASE_RESOLVED = 4.0


def _bias_corrected(centre: np.ndarray, resampled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(2 centre - mean*, sd*)`` over the resample axis 1: bias-corrected centre, standard error."""
    return 2 * centre - resampled.mean(axis=1), resampled.std(axis=1, ddof=1)


def _populations_part(rho: np.ndarray) -> np.ndarray:
    """``(rho_ge,ge + rho_eg,eg) / 2``: the Bell fidelity without its coherence (a lower bound)."""
    return 0.5 * (rho[..., GE, GE].real + rho[..., EG, EG].real)


def _phase_resolved(rho: np.ndarray, rho_b: np.ndarray, row, col) -> np.ndarray:
    """True where ``|rho[row, col]| >= PHASE_RESOLVED * s`` with ``s`` the resampled spread per
    quadrature (``rho`` (M, 4, 4), ``rho_b`` (M, B, 4, 4), ``row``/``col`` int or (M,))."""
    idx = np.arange(len(rho))
    x = rho[idx, row, col]
    xb = rho_b[idx, :, row, col] if np.ndim(row) else rho_b[:, :, row, col]
    s = np.sqrt((xb.real.var(axis=1, ddof=1) + xb.imag.var(axis=1, ddof=1)) / 2)
    return np.abs(x) >= PHASE_RESOLVED * s


#: Matrix elements whose real and imaginary parts the bounds use, as (row, column, part).
_ELEMENTS = ((EG, GE, "re"), (EG, GE, "im"), (GG, GG, "re"), (EE, EE, "re"), (EE, GG, "re"), (EE, GG, "im"),
             (GE, GE, "re"), (EG, EG, "re"))


def _element_values(rho: np.ndarray) -> np.ndarray:
    """The real functionals of :data:`_ELEMENTS` of states ``(..., 4, 4)``: shape ``(..., 8)``."""
    return np.stack([rho[..., i, j].real if part == "re" else rho[..., i, j].imag for i, j, part in _ELEMENTS],
                    axis=-1)


def _element_sensitivities(settings, shots: np.ndarray, inverse_joint: np.ndarray) -> np.ndarray:
    """``G[m, l, s, o]``: change of functional ``l`` per unit change of the raw frequency of outcome
    ``o`` in setting ``s``, for the readout-corrected linear inversion of data set ``m``
    (``shots`` (M, S) give the least-squares weights, ``inverse_joint`` (M, 4, 4))."""
    ideal = measurement_model(settings)
    basis = pauli_to_state(np.eye(16))  # rho of r = e_a
    coeff = _element_values(basis).T[:, 1:]  # (8, 15): functional = coeff @ r_1..15 (+ const)
    mr = ideal.design[:, 1:]  # (K, 15)
    w = np.repeat(shots / shots.sum(axis=-1, keepdims=True), 4, axis=-1)  # (M, K)
    gram = np.einsum("ka,mk,kb->mab", mr, w, mr)
    proj = np.linalg.solve(gram, np.einsum("ka,mk->mak", mr, w))  # (M, 15, K): r = proj (q - m0)
    g = np.einsum("la,mak->mlk", coeff, proj).reshape(len(shots), 8, len(settings), 4)
    return np.einsum("mlsj,mji->mlsi", g, inverse_joint)


def _element_covariance(sens: np.ndarray, freq: np.ndarray, shots: np.ndarray) -> np.ndarray:
    """Plug-in multinomial covariance ``(..., 8, 8)`` of the functionals at raw frequencies
    ``freq`` (M, [B,] S, 4) with ``shots`` (M, S); ``sens`` from :func:`_element_sensitivities`."""
    n = np.maximum(shots, 1).astype(float)  # (M, S)
    m, n_l = sens.shape[:2]
    single = freq.ndim == 3
    f = freq[:, None] if single else freq  # (M, B, S, 4)
    # sum_so G_lso G_kso f_so / n_s  and  mean_ls = sum_o G_lso f_so, as batched matrix products
    weighted = (sens[:, :, None] * sens[:, None, :] / n[:, None, None, :, None]).reshape(m, n_l * n_l, -1)
    diag = (weighted @ f.reshape(m, f.shape[1], -1).transpose(0, 2, 1)).transpose(0, 2, 1)
    diag = diag.reshape(m, f.shape[1], n_l, n_l)
    mean = np.einsum("mlso,mbso->mbls", sens, f)
    scaled = mean / np.sqrt(n)[:, None, None, :]
    out = diag - scaled @ np.swapaxes(scaled, -1, -2)
    return out[:, 0] if single else out


def _piece_gradients(figure: str, elements: np.ndarray, branch) -> np.ndarray:
    """Gradients ``(..., k, 8)`` of the bound's pieces in the functionals of :data:`_ELEMENTS`."""
    shape = elements.shape[:-1]
    x = elements[..., 0] + 1j * elements[..., 1]
    y = elements[..., 4] + 1j * elements[..., 5]
    ux = np.where(np.abs(x) > 0, x / np.where(np.abs(x) > 0, np.abs(x), 1), 1.0)
    uy = np.where(np.abs(y) > 0, y / np.where(np.abs(y) > 0, np.abs(y), 1), 1.0)

    def row(**entries):
        out = np.zeros(shape + (8,))
        for idx, value in entries.items():
            out[..., int(idx[1:])] = value
        return out

    if figure == "singlet_fidelity":
        return row(i0=-1.0, i6=0.5, i7=0.5)[..., None, :]
    if figure == "bell_fidelity":
        return row(i0=ux.real, i1=ux.imag, i6=0.5, i7=0.5)[..., None, :]
    b0 = np.stack([row(i0=ux.real, i1=ux.imag), row(i2=1.0), row(i3=1.0)], axis=-2)
    b1 = np.stack([row(i4=uy.real, i5=uy.imag), row(i6=1.0), row(i7=1.0)], axis=-2)
    return np.where(np.asarray(branch)[..., None, None] == 0, b0, b1)


def _piece_sd(figure: str, rho: np.ndarray, cov: np.ndarray, branch) -> np.ndarray:
    """Delta-method standard errors ``(..., k)`` of the pieces from the functionals' covariance."""
    grad = _piece_gradients(figure, _element_values(rho), branch)
    var = np.einsum("...kl,...lj,...kj->...k", grad, cov, grad)
    return np.sqrt(np.clip(var, 0, None))


def _studentized_bound(figure: str, centre, sd_hat, resampled, sd_b, confidence: float) -> np.ndarray:
    """Bootstrap-t bound: pieces' quantiles of ``t* = (piece* - centre) / sd*`` (resample axis 1)."""
    tiny = 1e-12
    t = (resampled - centre[:, None]) / np.maximum(sd_b, tiny)
    if STUDENT_QUANTILE == "moments":
        def quantile(x, level):  # normal quantile of the t* distribution's mean and spread
            return x.mean(axis=1) + ndtri(level) * x.std(axis=1, ddof=1)
    else:
        def quantile(x, level):
            return np.quantile(x, level, axis=1)
    if figure != "concurrence":
        return centre[:, 0] - quantile(t[..., 0], confidence) * sd_hat[:, 0]
    a = (1 - confidence) / 3
    low = centre[:, 0] - quantile(t[..., 0], 1 - a) * sd_hat[:, 0]
    ua = np.clip(centre[:, 1] - quantile(t[..., 1], a) * sd_hat[:, 1], 0, None)
    ub = np.clip(centre[:, 2] - quantile(t[..., 2], a) * sd_hat[:, 2], 0, None)
    return 2 * (low - np.sqrt(ua * ub))


STUDENT_QUANTILE = "moments"


def _bound_from_pieces(figure: str, centre: np.ndarray, sd: np.ndarray, confidence: float) -> np.ndarray:
    """Lower bound of ``figure`` from piece estimates ``centre`` and standard errors ``sd`` (..., k).

    Fidelities: ``centre - z_c sd``. Concurrence: simultaneous (Bonferroni, ``alpha / 3`` each)
    bounds ``|x| >= L``, ``p_a <= U_a``, ``p_b <= U_b`` combined into ``2 (L - sqrt(U_a U_b))``."""
    if figure != "concurrence":
        return centre[..., 0] - ndtri(confidence) * sd[..., 0]
    z = ndtri(1 - (1 - confidence) / 3)
    low = centre[..., 0] - z * sd[..., 0]
    ua = np.clip(centre[..., 1] + z * sd[..., 1], 0, None)
    ub = np.clip(centre[..., 2] + z * sd[..., 2], 0, None)
    return 2 * (low - np.sqrt(ua * ub))


# ----------------------------------------------------------------------------------------------
# lower confidence bounds


@dataclass(frozen=True)
class CertificationResult:
    """Lower confidence bounds of the certified figures of one count table.

    ``estimate[name]`` is the figure of the maximum-likelihood state (what the sweep analysis
    reports), ``lower_bound[name]`` its one-sided lower bound at ``confidence``
    (``P(true value >= bound) >= confidence``). ``calibration_shots`` is the shots per prepared
    state of the resampled readout calibration (``None``: assignment matrices taken as exact).
    """

    estimate: dict[str, float]
    lower_bound: dict[str, float]
    confidence: float
    method: str
    n_resamples: int
    settings: tuple[str, ...]
    shots_per_setting: tuple[int, ...]
    calibration_shots: int | None
    density_matrix: np.ndarray = field(repr=False)

    def certified(self, figure: str = "bell_fidelity", target: float | None = None) -> bool:
        """True when the lower bound of ``figure`` exceeds ``target`` (default: :data:`DEFAULT_TARGETS`)."""
        target = DEFAULT_TARGETS[check_figure(figure)] if target is None else float(target)
        return bool(self.lower_bound[figure] > target)

    def verdict(self, figure: str = "bell_fidelity", target: float | None = None, where: str = "") -> str:
        """E.g. ``"Bell fidelity > 0.70 certified at 95 %: yes (lower bound 0.731 at point 3)"``."""
        target = DEFAULT_TARGETS[check_figure(figure)] if target is None else float(target)
        place = f" at {where}" if where else ""
        return (f"{FIGURE_NAMES[figure]} > {target:.2f} certified at {100 * self.confidence:.0f} %: "
                f"{'yes' if self.certified(figure, target) else 'no'} "
                f"(lower bound {self.lower_bound[figure]:.3f}{place}; estimate {self.estimate[figure]:.3f})")


FIGURE_NAMES = {"bell_fidelity": "Bell fidelity", "singlet_fidelity": "singlet fidelity",
                "concurrence": "concurrence"}


def _corrected_states(freq: np.ndarray, inverse_joint: np.ndarray, shots: np.ndarray, ideal) -> np.ndarray:
    """Linear-inversion states of readout-corrected frequencies ``A^-1 f`` (per setting).

    ``freq`` (..., S, 4), ``inverse_joint`` (..., 4, 4) broadcastable to it, ``shots`` (..., S)
    broadcastable (the least-squares weights). Unbiased for every linear function of the state
    when ``A`` is the true readout; Hermitian, unit trace, not necessarily positive."""
    corrected = np.einsum("...ij,...sj->...si", inverse_joint, freq)
    lead = np.broadcast_shapes(corrected.shape[:-2], np.shape(shots)[:-1])
    corrected = np.broadcast_to(corrected, lead + corrected.shape[-2:])
    weights = np.broadcast_to(np.asarray(shots, dtype=float), lead + corrected.shape[-2:-1])
    flat = (corrected * weights[..., None]).reshape((-1,) + corrected.shape[-2:])
    return pauli_to_state(_linear_inversion(flat, ideal)).reshape(lead + (4, 4))


def certify_many(values: np.ndarray, settings=PAULI_SETTINGS, assignment=None, calibration=None, *,
                 confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES, rng=None,
                 tol: float = MLE_TOL, max_iter: int = MLE_MAX_ITER, estimates: bool = True,
                 studentized: bool = True):
    """Batched core of :func:`lower_confidence_bounds` for ``M`` independent data sets.

    ``values`` int ``(M, S, 4)``; ``assignment`` ``None``, one pair / 4x4 shared by all, or per data
    set ``(M, 2, 2, 2)``; ``calibration`` ``None`` or int ``(M, 4, 4)`` ``[prepared, read]``.
    Returns ``(estimate, lower_bound)``: dicts by figure of ``(M,)`` arrays (``estimate`` is the
    MLE's figure; empty with ``estimates=False``).
    """
    confidence = check_probability("confidence", confidence)
    n_resamples = _check_resamples(n_resamples)
    gen = _as_generator(rng)
    values = np.asarray(values, dtype=np.int64)
    m, s = values.shape[:2]
    cal = None if calibration is None else np.asarray(calibration, dtype=np.int64).reshape(m, 4, 4)
    # A 4x4 assignment is the joint readout matrix (correlated errors): resample it as such.
    joint_readout = assignment is not None and np.asarray(assignment).shape[-2:] == (4, 4)
    if assignment is None and cal is not None:
        point_joint = _kron_pair(assignment_from_calibration(cal))
    elif assignment is None:
        point_joint = np.broadcast_to(np.eye(4), (m, 4, 4))
    else:
        arr = np.asarray(assignment, dtype=float)
        if arr.ndim == 4:
            point_joint = np.array([joint_assignment_matrix(a) for a in arr])
        else:
            point_joint = np.broadcast_to(joint_assignment_matrix(arr), (m, 4, 4))
    ideal = measurement_model(settings)
    shots = values.sum(axis=-1)  # (M, S)
    safe = np.maximum(shots, 1)[..., None]
    freq = values / safe  # (M, S, 4)
    rho_li = _corrected_states(freq, np.linalg.inv(point_joint), shots, ideal)
    # nonparametric resampling of the tomography counts (observed frequencies, same shots)
    boot = gen.multinomial(shots[:, None, :], np.broadcast_to(freq[:, None], (m, n_resamples, s, 4)))
    boot_freq = boot / safe[:, None]
    if cal is not None:  # and of the calibration counts, re-estimating the readout each time
        cal_shots = cal.sum(axis=-1)
        cal_boot = gen.multinomial(cal_shots[:, None, :],
                                   np.broadcast_to((cal / cal_shots[..., None])[:, None], (m, n_resamples, 4, 4)))
        if joint_readout:  # A[i, j] = P(read i | prepared j) from the resampled joint frequencies
            resampled = np.swapaxes(cal_boot, -1, -2) / cal_shots[:, None, None, :]
        else:
            resampled = _kron_pair(assignment_from_calibration(cal_boot))
        inverse = np.linalg.inv(resampled)  # (M, B, 4, 4)
    else:
        inverse = np.linalg.inv(point_joint)[:, None]
    rho_b = _corrected_states(boot_freq, inverse, shots[:, None], ideal)  # (M, B, 4, 4)
    if studentized:
        sens = _element_sensitivities(settings, shots, np.linalg.inv(point_joint))
        cov_hat, cov_b = _element_covariance(sens, freq, shots), _element_covariance(sens, boot_freq, shots)
    lower = {}
    for name in CERTIFIED_FIGURES:
        if name == "concurrence":
            p0, p1 = _pieces(name, rho_li)
            branch = (p0[:, 0] - np.sqrt(np.clip(p0[:, 1] * p0[:, 2], 0, None))
                      < p1[:, 0] - np.sqrt(np.clip(p1[:, 1] * p1[:, 2], 0, None))).astype(int)
        else:
            branch = None
        centre = _pieces(name, rho_li, branch)  # (M, k)
        resampled = _pieces(name, rho_b, None if branch is None else branch[:, None])  # (M, B, k)
        if studentized:
            bound = _studentized_bound(
                name, centre, _piece_sd(name, rho_li, cov_hat, branch), resampled,
                _piece_sd(name, rho_b, cov_b, None if branch is None else branch[:, None]), confidence)
        else:
            bound = _bound_from_pieces(name, *_bias_corrected(centre, resampled), confidence)
        if name != "singlet_fidelity":
            # |coherence| is biased up where it is not resolved from 0: there fall back to the
            # phase-free part (F_bell >= populations part; C >= 0)
            if branch is None:
                row, col = EG, GE
            else:
                row, col = np.where(branch == 0, EG, EE), np.where(branch == 0, GE, GG)
            resolved = _phase_resolved(rho_li, rho_b, row, col)
            if name == "bell_fidelity":
                fallback = _bound_from_pieces(name, *_bias_corrected(_populations_part(rho_li)[:, None],
                                                                     _populations_part(rho_b)[..., None]), confidence)
            else:
                fallback = np.zeros(m)
            bound = np.where(resolved, bound, fallback)
        lower[name] = np.clip(bound, 0.0, 1.0)
    estimate, rho_hat = {}, None
    if estimates:
        with single_threaded_blas():
            start = project_to_states(rho_li)
            rho_hat = np.empty((m, 4, 4), dtype=complex)
            for key in np.unique(point_joint.reshape(m, -1), axis=0):  # one MLE call per readout model
                rows = np.flatnonzero(np.all(point_joint.reshape(m, -1) == key, axis=1))
                model = measurement_model(settings, key.reshape(4, 4))
                rho_hat[rows] = _mle(values[rows], model, tol, max_iter, start=start[rows])[0]
        estimate = {k: np.asarray(fn(rho_hat), dtype=float) for k, fn in CERTIFIED_FIGURES.items()}
    return estimate, lower, rho_hat


METHOD = ("bootstrap-t bound on the readout-corrected linear-inversion estimate (tomography and "
          "calibration counts resampled); concurrence via its X-part with Bonferroni-combined element bounds")


def lower_confidence_bounds(counts: xr.DataArray, assignment=None, *, calibration=None, confidence: float = 0.95,
                            n_resamples: int = DEFAULT_RESAMPLES, rng=None, tol: float = MLE_TOL,
                            max_iter: int = MLE_MAX_ITER) -> CertificationResult:
    """One-sided lower confidence bounds of the Bell fidelity, singlet fidelity and concurrence.

    Parameters
    ----------
    counts
        Tomography counts, dims ``("setting", "outcome")`` (see :mod:`.tomography_data`).
    assignment
        Readout errors ``A[i, j] = P(read i | state j)`` (pair of 2x2 or 4x4 joint). Taken as exact
        unless ``calibration`` is given; ``None`` with a calibration: estimated from it.
    calibration
        The readout calibration's counts (see :func:`calibration_values`); its statistical error is
        carried into the bounds by resampling it.
    confidence
        In (0, 1); default 0.95.
    n_resamples
        Bootstrap resamples (>= 20; default 400).
    rng
        ``numpy.random.Generator`` or seed.
    """
    values, model, cal, (estimate, lower, rho_hat) = _certify_counts(
        counts, assignment, calibration, confidence, n_resamples, rng, tol, max_iter, estimates=True)
    return CertificationResult(
        estimate={k: float(v[0]) for k, v in estimate.items()},
        lower_bound={k: float(v[0]) for k, v in lower.items()},
        confidence=float(confidence), method=METHOD, n_resamples=int(n_resamples),
        settings=model.settings, shots_per_setting=tuple(int(x) for x in values[0].sum(axis=-1)),
        calibration_shots=None if cal is None else int(cal[0, 0].sum()),
        density_matrix=rho_hat[0],
    )


def lower_bounds(counts: xr.DataArray, assignment=None, *, calibration=None, confidence: float = 0.95,
                 n_resamples: int = DEFAULT_RESAMPLES, rng=None) -> dict[str, float]:
    """The ``lower_bound`` of :func:`lower_confidence_bounds` alone (same arguments, same values for
    the same ``rng``), without the maximum-likelihood estimate it also reports: for a caller that
    has that estimate already (the sweep analysis)."""
    lower = _certify_counts(counts, assignment, calibration, confidence, n_resamples, rng, MLE_TOL,
                            MLE_MAX_ITER, estimates=False)[3][1]
    return {k: float(v[0]) for k, v in lower.items()}


def _certify_counts(counts, assignment, calibration, confidence, n_resamples, rng, tol, max_iter, estimates):
    """:func:`certify_many` on one validated table; returns (values, model, calibration counts, its result)."""
    values, model, _, _ = _prepare(counts, assignment, stacked=False)
    cal = None if calibration is None else calibration_values(calibration)[None]
    with single_threaded_blas():  # small batched products: spinning BLAS threads only cost CPU
        out = certify_many(values, model.settings, assignment, cal, confidence=confidence, n_resamples=n_resamples,
                           rng=rng, tol=tol, max_iter=max_iter, estimates=estimates)
    return values, model, cal, out


# ----------------------------------------------------------------------------------------------
# shot budget


@dataclass(frozen=True)
class ShotBudget:
    """Shots per setting needed to certify ``figure > target`` (see the module docstring).

    ``standard_error_one_shot`` is the predicted standard error of the certified figure's
    estimate at one shot per setting (at ``N`` shots: divided by ``sqrt(N)``; for the concurrence,
    of its X-part bound); ``calibration_standard_error`` the part from a finite readout
    calibration, which does not shrink with the shots. ``wall_time_s`` is ``settle_time_s +
    total_shots * repetition_time_s`` (``None`` without a repetition time).
    """

    figure: str
    target: float
    predicted: float
    confidence: float
    success_probability: float
    shots_per_setting: int
    settings: tuple[str, ...]
    standard_error_one_shot: float
    calibration_standard_error: float
    calibration_shots: int | None
    repetition_time_s: float | None
    settle_time_s: float
    method: str = "normal approximation of the linear-inversion bound (exact shot-noise covariance)"
    _model: tuple = field(default=(), repr=False, compare=False)

    @property
    def n_settings(self) -> int:
        return len(self.settings)

    @property
    def total_shots(self) -> int:
        return self.shots_per_setting * self.n_settings

    @property
    def wall_time_s(self) -> float | None:
        if self.repetition_time_s is None:
            return None
        return self.settle_time_s + self.total_shots * self.repetition_time_s

    def success_at(self, shots_per_setting: int) -> float:
        """Predicted probability that the lower bound exceeds the target at ``shots_per_setting``."""
        return _success(*self._model, shots_per_setting)

    def summary(self) -> str:
        wall = "" if self.wall_time_s is None else f", wall time {self.wall_time_s:.3g} s"
        return (f"{FIGURE_NAMES[self.figure]} > {self.target:.2f} at {100 * self.confidence:.0f} % confidence "
                f"with {100 * self.success_probability:.0f} % success: {self.shots_per_setting} shots per setting "
                f"x {self.n_settings} settings (predicted {self.predicted:.3f}){wall}")


def _piece_jacobian(figure: str, rho: np.ndarray, branch, step: float = 1e-7) -> np.ndarray:
    """Central-difference Jacobian ``(k, 15)`` of the bound's pieces in the Pauli coordinates r_1..r_15."""
    r = state_to_pauli(rho)
    shifts = np.eye(16)[1:] * step
    plus = _pieces(figure, pauli_to_state(r + shifts), branch)
    minus = _pieces(figure, pauli_to_state(r - shifts), branch)
    return ((plus - minus) / (2 * step)).T


def _shot_covariance(figure: str, rho: np.ndarray, settings, joint: np.ndarray, branch) -> np.ndarray:
    """Covariance ``(k, k)`` of the pieces' estimates at one shot per setting (multinomial noise of
    the readout-corrected linear inversion, exact for the linear parts)."""
    ideal = measurement_model(settings)
    p = measurement_model(settings, joint).probabilities(rho)  # (S, 4)
    inv = np.linalg.inv(joint)
    # per setting: Cov(A^-1 f) = A^-1 (diag p - p p^T) A^-T
    cov_q = np.einsum("ij,sjk,lk->sil", inv, np.einsum("sj,jk->sjk", p, np.eye(4)) - p[:, :, None] * p[:, None, :],
                      inv)
    pinv = np.linalg.pinv(ideal.design[:, 1:])  # (15, K): r_1..15 = pinv (q - m0) (equal shots)
    blocks = pinv.reshape(15, len(settings), 4)
    cov_r = np.einsum("asi,sij,bsj->ab", blocks, cov_q, blocks)
    jac = _piece_jacobian(figure, rho, branch)
    return jac @ cov_r @ jac.T


def _calibration_covariance(figure: str, rho: np.ndarray, settings, pair: np.ndarray, calibration_shots: int,
                            branch) -> np.ndarray:
    """Delta-method covariance ``(k, k)`` of the pieces from per-qubit error probabilities estimated
    with ``calibration_shots`` per prepared state (each the mean of two binomials: variance
    ``e (1 - e) / (2 n)``), at the exact frequencies of ``rho``."""
    ideal = measurement_model(settings)
    freq = measurement_model(settings, pair).probabilities(rho)
    shots = np.ones(len(settings))
    slopes, variances = [], []
    for q in (0, 1):
        for col in (0, 1):  # error P(1|0) (column 0) and P(0|1) (column 1)
            h = 1e-6
            out = []
            for sign in (1, -1):
                shifted = pair.copy()
                shifted[q, 1 - col, col] += sign * h
                shifted[q, col, col] -= sign * h
                est = _corrected_states(freq, np.linalg.inv(_kron_pair(shifted)), shots, ideal)
                out.append(_pieces(figure, est, branch))
            slopes.append((out[0] - out[1]) / (2 * h))
            e = pair[q, 1 - col, col]
            variances.append(max(e * (1 - e), 0.0) / (2 * calibration_shots))
    slopes = np.array(slopes)  # (4, k)
    return np.einsum("pk,p,pl->kl", slopes, np.array(variances), slopes)


def _success(figure: str, pieces: np.ndarray, cov_shot: np.ndarray, cov_cal: np.ndarray, confidence: float,
             target: float, shots: float) -> float:
    """Normal approximation of ``P(lower bound > target)`` at ``shots`` per setting."""
    cov = cov_shot / shots + cov_cal
    sd = np.sqrt(np.diag(cov))
    bound = float(_bound_from_pieces(figure, pieces, sd, confidence))
    h = 1e-7
    grad = np.array([(_bound_from_pieces(figure, pieces + h * e, sd, confidence)
                      - _bound_from_pieces(figure, pieces - h * e, sd, confidence)) / (2 * h)
                     for e in np.eye(len(pieces))])
    spread = math.sqrt(max(float(grad @ cov @ grad), 1e-300))
    return float(ndtr((bound - target) / spread))


def _positive_time(name: str, value, allow_zero: bool) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number of seconds, got {value!r}") from None
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        raise InputError(f"{name}={value!r} is outside the allowed range {'[0' if allow_zero else '(0'}, inf) s")
    return value


#: Largest shot number per setting the budget searches (beyond it: "cannot be certified").
MAX_BUDGET_SHOTS = 10**12
#: Fewest shots per setting at which the bounds' coverage was checked to hold (twin state, 95 %,
#: 1000 data sets: 0.957 +- 0.007 at 200 shots, but 0.938 at 50); the budget never asks for fewer.
MIN_RELIABLE_SHOTS = 200


def shot_budget(rho, assignment=None, *, target: float | None = None, figure: str = "bell_fidelity",
                confidence: float = 0.95, success_probability: float = 0.9, repetition_time_s: float | None = None,
                settle_time_s: float = 0.0, calibration_shots: int | None = None,
                settings=PAULI_SETTINGS) -> ShotBudget:
    """Shots per setting to certify ``figure > target`` for a predicted state ``rho`` (4x4).

    ``target`` defaults to 0.70 for the fidelities and 0 for the concurrence (``C > 0``).
    ``assignment`` are the station's readout errors (pair of 2x2 or 4x4, ``A[i, j] = P(read i |
    state j)``); ``calibration_shots`` (per prepared basis state), if given, adds the calibration's
    own uncertainty (needs the per-qubit pair). ``repetition_time_s`` (per shot) and
    ``settle_time_s`` (once, before the measurement) give the wall time. ValueError for a target
    outside [0, 1], a confidence or success probability outside (0, 1), an unknown figure, a
    predicted figure not above the target, or a calibration too coarse to certify at any shots.
    """
    figure = check_figure(figure)
    target = DEFAULT_TARGETS[figure] if target is None else check_probability("target", target, closed=True)
    confidence = check_probability("confidence", confidence)
    success_probability = check_probability("success_probability", success_probability)
    rho = np.asarray(rho, dtype=complex)
    if rho.shape != (4, 4) or not np.all(np.isfinite(rho)):
        raise InputError(f"rho must be a finite 4x4 density matrix (basis gg, ge, eg, ee), got shape {rho.shape}")
    rho = project_to_states(rho)
    rep = None if repetition_time_s is None else _positive_time("repetition_time_s", repetition_time_s, False)
    settle = _positive_time("settle_time_s", settle_time_s, True)
    settings = tuple(settings)
    predicted = float(CERTIFIED_FIGURES[figure](rho))
    if not predicted > target:
        raise InputError(
            f"the predicted {figure} {predicted:.4f} is not above the target {target:.2f}: "
            "it cannot be certified at any number of shots")
    if figure == "concurrence":
        p0, p1 = _pieces(figure, rho)
        branch = int(p1[0] - math.sqrt(max(p1[1] * p1[2], 0)) > p0[0] - math.sqrt(max(p0[1] * p0[2], 0)))
        if not x_part_concurrence(rho) > target:
            raise InputError(
                f"the predicted concurrence {predicted:.4f} exceeds the target {target:.2f}, but that of its "
                f"X-part, {x_part_concurrence(rho):.4f}, which the bound certifies, does not")
    else:
        branch = None
    joint = joint_assignment_matrix(assignment)
    joint = np.eye(4) if joint is None else joint
    pieces = np.atleast_1d(_pieces(figure, rho, branch))
    cov_shot = _shot_covariance(figure, rho, settings, joint, branch)
    cov_cal = np.zeros_like(cov_shot)
    if calibration_shots is not None:
        if isinstance(calibration_shots, bool) or not isinstance(calibration_shots, (int, np.integer)) \
                or calibration_shots < 1:
            raise InputError(f"calibration_shots={calibration_shots!r} is outside the allowed range: an integer >= 1")
        pair = np.array([np.eye(2), np.eye(2)]) if assignment is None else np.asarray(assignment, dtype=float)
        if pair.shape != (2, 2, 2):
            raise InputError("calibration_shots needs per-qubit assignment matrices (a pair of 2x2), "
                             f"got shape {pair.shape}")
        cov_cal = _calibration_covariance(figure, rho, settings, pair, int(calibration_shots), branch)
    model = (figure, pieces, cov_shot, cov_cal, confidence, float(target))
    if _success(*model, MAX_BUDGET_SHOTS) < success_probability:
        limit = "the readout calibration" if calibration_shots is not None else "the readout errors"
        raise InputError(
            f"the predicted {figure} {predicted:.4f} > {target:.2f} cannot be certified with probability "
            f"{success_probability} at any number of shots up to {MAX_BUDGET_SHOTS:.0e}: {limit} limit the bound"
            + ("; calibrate with more shots" if calibration_shots is not None else ""))
    low, high = 0, 1
    while _success(*model, high) < success_probability:
        low, high = high, high * 2
    while high - low > 1:  # smallest integer with success >= success_probability
        mid = (low + high) // 2
        low, high = (mid, high) if _success(*model, mid) < success_probability else (low, mid)
    if figure == "concurrence":
        grad_sd = float(np.sqrt(np.diag(cov_shot)).sum())
        cal_sd = float(np.sqrt(np.diag(cov_cal)).sum())
    else:
        grad_sd, cal_sd = math.sqrt(cov_shot[0, 0]), math.sqrt(cov_cal[0, 0])
    return ShotBudget(
        figure=figure, target=float(target), predicted=predicted, confidence=confidence,
        success_probability=success_probability, shots_per_setting=max(int(high), MIN_RELIABLE_SHOTS),
        settings=settings,
        standard_error_one_shot=grad_sd, calibration_standard_error=cal_sd,
        calibration_shots=None if calibration_shots is None else int(calibration_shots),
        repetition_time_s=rep, settle_time_s=settle, _model=model,
    )
