"""Readout calibration: assignment matrices from prepared computational basis states.

With the source output off (the qubits relax to their ground state), each basis state
``"00", "01", "10", "11"`` (qubit 1's bit first, 1 = excited by a pi pulse) is prepared ``shots``
times and both qubits are read in Z, Z (:meth:`TwoQubitReadout.measure_prepared`). Conventions:

* joint matrix ``M[i, j] = P(read i | prepared j)`` (4x4, indices ``2 b1 + b2``; columns sum to 1);
* per-qubit matrices ``A_q[i, j] = P(qubit q reads i | qubit q prepared j)``, the marginals of
  ``M`` over the other qubit's outcome, averaged over the other qubit's prepared state (the
  convention of :func:`thermalink.drivers.two_qubit_readout.assignment_matrix`);
* uncertainties are binomial standard errors of the frequencies (``sqrt(p (1 - p) / n)``).

Which matrix the estimator uses is decided by a stated test on the calibration counts: the
likelihood-ratio (G) test of the independent-errors model ``M = A_1 (x) A_2`` (4 parameters; its
maximum-likelihood fit is exactly the per-qubit matrices above) against a free joint ``M`` (12
parameters), ``G = 2 sum n log(n / (N M_indep))`` ~ chi2 with 8 degrees of freedom. If
``p < INDEPENDENCE_LEVEL`` (0.01) the errors are significantly correlated and the estimator uses the
joint 4x4 ``M``; otherwise the per-qubit pair. The test and the choice are stored with the run
(:meth:`ReadoutCalibration.to_json`) and :func:`estimator_assignment` reads them back.

``calibrate_readout(lab, apply=True)`` writes the error probabilities ``A_q[1, 0]`` and
``A_q[0, 1]`` into the readout's ``qubitN_p1_given_0`` / ``qubitN_p0_given_1``, so the next sweep
(which stores ``lab.assignment()`` in its run metadata) and its tomography use them, and sets its
``assignment_errors_include_readout_decay``: measured through the readout protocol, they already
hold its decay after the pulse (docs/design.md, "Readout protocol").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from thermalink.drivers.two_qubit_readout import BASIS_STATES, INCLUDES_DECAY_PARAMETER, validate_shots
from thermalink.simulators.errors import InputError

#: Largest error probability a calibration accepts: above it the labels of 0 and 1 are swapped.
MAX_ASSIGNMENT_ERROR = 0.5
#: Level of the independence test below which the estimator uses the joint 4x4 matrix.
INDEPENDENCE_LEVEL = 0.01
#: Degrees of freedom of that test: 12 free joint parameters minus 4 per-qubit ones.
INDEPENDENCE_DOF = 8
#: Error parameters of the readout, in the order qubit 1 P(1|0), qubit 1 P(0|1), qubit 2 ...
ERROR_PARAMETERS = ("qubit1_p1_given_0", "qubit1_p0_given_1", "qubit2_p1_given_0", "qubit2_p0_given_1")


@dataclass(frozen=True)
class ReadoutCalibration:
    """Result of a readout calibration (conventions in the module docstring).

    Attributes:
        joint: ``(4, 4)`` ``M[i, j] = P(read i | prepared j)``.
        joint_stderr: standard errors of ``joint``.
        assignment: ``(2, 2, 2)``, ``assignment[q - 1][i, j] = P(qubit q reads i | state j)``.
        assignment_stderr: standard errors of ``assignment``.
        shots: shots per prepared state.
        counts: the raw counts, dims ``("prepared", "outcome")``.
    """

    joint: np.ndarray
    joint_stderr: np.ndarray
    assignment: np.ndarray
    assignment_stderr: np.ndarray
    shots: int
    counts: xr.DataArray

    @property
    def errors(self) -> dict[str, float]:
        """The four error probabilities by readout parameter name (``qubit1_p1_given_0``, ...)."""
        return _by_parameter(self.assignment)

    @property
    def errors_stderr(self) -> dict[str, float]:
        """Standard errors of :attr:`errors`."""
        return _by_parameter(self.assignment_stderr)

    @property
    def independence_test(self) -> dict:
        """The G test of independent per-qubit errors (module docstring): ``statistic``, ``dof``,
        ``p_value``, ``level`` and ``correlated`` (``p_value < level``)."""
        from scipy.special import chdtrc  # = scipy.stats.chi2.sf(x, k), without importing scipy.stats

        observed = self.joint * self.shots  # counts [read i, prepared j]
        expected = np.kron(self.assignment[0], self.assignment[1]) * self.shots
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
        statistic = float(2 * terms.sum())
        p_value = float(chdtrc(INDEPENDENCE_DOF, statistic))
        return {"statistic": statistic, "dof": INDEPENDENCE_DOF, "p_value": p_value,
                "level": INDEPENDENCE_LEVEL, "correlated": bool(p_value < INDEPENDENCE_LEVEL)}

    @property
    def estimator_matrix(self) -> str:
        """``"joint"`` if the independence test rejects independent errors, else ``"per-qubit"``."""
        return "joint" if self.independence_test["correlated"] else "per-qubit"

    @property
    def estimator_assignment(self) -> np.ndarray:
        """The matrices the estimator uses: the joint ``(4, 4)`` or the per-qubit ``(2, 2, 2)``."""
        return self.joint if self.estimator_matrix == "joint" else self.assignment

    @property
    def correlation(self) -> float:
        """Largest ``|M - A_1 (x) A_2|``: readout crosstalk beyond independent per-qubit errors."""
        return float(np.max(np.abs(self.joint - np.kron(self.assignment[0], self.assignment[1]))))

    def to_json(self) -> str:
        """The matrices, their standard errors and the shots, as JSON (stored with a sweep run)."""
        return json.dumps({
            "shots": self.shots,
            "joint": self.joint.tolist(),
            "joint_stderr": self.joint_stderr.tolist(),
            "assignment": self.assignment.tolist(),
            "assignment_stderr": self.assignment_stderr.tolist(),
            "independence_test": self.independence_test,
            "estimator_matrix": self.estimator_matrix,
        })

    def summary(self) -> str:
        """A short text table: each error probability with its standard error."""
        lines = [f"readout calibration, {self.shots} shots per prepared state"]
        for name, value in self.errors.items():
            lines.append(f"  {name:>18s} = {value:.5f} +- {self.errors_stderr[name]:.5f}")
        lines.append(f"  largest deviation from independent per-qubit errors: {self.correlation:.5f}")
        test = self.independence_test
        lines.append(f"  independence (G test, {test['dof']} dof): G = {test['statistic']:.2f}, p = {test['p_value']:.3g}"
                     f" -> estimator uses the {self.estimator_matrix} matrix (joint if p < {test['level']})")
        return "\n".join(lines)


def _by_parameter(per_qubit: np.ndarray) -> dict[str, float]:
    """Entries ``[q, 1, 0]`` (P(1|0)) and ``[q, 0, 1]`` (P(0|1)) of ``(2, 2, 2)`` per-qubit matrices,
    by readout parameter name."""
    values = [float(per_qubit[q, i, j]) for q in (0, 1) for i, j in ((1, 0), (0, 1))]
    return dict(zip(ERROR_PARAMETERS, values))


def assignment_from_counts(counts: xr.DataArray) -> ReadoutCalibration:
    """Estimate the joint and per-qubit assignment matrices from basis-state counts.

    ``counts`` has dims ``("prepared", "outcome")`` with all four basis states prepared (any
    order) and the same number of shots each. ValueError if not, or if an estimated error
    probability exceeds :data:`MAX_ASSIGNMENT_ERROR` (swapped labels or a failed preparation).
    """
    prepared = sorted(counts.coords["prepared"].values.tolist()) if "prepared" in counts.coords else None
    if counts.dims != ("prepared", "outcome") or prepared != sorted(BASIS_STATES):
        raise InputError(
            f"counts with dims {counts.dims} and prepared states {prepared} "
            f"cannot calibrate the readout; need dims ('prepared', 'outcome') and the states {BASIS_STATES}"
        )
    counts = counts.sel(prepared=list(BASIS_STATES), outcome=list(BASIS_STATES))
    totals = counts.sum("outcome").values
    if len(set(totals.tolist())) != 1:
        raise InputError(f"shots per prepared state differ ({totals.tolist()}); a calibration needs equal shots")
    shots = validate_shots(int(totals[0]))
    joint = counts.values.T / shots  # [read i, prepared j]
    joint_stderr = np.sqrt(joint * (1 - joint) / shots)
    # joint4[r1, r2, p1, p2]: marginalise the other qubit's outcome, average its prepared state
    joint4 = joint.reshape(2, 2, 2, 2)
    assignment = np.stack([joint4.sum(axis=1).mean(axis=2), joint4.sum(axis=0).mean(axis=1)])
    # each column of A_q is the mean of two independent binomial frequencies of `shots` shots
    per_state = np.stack([joint4.sum(axis=1), joint4.sum(axis=0).transpose(0, 2, 1)])  # [q, i, j, other]
    assignment_stderr = np.sqrt((per_state * (1 - per_state) / shots).sum(axis=-1)) / 2
    result = ReadoutCalibration(joint, joint_stderr, assignment, assignment_stderr, shots, counts)
    swapped = {name: value for name, value in result.errors.items() if value > MAX_ASSIGNMENT_ERROR}
    if swapped:
        raise InputError(
            "readout calibration rejected: "
            + ", ".join(f"{name}={value:.3f}" for name, value in swapped.items())
            + f" {'is' if len(swapped) == 1 else 'are'} outside the allowed range [0, {MAX_ASSIGNMENT_ERROR}]"
            " (0 and 1 swapped, or the pi "
            "pulse / discrimination threshold is off)"
        )
    return result


def _mark_measured(readout) -> None:
    """A calibration is measured through the readout protocol: its errors hold the decay after the pulse."""
    if INCLUDES_DECAY_PARAMETER in readout.parameters:
        readout.parameters[INCLUDES_DECAY_PARAMETER](True)


def apply_calibration(readout, calibration: ReadoutCalibration) -> None:
    """Write the calibrated error probabilities into the readout's ``qubitN_p*_given_*`` (and set its
    ``assignment_errors_include_readout_decay``: they were measured through the readout protocol)."""
    for name, value in calibration.errors.items():
        readout.parameters[name](value)
    _mark_measured(readout)


def estimator_assignment(stored: str | None, per_qubit: np.ndarray) -> np.ndarray:
    """The assignment the estimator uses for a run: the joint 4x4 of its stored calibration
    (:meth:`ReadoutCalibration.to_json`) if that calibration chose it, else ``per_qubit``."""
    if stored:
        calibration = json.loads(stored)
        if calibration.get("estimator_matrix") == "joint":
            return np.asarray(calibration["joint"], dtype=float)
    return np.asarray(per_qubit, dtype=float)


def restore_calibration(readout, stored: str) -> None:
    """Write a calibration stored with a run (:meth:`ReadoutCalibration.to_json`) back into the readout."""
    assignment = np.asarray(json.loads(stored)["assignment"])
    for name, value in _by_parameter(assignment).items():
        readout.parameters[name](value)
    _mark_measured(readout)


def calibrate_readout(lab, shots: int = 20_000, *, apply: bool = False, settle_s: float = 1e-3,
                      seed: int | None = None) -> ReadoutCalibration:
    """Measure the readout's assignment matrices on the station of ``lab`` (a ``LabStation``).

    Switches the source output off, waits ``settle_s`` seconds (the qubits relax to their ground
    state), measures the four prepared basis states with ``shots`` shots each, restores the output,
    and estimates the matrices (:func:`assignment_from_counts`). With ``apply=True`` the error
    probabilities are written into the readout (:func:`apply_calibration`). ``seed`` seeds a
    virtual readout's shot noise (ignored by real ones). ValueError names a bad ``shots``,
    ``settle_s`` or an implausible (> 0.5) error probability; nothing is applied then.
    """
    shots = validate_shots(shots, lab.readout.max_shots)
    if not (np.isfinite(settle_s) and settle_s >= 0):
        raise InputError(f"settle_s={settle_s!r} is outside the allowed range [0, inf) s")
    source = lab.source
    was_on = bool(source.output())
    source.output(False)
    try:
        lab.wait(settle_s)
        counts = lab.measure_prepared(shots, seed=seed)
    finally:
        if was_on:
            source.output(True)
    calibration = assignment_from_counts(counts)
    if apply:
        apply_calibration(lab.readout, calibration)
    return calibration
