"""Parametric bootstrap confidence intervals for the figures of merit of a reconstructed state.

Procedure: reconstruct the state from the counts (``method``), draw ``n_resamples`` multinomial
count tables from that estimate with the measured number of shots in every setting (readout
errors included through ``assignment``), reconstruct all of them at once (batched), and report
equal-tailed percentile intervals at ``confidence_level`` for every figure of merit. For
``method="linear_inversion"`` the resamples are drawn from the projected (physical) estimate.

Conventions (basis ``|gg>, |ge>, |eg>, |ee>``, settings, outcomes, ``A[i, j] = P(read i | state
j)``) are those of :mod:`thermalink.analysis.tomography_data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from thermalink.simulators.blas_threads import single_threaded_blas
from thermalink.simulators.figures_of_merit import figures_of_merit
from .tomography import (
    MLE_MAX_ITER,
    MLE_TOL,
    TomographyResult,
    _check_method,
    _fit,
    _prepare,
    project_to_states,
)
from .tomography_data import _as_generator, state_to_pauli


@dataclass(frozen=True)
class BootstrapResult:
    """Figures of merit of a reconstructed state with parametric-bootstrap intervals.

    ``estimate[name]`` is the figure of the point estimate, ``intervals[name] = (low, high)`` its
    equal-tailed percentile interval at ``confidence_level``, ``samples[name]`` the
    ``n_resamples`` bootstrap values. ``reconstruction`` is the point estimate.
    """

    estimate: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    confidence_level: float
    n_resamples: int
    method: str
    reconstruction: TomographyResult
    samples: dict[str, np.ndarray] = field(repr=False)

    def standard_error(self, name: str) -> float:
        """Standard deviation of the bootstrap values of figure ``name``."""
        return float(np.std(self.samples[name], ddof=1))


def _check_level(confidence_level: float) -> float:
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level}")
    return float(confidence_level)


def resample_counts(values: np.ndarray, rho: np.ndarray, design: np.ndarray, n_resamples: int,
                    rng) -> np.ndarray:
    """``n_resamples`` multinomial tables ``(n_resamples, S, 4)`` from ``rho`` with the shots of
    ``values`` ``(S, 4)`` per setting; ``design`` is the measurement model's design matrix."""
    p = (state_to_pauli(rho) @ design.T).reshape(values.shape)
    p = np.clip(p, 0.0, None)
    p = p / p.sum(axis=-1, keepdims=True)
    shots = values.sum(axis=-1)
    return _as_generator(rng).multinomial(shots, np.broadcast_to(p, (n_resamples,) + p.shape))


def bootstrap(counts: xr.DataArray, method: str = "mle", assignment=None, *, n_resamples: int = 200,
              confidence_level: float = 0.95, reference=None, rng=None, tol: float = MLE_TOL,
              max_iter: int = MLE_MAX_ITER) -> BootstrapResult:
    """Parametric-bootstrap intervals for every figure of merit of the state behind ``counts``.

    Figures: concurrence, negativity, log_negativity, singlet_fidelity, bell_fidelity, purity,
    and with a ``reference`` state (4x4) also ``fidelity`` (Uhlmann) and ``trace_distance`` to it.
    ``method`` is any name in :data:`thermalink.analysis.tomography.ESTIMATORS` (the point
    estimate and every resample use it). ``rng`` is a ``numpy.random.Generator`` or a seed. All
    resamples are reconstructed in one batched call.
    """
    _check_method(method)
    level = _check_level(confidence_level)
    if int(n_resamples) < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    values, model, _, _ = _prepare(counts, assignment, stacked=False)
    with single_threaded_blas():  # small batched products: spinning BLAS threads only cost CPU
        return _bootstrap(values, model, method, int(n_resamples), level, reference, rng, tol, max_iter)


def _bootstrap(values: np.ndarray, model, method: str, n_resamples: int, level: float, reference, rng,
               tol: float, max_iter: int) -> BootstrapResult:
    """:func:`bootstrap` on validated counts ``values`` (1, S, 4) (no re-validation)."""
    rho, logl, conv, its, gap = _fit(values, model, method, tol, max_iter)
    point = TomographyResult(rho[0], method, float(logl[0]), bool(conv[0]), int(its[0]), float(gap[0]),
                             model.settings)
    physical = method != "linear_inversion" and np.linalg.eigvalsh(rho[0])[0] >= -1e-12
    source = rho[0] if physical else project_to_states(rho[0])
    resampled = resample_counts(values[0], source, model.design, n_resamples, rng)
    rho_b = _fit(resampled, model, method, tol, max_iter)[0]
    if reference is not None:
        reference = np.asarray(reference, dtype=complex)
    estimate = {k: float(v) for k, v in figures_of_merit(rho[0], reference).items()}
    samples = figures_of_merit(rho_b, reference)
    alpha = (1 - level) / 2
    low, high = np.quantile(np.array(list(samples.values())), [alpha, 1 - alpha], axis=1)  # all figures at once
    intervals = {k: (float(lo), float(hi)) for k, lo, hi in zip(samples, low, high)}
    return BootstrapResult(estimate, intervals, level, n_resamples, method, point, samples)
