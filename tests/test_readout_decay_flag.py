"""What the station's ``assignment_errors`` are (issue 15, readout): the discriminator's own errors,
or errors measured through the readout protocol (``assignment_errors_include_readout_decay``, as
``calibrate readout --apply`` writes them). Either way the readout decay is counted once: in the
analysis, in the twin comparison and in the virtual shots."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from qcodes.instrument import Instrument

from thermalink.drivers.two_qubit_readout import assignment_matrix
from thermalink.experiments.calibration_store import CALIBRATION_ORIGIN_KEY, INCLUDES_DECAY_KEY, write_assignment_errors
from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.readout_calibration import calibrate_readout
from thermalink.experiments.station_validation import validate_station_file
from thermalink.experiments.sweep_analysis import SweepAnalysis, protocol_assignment
from thermalink.experiments.sweep_storage import database, open_sweep_run
from thermalink.simulators.errors import InputError
from thermalink.simulators.readout_dynamics import local_decay_matrices
from thermalink.simulators.virtual_lab.readout import _marginal_errors, discriminator_errors
from thermalink.simulators.virtual_lab.twin_cache import twin_calibration_decay, twin_measured_state, with_source_off
from thermalink.station_configs import station_config_path

DISCRIMINATOR = (0.02, 0.05, 0.03, 0.04)


@pytest.fixture(scope="module")
def station_link():
    """The simulated station's operating point (frozen readout, its qubits' local baths)."""
    lab = LabStation.from_config(station_config_path("simulated"))
    try:
        yield lab.readout.current_lab_link()
    finally:
        lab.close()
        Instrument.close_all()


def folded(errors, link) -> list[float]:
    """The errors a calibration through ``link``'s protocol measures of a discriminator with ``errors``."""
    joint = np.kron(assignment_matrix(*errors[:2]), assignment_matrix(*errors[2:])) @ twin_calibration_decay(
        with_source_off(link))
    return list(_marginal_errors(joint))


# ---- the unfold -------------------------------------------------------------------------------

def test_the_frozen_unfold_is_the_inverse_of_the_local_decay(station_link):
    t1, t2 = local_decay_matrices(station_link.to_parameters(), station_link.readout_times()[1])
    effective = [*(assignment_matrix(*DISCRIMINATOR[:2]) @ t1)[[1, 0], [0, 1]],
                 *(assignment_matrix(*DISCRIMINATOR[2:]) @ t2)[[1, 0], [0, 1]]]
    assert effective[1] > DISCRIMINATOR[1] + 0.03  # the decay after the pulse is not small
    assert discriminator_errors(effective, station_link) == pytest.approx(DISCRIMINATOR, abs=1e-12)
    assert folded(DISCRIMINATOR, station_link) == pytest.approx(effective, abs=1e-12)  # the calibration's view


def test_the_unfrozen_unfold_matches_the_calibration_marginals(station_link):
    link = dataclasses.replace(station_link, readout_freeze=False, readout_integration_time_s=0.1e-6)
    effective = folded(DISCRIMINATOR, link)
    assert effective[1] > 0.3  # a pi pulse is mostly lost to the waveguide
    assert discriminator_errors(effective, link) == pytest.approx(DISCRIMINATOR, abs=1e-7)


def test_the_instantaneous_readout_unfolds_to_the_errors_themselves(station_link):
    link = station_link.without_readout()
    assert discriminator_errors(DISCRIMINATOR, link) == DISCRIMINATOR


def test_errors_smaller_than_the_decay_alone_allows_are_refused(station_link):
    with pytest.raises(InputError, match=r"assignment_errors \[0.01, 0.01, 0.01, 0.01\] are stated to include the "
                                         r"readout decay.*decay after the pulse alone gives errors \[0\.0\d+"):
        discriminator_errors([0.01, 0.01, 0.01, 0.01], station_link)
    unfrozen = dataclasses.replace(station_link, readout_freeze=False, readout_integration_time_s=0.1e-6)
    with pytest.raises(InputError, match="outside the allowed range"):
        discriminator_errors([0.02, 0.05, 0.02, 0.05], unfrozen)


