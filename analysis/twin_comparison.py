"""Is a measured state consistent with the digital twin's prediction, and by how much?

Two answers, for counts measured in any informationally complete set of settings:

* **Distance.** Uhlmann fidelity and trace distance between the maximum-likelihood estimate and
  the twin's state, with parametric-bootstrap intervals (:func:`thermalink.analysis.bootstrap`).
* **Goodness of fit.** The likelihood-ratio statistic ``LR = 2 (logL(MLE) - logL(twin))`` of the
  counts, with the twin's outcome probabilities computed for the same settings and readout errors.
  ``p_value`` uses Wilks' chi-squared law with 15 degrees of freedom (the free parameters of a
  two-qubit state); because that law fails near the boundary of state space (rank-deficient
  states), ``p_value_simulated`` calibrates the same statistic by simulating ``n_null_samples``
  data sets from the twin itself (parametric bootstrap under the null, ``(1 + #{LR_i >= LR}) /
  (1 + n)``). The verdict ``consistent`` uses the simulated p-value when available.

The fidelity of an estimate to the true state is biased below 1 by the shot noise (about 1e-2 at
1000 shots per setting for the twin's states), so a fidelity interval that excludes 1 does not by
itself mean disagreement: the likelihood-ratio test is the consistency verdict, the fidelity and
trace distance say by how much the states differ.

Conventions are those of :mod:`thermalink.analysis.tomography_data` (basis gg, ge, eg, ee; qubit 1
first in settings and outcomes; ``A[i, j] = P(read i | state j)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import chdtrc  # chi2.sf(x, k) = chdtrc(k, x); scipy.stats costs 0.25 s to import

from thermalink.simulators.blas_threads import single_threaded_blas
from thermalink.simulators.errors import InputError

from .bootstrap_intervals import BootstrapResult, _bootstrap, _check_level, resample_counts
from .tomography import MLE_MAX_ITER, MLE_TOL, _fit, _prepare, log_likelihood
from .tomography_data import _as_generator

#: Free real parameters of a two-qubit density matrix: the degrees of freedom of the LR test.
STATE_PARAMETERS = 15


@dataclass(frozen=True)
class TwinComparison:
    """Measured counts against the twin's predicted state.

    ``fidelity``/``trace_distance`` are between the MLE and the twin state, with bootstrap
    ``*_interval`` at ``confidence_level`` from ``n_resamples`` resamples. ``likelihood_ratio`` is
    ``2 (logL(MLE) - logL(twin))`` (``inf`` if the twin forbids an observed outcome);
    ``p_value`` (chi-squared, ``degrees_of_freedom``) and ``p_value_simulated`` (``None`` if not
    simulated) test "the counts come from the twin's state". ``consistent`` is
    ``p >= significance``.
    """

    fidelity: float
    fidelity_interval: tuple[float, float]
    trace_distance: float
    trace_distance_interval: tuple[float, float]
    likelihood_ratio: float
    degrees_of_freedom: int
    p_value: float
    p_value_simulated: float | None
    significance: float
    consistent: bool
    confidence_level: float
    n_resamples: int
    bootstrap: BootstrapResult

    def summary(self) -> str:
        """One line a run log can print."""
        lo, hi = self.fidelity_interval
        p = self.p_value_simulated if self.p_value_simulated is not None else self.p_value
        verdict = "consistent with the twin" if self.consistent else "NOT consistent with the twin"
        return (
            f"{verdict}: fidelity {self.fidelity:.4f} [{lo:.4f}, {hi:.4f}] "
            f"({100 * self.confidence_level:.0f}% CI), trace distance {self.trace_distance:.4f}, "
            f"LR = {self.likelihood_ratio:.2f} (dof {self.degrees_of_freedom}), p = {p:.3g} "
            f"(significance {self.significance})"
        )


def _predicted_state(predicted) -> np.ndarray:
    from thermalink.simulators import LinkParameters, steady_state

    if isinstance(predicted, LinkParameters):
        predicted = steady_state(predicted)
    rho = np.asarray(predicted, dtype=complex)
    if rho.shape != (4, 4):
        raise ValueError(f"the twin's predicted state must be a 4x4 density matrix, got shape {rho.shape}")
    if not np.allclose(rho, rho.conj().T, atol=1e-8):
        raise ValueError("the twin's predicted state is not Hermitian")
    trace = np.trace(rho).real
    if abs(trace - 1) > 1e-6:
        raise ValueError(f"the twin's predicted state has trace {trace:.8g}, not 1")
    if np.linalg.eigvalsh(rho).min() < -1e-8:
        raise ValueError(
            f"the twin's predicted state has a negative eigenvalue {np.linalg.eigvalsh(rho).min():.3g}"
        )
    return rho


#: Negative predicted probabilities down to this are rounding (clipped to 0); below it, refused.
NEGATIVE_TOLERANCE = 1e-9


def _probabilities(probabilities, shape) -> np.ndarray:
    p = np.asarray(probabilities, dtype=float)
    if p.shape != shape:
        raise InputError(f"predicted_probabilities has shape {p.shape}; expected {shape} (settings x outcomes)")
    negative = np.argwhere(p < -NEGATIVE_TOLERANCE)
    if negative.size:
        listed = ", ".join(f"[{s}, {o}] = {p[s, o]:.3g}" for s, o in negative[:8])
        raise InputError(
            f"predicted_probabilities has negative entries {listed} (setting, outcome; allowed: >= "
            f"-{NEGATIVE_TOLERANCE:g}, rounding): they are not outcome probabilities of any readout"
        )
    p = np.clip(p, 0.0, None)  # rounding only
    return p / p.sum(axis=-1, keepdims=True)


def _g_statistic(tables: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``2 sum n log(f / p)`` of count tables ``(B, S, 4)`` against probabilities ``p`` ``(S, 4)``
    (``f`` the observed frequencies per setting; ``inf`` where ``p = 0`` is observed)."""
    n = np.asarray(tables, dtype=float)
    f = n / n.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(f / p), 0.0)
    return 2 * terms.sum(axis=(-2, -1))


