"""Analysis of a stored sweep: state, figures of merit with intervals, and the twin's verdict.

Per point: maximum-likelihood state from the counts (readout errors folded in through the run's
assignment matrices; whether the MLE converged and its certified likelihood gap are kept),
parametric-bootstrap 95% intervals of every figure of merit, the twin's predicted state for the
point's lab description (at the pre-rotation pulse of the point's readout protocol, see
:func:`protocol_assignment`), and the likelihood-ratio goodness-of-fit test of the counts against
that prediction (``consistent`` when p >= 0.05). Results are saved as their own
QCoDeS run, linked to the raw run (:func:`.sweep_storage.save_analysis`).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from thermalink.analysis.certification import lower_bounds
from thermalink.analysis.twin_comparison import compare_with_twin
from thermalink.simulators.errors import InputError
from thermalink.simulators.figures_of_merit import concurrence, singlet_fidelity
from thermalink.simulators.lab_units import LabLink
from thermalink.analysis.tomography_data import joint_assignment_matrix
from thermalink.drivers.two_qubit_readout import assignment_matrix
from thermalink.simulators.virtual_lab.twin_cache import (
    MeasuredState,
    discriminator_errors,
    twin_calibration_decay,
    twin_measured_state,
    with_source_off,
)

from .calibration_store import errors_include_readout_decay
from .readout_calibration import estimator_assignment
from .sweep_storage import (
    ANALYSIS_FIGURES,
    CALIBRATION_KEY,
    CERTIFICATION_CONFIDENCE,
    SweepRun,
    assignment_of,
    load_stored_since,
    save_analysis,
)

SIGNIFICANCE = 0.05
#: Data sets simulated from the twin to calibrate the goodness-of-fit p-value (smallest p: 1/201),
#: independent of the number of bootstrap resamples used for the intervals.
NULL_SAMPLES = 200


def protocol_assignment(measured: MeasuredState, assignment: np.ndarray, calibration, counts: xr.DataArray,
                        errors_include_decay: bool = False):
    """The assignment the estimator uses for a point, and the twin's outcome probabilities if they
    are not those of the state at the pulse read through it (``None``).

    **Decision** (docs/design.md, "Readout protocol"): a readout calibration stored with the run was
    measured through the readout protocol, so its matrices already hold the decay after the pulse;
    without one, the assignment is the readout's own errors (the station's), and a frozen readout's
    decay is folded in (``A_j T_j``): no decay is counted twice, none is left out. Unfrozen, the
    decay after the pulse is not a per-qubit map: the estimator keeps the matrices, and the twin
    predicts ``M_disc Q_s`` (``Q_s`` the populations at the projection). Measured through the
    protocol, a joint 4x4 calibration ``M`` is ``M_disc D`` (``D`` the decay of the prepared states
    with the source off), so ``M_disc = M D^-1``; a per-qubit pair holds only the marginals of
    ``(A_1 (x) A_2) D``, which is correlated, so ``M_disc = A_1 (x) A_2`` of the discriminator
    errors unfolded from them (:func:`~thermalink.simulators.virtual_lab.twin_cache.discriminator_errors`,
    the virtual readout's unfold).

    ``errors_include_decay``: the run's errors without a stored calibration were nevertheless measured
    through the protocol (the station's ``assignment_errors_include_readout_decay``, as
    ``calibrate readout --apply`` writes it; recorded in the run's calibration origin): they are
    used as a calibration's are, nothing is folded in.
    """
    measured_through_protocol = bool(calibration) or bool(errors_include_decay)
    if measured.decay is not None:
        return (assignment if measured_through_protocol else measured.fold(assignment)), None
    joint = joint_assignment_matrix(assignment)
    if measured_through_protocol and np.shape(assignment) == (4, 4):  # a joint calibration: M = M_disc D
        decay = twin_calibration_decay(with_source_off(measured.link))
        condition = np.linalg.cond(decay)
        if not condition < 1e8:
            raise InputError(
                f"the unfrozen readout's decay of the prepared states is singular (condition number "
                f"{condition:.3g}, allowed below 1e8): its calibration holds no information on the readout errors"
            )
        joint = joint @ np.linalg.inv(decay)
    elif measured_through_protocol:  # per-qubit errors: the marginals of (A_1 (x) A_2) D, not a product
        a = np.asarray(assignment, dtype=float)
        e = discriminator_errors((a[0, 1, 0], a[0, 0, 1], a[1, 1, 0], a[1, 0, 1]), measured.link)
        joint = np.kron(assignment_matrix(e[0], e[1]), assignment_matrix(e[2], e[3]))
    settings = tuple(str(s) for s in counts["setting"].values)
    return assignment, measured.populations(settings) @ joint.T


def analyse_counts(counts: xr.DataArray, assignment: np.ndarray, link: LabLink, *, n_resamples: int, seed: int,
                   significance: float = SIGNIFICANCE, calibration=None,
                   n_null_samples: int = NULL_SAMPLES, errors_include_decay: bool = False) -> dict:
    """Figures of merit with intervals, lower confidence bounds (the readout ``calibration``'s
    counts, if the run stored them, resampled too) and the twin comparison of one point's counts.
    ``errors_include_decay``: see :func:`protocol_assignment`.

    ``n_null_samples`` data sets simulated from the twin calibrate the goodness-of-fit p-value
    (0: Wilks' chi-squared p-value instead).
    """
    measured = twin_measured_state(link)
    predicted = measured.rho
    assignment, probabilities = protocol_assignment(measured, assignment, calibration, counts, errors_include_decay)
    comparison = compare_with_twin(
        counts, predicted, assignment=tuple(assignment), n_resamples=n_resamples,
        n_null_samples=n_null_samples, significance=significance, rng=seed,
        predicted_probabilities=probabilities,
    )
    boot = comparison.bootstrap
    result = {"rho": boot.reconstruction.density_matrix, "twin_rho": predicted}
    for name in ANALYSIS_FIGURES:
        key = "fidelity" if name == "twin_fidelity" else name
        result[name] = boot.estimate[key]
        result[f"{name}_low"], result[f"{name}_high"] = boot.intervals[key]
    result["mle_converged"] = float(bool(boot.reconstruction.converged))
    result["mle_likelihood_gap"] = float(boot.reconstruction.likelihood_gap)
    p_value = comparison.p_value_simulated if comparison.p_value_simulated is not None else comparison.p_value
    result.update(
        twin_concurrence=float(concurrence(predicted)),
        twin_singlet_fidelity=float(singlet_fidelity(predicted)),
        gof_statistic=comparison.likelihood_ratio,
        gof_p_value=p_value,
        consistent=float(comparison.consistent),
    )
    bounds = lower_bounds(counts, tuple(assignment), calibration=calibration, confidence=CERTIFICATION_CONFIDENCE,
                          rng=(seed, 9))
    for name, bound in bounds.items():
        result[f"{name}_lower_bound"] = bound
    return result


class SweepAnalysis:
    """Analyses the points of a raw run (each once) and saves them beside it."""

    def __init__(self, conn, run: SweepRun, significance: float = SIGNIFICANCE, n_null_samples: int = NULL_SAMPLES):
        if int(n_null_samples) < 0:
            raise InputError(f"n_null_samples must be 0 (chi-squared p-value) or positive, got {n_null_samples}")
        self.conn = conn
        self.run = run
        self.significance = significance
        self.n_null_samples = int(n_null_samples)
        self.calibration = run.metadata.get(CALIBRATION_KEY)  # JSON, None if not calibrated
        # Without a calibration: whether the station's errors were measured through the readout protocol.
        self.errors_include_decay = errors_include_readout_decay(run.metadata)
        # The per-qubit pair, or the joint 4x4 if the run's readout calibration found correlated errors.
        self.assignment = estimator_assignment(self.calibration, assignment_of(run))
        self.results: dict[int, dict] = {}
        self._rows: dict[int, tuple[xr.DataArray, LabLink]] = {}
        self._rows_read = 0  # stored rows (one per point, in measurement order) already in _rows

    def _counts(self, index: int) -> tuple[xr.DataArray, LabLink]:
        """Counts and lab description of a stored point; only rows not read before are read."""
        if index not in self._rows:
            new = load_stored_since(self.run, self._rows_read)
            self._rows_read += new.sizes["point"]
            for i in new["point"].values:
                point = new.sel(point=i)
                self._rows[int(i)] = (point["counts"], LabLink(**json.loads(str(point["lab_link"].values))))
        if index not in self._rows:
            raise ValueError(f"point {index} of run {self.run.run_id} is not stored; stored points: {sorted(self._rows)}")
        return self._rows[index]

    def point(self, index: int) -> dict:
        if index not in self.results:
            counts, link = self._counts(index)
            result = analyse_counts(
                counts, self.assignment, link, n_resamples=self.run.plan.bootstrap,
                seed=self.run.plan.point_seed(index) + 1, significance=self.significance,
                calibration=self.calibration, n_null_samples=self.n_null_samples,
                errors_include_decay=self.errors_include_decay,
            )
            result["point_index"] = index
            result["bandwidth"] = link.bandwidth_Hz
            result["occupation"] = link.source_occupation
            self.results[index] = result
        return self.results[index]

    def row(self, index: int) -> str:
        """One line of the live table: bandwidth, concurrence [CI], fidelity, twin, verdict."""
        r = self.point(index)
        return (
            f"point {index:>3d}  bandwidth {r['bandwidth']:>10.4g} Hz  N_h {r['occupation']:>7.2f}  "
            f"C = {r['concurrence']:.3f} [{r['concurrence_low']:.3f}, {r['concurrence_high']:.3f}]  "
            f"F_S = {r['singlet_fidelity']:.3f}  twin C = {r['twin_concurrence']:.3f} "
            f"F_S = {r['twin_singlet_fidelity']:.3f}  p = {r['gof_p_value']:.3f}  "
            f"{'consistent' if r['consistent'] else 'NOT consistent'}"
        )

    def save(self, progress: bool = False) -> int:
        """Analyse every stored point not analysed yet, then store all as a linked run."""
        indices = self.run.completed_points()
        for index in tqdm(indices, desc=f"analyse run {self.run.run_id}", unit="pt", disable=not progress):
            self.point(index)
        return save_analysis(self.conn, self.run, [self.results[i] for i in indices], method="mle",
                             significance=self.significance)


def analyse_run(conn, run: SweepRun, progress: bool = False, significance: float = SIGNIFICANCE,
                n_null_samples: int = NULL_SAMPLES) -> int:
    """(Re)analyse every stored point of ``run``; returns the analysis run id."""
    return SweepAnalysis(conn, run, significance, n_null_samples).save(progress=progress)