# ---- the analysis -----------------------------------------------------------------------------

def test_the_analysis_folds_the_decay_only_into_discriminator_errors(station_link):
    measured = twin_measured_state(station_link)
    assignment = np.stack([assignment_matrix(*DISCRIMINATOR[:2]), assignment_matrix(*DISCRIMINATOR[2:])])
    counts = None  # not read with a frozen readout
    as_discriminator, _ = protocol_assignment(measured, assignment, None, counts)
    as_measured, _ = protocol_assignment(measured, assignment, None, counts, errors_include_decay=True)
    np.testing.assert_allclose(as_discriminator, measured.fold(assignment), atol=1e-15)
    np.testing.assert_array_equal(as_measured, assignment)
    assert np.max(np.abs(as_discriminator - as_measured)) > 0.03


# ---- end to end on the simulated station ------------------------------------------------------

@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """``calibrate readout --apply`` into a copy of the simulated station, then a run on it with
    ``--no-calibrate-readout``."""
    folder = tmp_path_factory.mktemp("decay_flag")
    station = folder / "station.yaml"
    station.write_text(station_config_path("simulated").read_text())
    before = station.read_text().splitlines()
    lab = LabStation.from_config(station)
    true_effective = list(lab.readout.effective_assignment_errors())
    lab.close()
    Instrument.close_all()
    assert main(["calibrate", "readout", "--station", str(station), "--shots", "20000", "--seed", "4", "--apply"]) == 0
    Instrument.close_all()
    db = folder / "thermalink.db"
    code = main(["run", "--station", str(station), "--db", str(db), "--points", "2", "--bandwidth", "3e4", "1e5",
                 "--temperature", "12", "--shots", "3000", "--bootstrap", "20", "--settle", "0",
                 "--no-calibrate-readout", "--seed", "5"])
    Instrument.close_all()
    return dict(station=station, before=before, after=station.read_text().splitlines(), code=code, db=db,
                true_effective=true_effective)


def written_errors(lines) -> list[float]:
    line = [line for line in lines if "assignment_errors:" in line][0]
    return json.loads(line.split(":", 1)[1].split("#")[0])


def test_apply_writes_the_flag_beside_the_errors_and_keeps_the_file(calibrated):
    before, after = calibrated["before"], calibrated["after"]
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert [new.split("#")[0].split(":")[0].strip() for _, new in changed] == ["assignment_errors", INCLUDES_DECAY_KEY]
    old, new = changed[1]
    assert new.split("#")[0].split(":")[1].strip() == "true" and old.split("#")[0].split(":")[1].strip() == "false"
    assert new.split("#", 1)[1] == old.split("#", 1)[1]  # the comment kept
    assert validate_station_file(calibrated["station"]) is not None


def test_a_file_without_the_flag_gets_it_next_to_its_errors(tmp_path):
    station = tmp_path / "station.yaml"
    text = station_config_path("simulated").read_text()
    before = [line for line in text.splitlines() if INCLUDES_DECAY_KEY not in line]
    station.write_text("\n".join(before) + "\n")
    assert validate_station_file(station) is not None  # the key is optional
    write_assignment_errors(station, [0.03, 0.06, 0.03, 0.06], include_readout_decay=True)
    after = station.read_text().splitlines()
    assert len(after) == len(before) + 1
    index = next(i for i, line in enumerate(after) if line.strip().startswith("assignment_errors:"))
    assert after[index - 1] == f"      {INCLUDES_DECAY_KEY}: true"  # right above the errors, not below their comments
    assert [line for line in after if INCLUDES_DECAY_KEY not in line and "assignment_errors:" not in line] == [
        line for line in before if "assignment_errors:" not in line]
    Instrument.close_all()
    lab = LabStation.from_config(station)
    try:
        assert lab.readout.assignment_errors_include_readout_decay() is True
        assert lab.readout.true_errors_include_readout_decay() is True
    finally:
        lab.close()
        Instrument.close_all()


