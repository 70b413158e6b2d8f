"""Readout calibration on the simulated station: prepared basis states -> assignment matrices."""

import numpy as np
import pytest

from thermalink.drivers.two_qubit_readout import assignment_matrix, counts_array
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.readout_calibration import (
    ERROR_PARAMETERS,
    assignment_from_counts,
    calibrate_readout,
)

#: Different per qubit and per direction, so a mixed-up index cannot pass.
TRUE_ERRORS = {"qubit1_p1_given_0": 0.03, "qubit1_p0_given_1": 0.07, "qubit2_p1_given_0": 0.012,
               "qubit2_p0_given_1": 0.045}


@pytest.fixture
def lab():
    lab = LabStation.from_config()
    lab.readout.true_assignment_errors(tuple(TRUE_ERRORS[name] for name in ERROR_PARAMETERS))
    for name, value in TRUE_ERRORS.items():  # a readout calibrated perfectly so far
        lab.readout.parameters[name](value)
    lab.source.output(True)
    return lab


@pytest.fixture
def instantaneous_lab(lab):
    """The station with an instantaneous readout: nothing decays between pulse and projection, so
    a calibration measures exactly the true errors."""
    lab.readout.prerotation_time(0.0)
    lab.readout.integration_time(0.0)
    return lab


def test_calibration_recovers_the_readouts_assignment_errors_within_its_standard_errors(instantaneous_lab):
    lab = instantaneous_lab
    calibration = calibrate_readout(lab, shots=40_000, seed=7)
    for name, true in TRUE_ERRORS.items():
        assert abs(calibration.errors[name] - true) <= 4 * calibration.errors_stderr[name], name
    assert calibration.errors_stderr["qubit1_p0_given_1"] == pytest.approx(np.sqrt(0.07 * 0.93 / 80_000), rel=0.05)
    np.testing.assert_allclose(calibration.joint.sum(axis=0), 1.0)
    true_joint = np.kron(*(assignment_matrix(TRUE_ERRORS[f"qubit{q}_p1_given_0"], TRUE_ERRORS[f"qubit{q}_p0_given_1"])
                           for q in (1, 2)))
    assert np.all(np.abs(calibration.joint - true_joint) <= 5 * calibration.joint_stderr + 1e-12)
    assert calibration.correlation < 0.01  # independent per-qubit errors in the virtual readout


def test_apply_writes_the_calibration_into_the_readout_that_the_next_sweep_records(lab):
    calibration = calibrate_readout(lab, shots=5_000, seed=3)
    assert {name: lab.readout.parameters[name]() for name in ERROR_PARAMETERS} == TRUE_ERRORS  # not applied
    applied = calibrate_readout(lab, shots=5_000, seed=3, apply=True)
    assert applied.errors == calibration.errors  # same seed, same counts
    for name in ERROR_PARAMETERS:
        assert lab.readout.parameters[name]() == applied.errors[name]
    assert lab.readout.parameters["qubit1_p0_given_1"]() != TRUE_ERRORS["qubit1_p0_given_1"]
    np.testing.assert_allclose(lab.assignment(), applied.assignment)
    # The calibration changes what the analysis assumes, not the shots the virtual readout draws.
    assert calibrate_readout(lab, shots=5_000, seed=3).errors == calibration.errors


@pytest.mark.parametrize("initially_on", [True, False])
def test_the_source_output_is_off_while_measuring_and_restored_afterwards(lab, initially_on):
    lab.source.output(initially_on)
    seen = []
    measure = lab.measure_prepared
    lab.measure_prepared = lambda *args, **kwargs: (seen.append(lab.source.output()), measure(*args, **kwargs))[1]
    calibrate_readout(lab, shots=100)
    assert seen == [False]
    assert lab.source.output() is initially_on


def test_the_source_output_is_restored_when_the_measurement_fails(lab):
    def broken(*args, **kwargs):
        raise RuntimeError("readout lost")

    lab.measure_prepared = broken
    with pytest.raises(RuntimeError, match="readout lost"):
        calibrate_readout(lab, shots=100)
    assert lab.source.output() is True


@pytest.mark.parametrize("shots", [0, -5, 2.5])
def test_nonpositive_or_fractional_shots_are_rejected_by_value(lab, shots):
    with pytest.raises(ValueError, match=rf"shots={shots!r} is outside the allowed range"):
        calibrate_readout(lab, shots=shots)


def test_swapped_labels_are_rejected_and_nothing_is_applied(lab):
    shots = 10_000
    swapped = np.array([[0, 1], [1, 0]]) @ assignment_matrix(0.02, 0.05)  # qubit 1 reads 1 for |0>
    joint = np.kron(swapped, assignment_matrix(0.02, 0.05))
    counts = counts_array(np.rint(joint.T * shots), ["00", "01", "10", "11"], dim="prepared")
    lab.measure_prepared = lambda *args, **kwargs: counts
    with pytest.raises(ValueError, match=r"qubit1_p1_given_0=0.980, qubit1_p0_given_1=0.950 are outside the "
                                         r"allowed range \[0, 0.5\]"):
        calibrate_readout(lab, shots=shots, apply=True)
    assert {name: lab.readout.parameters[name]() for name in ERROR_PARAMETERS} == TRUE_ERRORS


def test_counts_must_hold_all_four_prepared_states_with_equal_shots():
    three = counts_array(np.full((3, 4), 25), ["00", "01", "10"], dim="prepared")
    with pytest.raises(ValueError, match=r"prepared states \['00', '01', '10'\]"):
        assignment_from_counts(three)
    unequal = counts_array(np.array([[100, 0, 0, 0], [0, 90, 0, 0], [0, 0, 100, 0], [0, 0, 0, 100]]),
                           ["00", "01", "10", "11"], dim="prepared")
    with pytest.raises(ValueError, match=r"shots per prepared state differ \(\[100, 90, 100, 100\]\)"):
        assignment_from_counts(unequal)


def test_a_calibration_through_the_frozen_protocol_absorbs_the_readouts_decay(lab):
    """The station's frozen readout: the prepared states decay (local baths) between the pulse and
    the projection, and the calibration measures the true errors with that decay folded in."""
    assert lab.readout.freeze() and lab.readout.integration_time() > 0
    expected = dict(zip(ERROR_PARAMETERS, lab.readout.effective_assignment_errors()))
    calibration = calibrate_readout(lab, shots=40_000, seed=7)
    for name, true in TRUE_ERRORS.items():
        assert expected[name] > true + 0.01  # the decay is resolved ...
        assert abs(calibration.errors[name] - expected[name]) <= 4 * calibration.errors_stderr[name], name
    assert calibration.correlation < 0.01  # ... and frozen, it stays independent per qubit
