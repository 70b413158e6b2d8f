"""Start and resume from Python as the command line does, and how the command line ends on errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qcodes.instrument import Instrument

from thermalink.experiments.cli import main
from thermalink.experiments.experiment_session import resume_run, start_run
from thermalink.experiments.sweep_analysis import SweepAnalysis
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import SweepStopped
from thermalink.experiments.sweep_storage import CALIBRATION_KEY, database, load_sweep, open_sweep_run
from thermalink.simulators.errors import InputError, SafetyError, ThermalinkError
from thermalink.station_configs import station_config_path

PLAN = bandwidth_sweep([1e4, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=200, bootstrap=20, seed=4)


def _station(folder):
    """The simulated station with a shorter T2: another setup than the default (other counts)."""
    text = station_config_path("simulated").read_text()
    assert "t2: 3.0e-7" in text
    path = folder / "station.yaml"
    path.write_text(text.replace("t2: 3.0e-7", "t2: 2.8e-7"))
    return path


def test_resume_from_python_uses_the_stored_station_and_restores_the_calibration(tmp_path, monkeypatch):
    station = _station(tmp_path)
    reference = start_run(PLAN, db=tmp_path / "reference.db", station=station, calibration_shots=1000,
                          progress=False, echo=None)

    row = SweepAnalysis.row

    def stopped_after_the_first_point(self, index):
        if index == 0:
            raise KeyboardInterrupt("stopped in the notebook")
        return row(self, index)

    db = tmp_path / "notebook.db"
    with monkeypatch.context() as interrupted, pytest.raises(SweepStopped) as stopped:
        interrupted.setattr(SweepAnalysis, "row", stopped_after_the_first_point)
        start_run(PLAN, db=db, station=station, calibration_shots=1000, progress=False, echo=None)
    assert not any(Instrument.exist(name) for name in ("source", "readout"))  # the session closed its station
    calibration = json.loads(open_sweep_run(database(db), stopped.value.run_id).metadata[CALIBRATION_KEY])

    from thermalink.experiments import experiment_session

    restored = []

    def restore_and_record(readout, stored):
        restore(readout, stored)
        restored.append([readout.qubit1_p1_given_0(), readout.qubit2_p0_given_1()])

    restore = experiment_session.restore_calibration
    monkeypatch.setattr(experiment_session, "restore_calibration", restore_and_record)
    said = []
    result = resume_run(stopped.value.run_id, db=db, progress=False, echo=said.append)  # no station given
    assert said[0] == f"resuming run {result.run_id} on its station file {station.resolve()}"
    calibrated = np.asarray(calibration["assignment"])
    assert restored == [pytest.approx([calibrated[0, 1, 0], calibrated[1, 0, 1]], abs=1e-12)]
    assert restored[0][0] != 0.02  # the calibration, not the station file's value
    assert result.outcome.points_measured == [1]
    np.testing.assert_array_equal(result.raw["counts"].values, reference.raw["counts"].values)
    np.testing.assert_array_equal(load_sweep(open_sweep_run(database(db), result.run_id))["counts"].values,
                                  reference.raw["counts"].values)
    assert sorted(result.analysis["point"].values.tolist()) == [0, 1]
    assert "consistent with the twin" in result.summary


def test_resume_of_a_missing_database_names_it_and_creates_nothing(tmp_path):
    with pytest.raises(InputError, match=r"database .*nowhere.db does not exist"):
        resume_run(1, db=tmp_path / "nowhere.db")
    assert not (tmp_path / "nowhere.db").exists()


def test_the_projects_errors_share_one_base_and_user_errors_stay_value_errors():
    from thermalink.drivers.thermal_source import InterlockError, SettleTimeoutError
    from thermalink.experiments.station_fingerprint import StationChangedError
    from thermalink.experiments.sweep_storage import StoredRunError

    for error in (InputError, SafetyError, InterlockError, SettleTimeoutError, StationChangedError, StoredRunError,
                  SweepStopped):
        assert issubclass(error, ThermalinkError), error
    assert issubclass(StationChangedError, ValueError) and issubclass(StoredRunError, ValueError)
    assert issubclass(SettleTimeoutError, TimeoutError)
    assert not issubclass(ThermalinkError, ValueError)


def test_an_internal_bug_shows_its_traceback_and_a_user_error_one_line(tmp_path, capsys, monkeypatch):
    from thermalink.experiments.lab_station import LabStation

    common = ["run", "--db", str(tmp_path / "x.db"), "--out", str(tmp_path), "--points", "2", "--shots", "100",
              "--bootstrap", "20", "--no-calibrate-readout"]
    assert main([*common, "--bandwidth", "1e3", "1e10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("thermalink: error: point 1: bandwidth=10000000000.0 Hz")

    def buggy(self, plan):
        raise ValueError("an internal bug, not the user's input")

    monkeypatch.setattr(LabStation, "validate_plan", buggy)
    with pytest.raises(ValueError, match="an internal bug"):  # not mapped: Python prints its traceback
        main(common)
    assert "thermalink: error" not in capsys.readouterr().err


def test_a_sweep_stopped_by_a_safety_trip_has_its_own_exit_code(tmp_path, capsys, monkeypatch):
    from thermalink.drivers.thermal_source import InterlockError
    from thermalink.experiments.lab_station import LabStation

    def tripping(self, point):
        raise InterlockError("mixing chamber at 0.3 K is above its limit")

    monkeypatch.setattr(LabStation, "apply", tripping)
    code = main(["run", "--db", str(tmp_path / "x.db"), "--out", str(tmp_path), "--points", "2", "--shots", "100",
                 "--bootstrap", "20", "--no-calibrate-readout"])
    assert code == SafetyError.exit_code == 4
    [message] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("thermalink")]
    assert "mixing chamber at 0.3 K" in message and "--resume 1" in message


def test_common_options_are_declared_once_and_shared_by_every_command():
    import inspect

    from thermalink.experiments import cli

    source = inspect.getsource(cli)
    for flag in ("--db", "--out", "--station"):
        assert source.count(f'"{flag}"') == 1, flag
    parser = cli.build_parser()
    for command in (["run"], ["analyze", "1"], ["report", "1"]):
        assert parser.parse_args([*command, "--db", "x.db"]).db.name == "x.db"
    for command in (["run"], ["report", "1"], ["calibrate", "source"], ["twin", "map"]):
        assert parser.parse_args(command).out == cli.DEFAULT_OUTPUT
    for command in (["run"], ["calibrate", "readout"], ["calibrate", "source"]):
        assert parser.parse_args([*command, "--station", "lab.yaml"]).station.name == "lab.yaml"


def test_a_monitor_that_cannot_start_leaves_no_instrument_open(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        with pytest.raises(InputError, match="cannot be used"):
            start_run(PLAN, db=tmp_path / "a.db", calibrate=False, progress=False, echo=None,
                      monitor_port=busy.getsockname()[1])
    assert not any(Instrument.exist(name) for name in ("source", "readout"))