def test_the_run_records_that_its_errors_include_the_decay_and_the_analysis_does_not_fold_it_again(calibrated):
    assert calibrated["code"] == 0
    written = written_errors(calibrated["after"])
    run = open_sweep_run(database(calibrated["db"]), 1)
    origin = json.loads(run.metadata[CALIBRATION_ORIGIN_KEY])
    assert origin["source"] == "station file" and origin[INCLUDES_DECAY_KEY] is True
    assert origin["assignment_errors"] == pytest.approx(written, abs=1e-12)
    analysis = SweepAnalysis(database(calibrated["db"]), run, n_null_samples=100)
    assert analysis.errors_include_decay is True and analysis.calibration is None
    counts, link = analysis._counts(0)
    measured = twin_measured_state(link)
    used, _ = protocol_assignment(measured, analysis.assignment, analysis.calibration, counts,
                                  analysis.errors_include_decay)
    applied = np.stack([assignment_matrix(*written[:2]), assignment_matrix(*written[2:])])
    np.testing.assert_allclose(used, applied, atol=1e-12)  # the applied calibration, as it is
    assert np.max(np.abs(measured.fold(applied) - applied)) > 0.03  # what folding it again would have given
    for index in (0, 1):
        assert analysis.point(index)["consistent"] == 1.0


def test_the_twin_comparison_would_reject_the_double_count(calibrated):
    run = open_sweep_run(database(calibrated["db"]), 1)
    analysis = SweepAnalysis(database(calibrated["db"]), run, n_null_samples=100)
    analysis.errors_include_decay = False  # as before the flag: the applied errors taken as the discriminator's
    assert analysis.point(0)["consistent"] == 0.0


def test_the_virtual_shots_read_the_files_errors_again(calibrated):
    written = written_errors(calibrated["after"])
    assert written == pytest.approx(calibrated["true_effective"], abs=0.006)
    lab = LabStation.from_config(calibrated["station"])
    try:
        readout = lab.readout
        assert readout.true_errors_include_readout_decay() is True
        # The discriminator has the decay taken out; through the protocol it reads the file's errors exactly.
        assert readout.discriminator_errors()[1] < written[1] - 0.03
        assert list(readout.effective_assignment_errors()) == pytest.approx(written, abs=1e-9)
        calibration = calibrate_readout(lab, shots=20000, seed=11)
        measured = list(calibration.errors.values())
        stderr = list(calibration.errors_stderr.values())
        assert all(abs(m - w) < 5 * s + 1e-4 for m, w, s in zip(measured, written, stderr))
    finally:
        lab.close()
        Instrument.close_all()


def test_a_calibration_applied_in_a_session_marks_the_readouts_errors_but_not_the_truth():
    lab = LabStation.from_config(station_config_path("simulated"))
    try:
        readout = lab.readout
        assert readout.assignment_errors_include_readout_decay() is False
        truth = readout.discriminator_errors()
        calibrate_readout(lab, shots=2000, seed=2, apply=True)
        assert readout.assignment_errors_include_readout_decay() is True
        assert readout.true_errors_include_readout_decay() is False and readout.discriminator_errors() == truth
    finally:
        lab.close()
        Instrument.close_all()


def test_station_validation_takes_the_flag_as_a_bool(tmp_path):
    station = tmp_path / "station.yaml"
    text = station_config_path("simulated").read_text()
    assert f"{INCLUDES_DECAY_KEY}: false" in text
    station.write_text(text.replace(f"{INCLUDES_DECAY_KEY}: false", f"{INCLUDES_DECAY_KEY}: true"))
    assert validate_station_file(station) is not None
    station.write_text(text.replace(f"{INCLUDES_DECAY_KEY}: false", f"{INCLUDES_DECAY_KEY}: 0.5"))
    with pytest.raises(ValueError, match=rf"instruments.readout.init.{INCLUDES_DECAY_KEY}: 0.5 \(\w+\) is the wrong "
                                         r"type; expected bool"):
        validate_station_file(station)