def compare_with_twin(counts: xr.DataArray, predicted, assignment=None, *, n_resamples: int = 200,
                      confidence_level: float = 0.95, significance: float = 0.05,
                      n_null_samples: int = 200, rng=None, tol: float = MLE_TOL,
                      max_iter: int = MLE_MAX_ITER, predicted_probabilities=None) -> TwinComparison:
    """Compare measured ``counts`` with the twin's ``predicted`` state.

    ``predicted`` is a 4x4 density matrix (basis gg, ge, eg, ee) or a
    :class:`thermalink.simulators.LinkParameters` (its :func:`steady_state` is used).
    ``n_null_samples = 0`` skips the simulated p-value (the verdict then uses the chi-squared one).
    ``predicted_probabilities`` (``(S, 4)``, the counts' settings and outcomes in order): the
    twin's outcome probabilities when they are not those of ``predicted`` read through
    ``assignment`` (a readout that keeps evolving after the pre-rotation); the likelihood ratio and
    its null samples then use them, the fidelity and trace distance still ``predicted``. The
    statistic is then the G statistic against free multinomials per setting (``S x 3`` degrees of
    freedom), since such probabilities need not be those of any state read through ``assignment``.
    """
    if not 0 < significance < 1:
        raise InputError(f"significance must lie in (0, 1), got {significance}")
    level = _check_level(confidence_level)
    if int(n_resamples) < 2:
        raise InputError(f"n_resamples must be at least 2, got {n_resamples}")
    if int(n_null_samples) < 0:
        raise InputError(f"n_null_samples must be 0 (no simulated p-value) or positive, got {n_null_samples}")
    rng = _as_generator(rng)
    twin = _predicted_state(predicted)
    values, model, _, _ = _prepare(counts, assignment, stacked=False)
    # Small batched products throughout: idle BLAS threads spinning between them doubled the CPU
    # time of a live analysis on the 2-core machine (same arithmetic with one thread).
    with single_threaded_blas():
        boot = _bootstrap(values, model, "mle", int(n_resamples), level, twin, rng, tol, max_iter)
        if predicted_probabilities is None:
            p_twin = model.probabilities(twin)
            lr = float(2 * (boot.reconstruction.log_likelihood - log_likelihood(values[0], p_twin)))
            lr = max(lr, 0.0)  # the MLE is at least as likely as any state, up to its tolerance
            dof = STATE_PARAMETERS
        else:  # probabilities no state need reach through this model: against the free multinomials
            p_twin = _probabilities(predicted_probabilities, values[0].shape)
            lr = float(_g_statistic(values[0][None], p_twin)[0])
            dof = int(values.shape[-2] * (values.shape[-1] - 1))
        p_chi2 = float(chdtrc(dof, lr))
        p_sim = None
        if n_null_samples:
            if predicted_probabilities is None:
                null = resample_counts(values[0], twin, model.design, int(n_null_samples), rng)
                logl_mle = _fit(null, model, "mle", tol, max_iter)[1]
                lr_null = 2 * (logl_mle - log_likelihood(null, p_twin[None]))
            else:
                shape = (int(n_null_samples),) + p_twin.shape
                null = rng.multinomial(values[0].sum(axis=-1), np.broadcast_to(p_twin, shape))
                lr_null = _g_statistic(null, p_twin)
            p_sim = float((1 + np.sum(lr_null >= lr)) / (1 + len(lr_null)))
    p = p_sim if p_sim is not None else p_chi2
    return TwinComparison(
        fidelity=boot.estimate["fidelity"],
        fidelity_interval=boot.intervals["fidelity"],
        trace_distance=boot.estimate["trace_distance"],
        trace_distance_interval=boot.intervals["trace_distance"],
        likelihood_ratio=lr,
        degrees_of_freedom=dof,
        p_value=p_chi2,
        p_value_simulated=p_sim,
        significance=float(significance),
        consistent=bool(p >= significance),
        confidence_level=boot.confidence_level,
        n_resamples=boot.n_resamples,
        bootstrap=boot,
    )
