"""Readout calibrations that persist (station file, comments kept) and a joint 4x4 estimator matrix
chosen by a stated independence test (the run naming its calibration: test_run_command_lab_layer.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from qcodes.instrument import Instrument

from thermalink.drivers.two_qubit_readout import BASIS_STATES
from thermalink.experiments.calibration_store import write_assignment_errors
from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.readout_calibration import (
    INDEPENDENCE_LEVEL,
    assignment_from_counts,
    estimator_assignment,
)
from thermalink.experiments.sweep_analysis import SweepAnalysis
from thermalink.experiments.sweep_storage import database, open_sweep_run
from thermalink.station_configs import station_config_path



def station_copy(folder, name="simulated"):
    path = folder / "station.yaml"
    path.write_text(station_config_path(name).read_text())
    return path


def sampled_counts(joint: np.ndarray, shots: int, seed: int) -> xr.DataArray:
    """Multinomial counts of each prepared basis state from a joint matrix M[read, prepared]."""
    rng = np.random.default_rng(seed)
    counts = np.array([rng.multinomial(shots, joint[:, j]) for j in range(4)])
    return xr.DataArray(counts, dims=("prepared", "outcome"),
                        coords={"prepared": list(BASIS_STATES), "outcome": list(BASIS_STATES)})


def independent_joint(e10=0.02, e01=0.05):
    a = np.array([[1 - e10, e01], [e10, 1 - e01]])
    return np.kron(a, a)


def correlated_joint(flip=0.03):
    """Independent errors plus a simultaneous flip of both bits (crosstalk) with probability ``flip``."""
    both = np.eye(4)[[3, 2, 1, 0]]  # 00 <-> 11, 01 <-> 10
    return (1 - flip) * independent_joint() + flip * both @ independent_joint()


# --- the station file ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["simulated", "lab_template"])
def test_writing_the_errors_changes_only_their_values_and_keeps_every_comment(tmp_path, name):
    path = station_copy(tmp_path, name)
    before = path.read_text().splitlines()
    assert write_assignment_errors(path, [0.0213, 0.0498765432, 0.0187, 0.0511]) == [0.0213, 0.049877, 0.0187, 0.0511]
    after = path.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(before) == len(after) and len(changed) == 1
    old, new = changed[0]
    assert "assignment_errors: [0.0213, 0.049877, 0.0187, 0.0511]" in new
    assert new.split("#", 1)[1] == old.split("#", 1)[1]  # the line's comment kept


def test_the_bundled_station_is_never_written_and_bad_errors_leave_the_file_untouched(tmp_path):
    bundled = station_config_path("simulated")
    text = bundled.read_text()
    with pytest.raises(ValueError, match="bundled with thermalink and is not written"):
        write_assignment_errors(bundled, [0.01, 0.01, 0.01, 0.01])
    assert bundled.read_text() == text
    path = station_copy(tmp_path)
    with pytest.raises(ValueError, match=r"expected four probabilities in \[0, 0.5\]"):
        write_assignment_errors(path, [0.01, 0.7, 0.01, 0.01])
    assert path.read_text() == text


def test_calibrate_readout_apply_persists_into_the_station_file_and_the_next_load_uses_it(tmp_path, capsys):
    path = station_copy(tmp_path)
    lab = LabStation.from_config(path)
    expected = list(lab.readout.effective_assignment_errors())  # the true errors, the readout's decay folded in
    lab.close()
    assert main(["calibrate", "readout", "--station", str(path), "--shots", "20000", "--seed", "4", "--apply"]) == 0
    out = capsys.readouterr().out
    assert f"into {path} (instruments.readout.init; comments kept)" in out
    assert "independence (G test, 8 dof)" in out
    line = [line for line in path.read_text().splitlines() if "assignment_errors:" in line][0]
    written = json.loads(line.split(":", 1)[1].split("#")[0])
    assert written != [0.02, 0.05, 0.02, 0.05]
    assert written == pytest.approx(expected, abs=0.006)  # simulated.yaml's true errors and readout decay
    assert line.endswith("# q1 P(1|0), q1 P(0|1), q2 P(1|0), q2 P(0|1)")
    Instrument.close_all()
    reloaded = LabStation.from_config(path)
    assert reloaded.readout.qubit1_p0_given_1() == pytest.approx(written[1])
    assert reloaded.readout.qubit2_p1_given_0() == pytest.approx(written[2])


# --- the joint matrix, chosen by the independence test ------------------------------------------

def test_independent_errors_keep_the_per_qubit_matrices():
    calibration = assignment_from_counts(sampled_counts(independent_joint(), 20000, seed=1))
    test = calibration.independence_test
    assert test["dof"] == 8 and test["p_value"] >= INDEPENDENCE_LEVEL and not test["correlated"]
    assert calibration.estimator_matrix == "per-qubit"
    assert calibration.estimator_assignment.shape == (2, 2, 2)


def test_the_independence_test_holds_its_level_on_independent_errors():
    """Under independent errors the G statistic is chi2(8): p-values spread over (0, 1), few below 0.01."""
    p = np.array([assignment_from_counts(sampled_counts(independent_joint(), 5000, seed=s)).independence_test["p_value"]
                  for s in range(200)])
    assert 0.35 < np.mean(p) < 0.65  # uniform: mean 1/2
    assert np.sum(p < INDEPENDENCE_LEVEL) <= 8  # 2 expected at the 1% level


def test_correlated_errors_switch_the_estimator_to_the_joint_matrix_and_the_run_records_it():
    calibration = assignment_from_counts(sampled_counts(correlated_joint(), 20000, seed=2))
    assert calibration.independence_test["p_value"] < 1e-6 and calibration.estimator_matrix == "joint"
    stored = json.loads(calibration.to_json())
    assert stored["estimator_matrix"] == "joint" and stored["independence_test"]["correlated"] is True
    chosen = estimator_assignment(calibration.to_json(), calibration.assignment)
    np.testing.assert_allclose(chosen, calibration.joint)
    np.testing.assert_allclose(chosen, correlated_joint(), atol=0.01)
    np.testing.assert_allclose(estimator_assignment(None, calibration.assignment), calibration.assignment)


def test_the_sweep_analysis_reconstructs_with_the_joint_matrix_a_run_recorded(tmp_path):
    from thermalink.experiments.sweep_plan import bandwidth_sweep
    from thermalink.experiments.sweep_runner import run_sweep
    from thermalink.experiments.sweep_storage import CALIBRATION_KEY

    calibration = assignment_from_counts(sampled_counts(correlated_joint(), 20000, seed=3))
    conn = database(tmp_path / "x.db")
    plan = bandwidth_sweep([1e4], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3, settle_s=0.0)
    outcome = run_sweep(LabStation.from_config(), plan, conn, progress=False,
                        metadata={CALIBRATION_KEY: calibration.to_json()})
    analysis = SweepAnalysis(conn, open_sweep_run(conn, outcome.run_id))
    np.testing.assert_allclose(analysis.assignment, calibration.joint)
    rho = analysis.point(0)["rho"]
    assert rho.shape == (4, 4) and np.trace(rho).real == pytest.approx(1.0)
