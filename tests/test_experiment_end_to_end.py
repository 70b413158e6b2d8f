"""The main job end to end on the simulated station: sweep, analysis, twin verdict, report."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import run_sweep
from thermalink.experiments.sweep_storage import database, load_analysis, load_sweep, open_sweep_run

BANDWIDTHS = [3e3, 1e4, 3e4, 1e6, 1e7, 1e8]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A seeded bandwidth sweep at 40 K with 5000 shots per setting, analysed."""
    from qcodes.instrument import Instrument

    conn = database(tmp_path_factory.mktemp("e2e") / "sweep.db")
    lab = LabStation.from_config()
    plan = bandwidth_sweep(BANDWIDTHS, temperature_K=40.0, attenuation_dB=0.0, shots=5000, bootstrap=100, seed=12)
    run = open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id)
    analyse_run(conn, run)
    raw, analysis = load_sweep(run), load_analysis(conn, run)
    Instrument.close_all()
    return conn, run, raw, analysis


def test_measured_concurrence_agrees_with_the_twin_within_its_interval_at_every_point(analysed):
    _, _, _, analysis = analysed
    low, high = analysis["concurrence_low"].values, analysis["concurrence_high"].values
    twin = analysis["twin_concurrence"].values
    assert np.all((low - 1e-9 <= twin) & (twin <= high + 1e-9)), np.c_[low, twin, high]
    assert analysis["consistent"].all()
    assert np.all(analysis["twin_fidelity_low"] > 0.9)


def test_broadband_points_are_separable_and_narrow_hot_points_entangled(analysed):
    _, _, raw, analysis = analysed
    bandwidth = raw["bandwidth"].values
    assert np.all(analysis["concurrence_high"].values[bandwidth >= 1e6] < 0.02)
    narrow = analysis.sel(point=np.flatnonzero(bandwidth <= 1e4))
    assert np.all(narrow["concurrence_low"] > 0.05)
    assert np.all(narrow["negativity_low"] > 0.0)


def test_reconstructed_states_are_physical(analysed):
    _, _, _, analysis = analysed
    rho = analysis["rho"].values
    np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1, atol=1e-9)
    assert np.linalg.eigvalsh(rho).min() > -1e-9


def test_reanalysis_of_a_stored_run_reproduces_the_results(analysed):
    conn, run, _, analysis = analysed
    analyse_run(conn, run)
    again = load_analysis(conn, run)
    assert again.attrs["analysis_run_id"] != analysis.attrs["analysis_run_id"]
    np.testing.assert_allclose(again["concurrence"], analysis["concurrence"])
    np.testing.assert_allclose(again["concurrence_low"], analysis["concurrence_low"])


def test_default_run_command_measures_analyses_and_plots(tmp_path, capsys):
    db, out = tmp_path / "thermalink.db", tmp_path / "figures"
    code = main(["run", "--db", str(db), "--out", str(out), "--points", "4", "--bandwidth", "3e3", "3e6",
                 "--shots", "1000", "--bootstrap", "20"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "time per point (ms)" in printed
    verdicts = re.findall(r"^\s+\d+ .* (yes|NO)$", printed, re.M)  # the table's last column, one row per point
    assert len(verdicts) == 4
    summary = re.search(r"^(\d+) of 4 points consistent with the twin$", printed, re.M)
    assert summary is not None and int(summary.group(1)) == verdicts.count("yes")
    assert "Bell fidelity > 0.70 certified at 95 %: no (lower bound 0." in printed  # default: F_S ~ 0.5
    assert "concurrence > 0.00 certified at 95 %: " in printed
    assert (out / "run1_bandwidth.png").stat().st_size > 10_000
    assert (out / "run1_bandwidth.pdf").exists()

    assert main(["report", "1", "--db", str(db), "--out", str(out)]) == 0
    summary = (out / "run1_summary.txt").read_text()
    assert summary.count("\n") >= 6
    exported = xr.open_dataset(out / "run1.nc", engine="h5netcdf")
    assert exported["counts"].dims == ("point", "setting", "outcome")
    assert int(exported["counts"].sum()) == 4 * 9 * 1000
    assert exported["assignment"].dims == ("qubit", "read", "state")
    np.testing.assert_allclose(exported["assignment"].sum("read"), 1.0)
    assert "readout_calibration" in exported.attrs

    assert main(["analyze", "1", "--db", str(db)]) == 0
    assert "analysis of run 1 saved as run 3" in capsys.readouterr().out


def test_run_calibrates_the_readout_first_and_stores_the_matrices_it_used(tmp_path, capsys):
    import json

    db = tmp_path / "thermalink.db"
    code = main(["run", "--db", str(db), "--out", str(tmp_path), "--points", "2", "--bandwidth", "1e4", "1e6",
                 "--shots", "500", "--bootstrap", "20", "--calibration-shots", "50000"])
    assert code == 0
    assert "readout calibration, 50000 shots per prepared state" in capsys.readouterr().out
    run = open_sweep_run(database(db), 1)
    stored = json.loads(run.dataset.metadata["thermalink_readout_calibration"])
    used = np.array(json.loads(run.dataset.metadata["thermalink_assignment"]))
    np.testing.assert_allclose(used, stored["assignment"])
    # simulated.yaml's readout errors, P(1|0) = 0.02, P(0|1) = 0.05 on both qubits, with its frozen
    # readout's decay between the pulse and the projection folded in
    lab = LabStation.from_config()
    effective = np.array(lab.readout.effective_assignment_errors()).reshape(2, 2)  # [qubit, (P(1|0), P(0|1))]
    lab.close()
    stderr = np.array(stored["assignment_stderr"])
    assert np.all(np.abs(used[:, 1, 0] - effective[:, 0]) < 5 * stderr[:, 1, 0])
    assert np.all(np.abs(used[:, 0, 1] - effective[:, 1]) < 5 * stderr[:, 0, 1])
    assert np.all(effective > np.array([0.02, 0.05]) + 0.01)
    assert np.all(stderr > 0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--station", "no/such/station.yaml"], "station file 'no/such/station.yaml' does not exist"),
        (["--shots", "-5"], "shots=-5"),
        (["--bandwidth", "1e3", "1e10"], "bandwidth=10000000000.0 Hz"),
        (["--temperature", "500"], "temperature=500.0 K"),
        (["--temperature", "10", "40"], "--sweep bandwidth takes one value for --temperature, got 10.0 40.0"),
        (["--sweep", "temperature", "--temperature", "20"], "--sweep temperature takes MIN MAX for --temperature"),
        (["--bandwidth", "1e6", "1e3"], "--bandwidth 1000000.0 1000.0: need MIN < MAX"),
        (["--bootstrap", "0"], "bootstrap=0 is outside the allowed range"),
    ],
)
def test_bad_run_input_is_rejected_with_the_offending_value(tmp_path, capsys, arguments, message):
    code = main(["run", "--db", str(tmp_path / "x.db"), "--out", str(tmp_path), "--points", "2", *arguments])
    assert code == 2
    assert message in capsys.readouterr().err


def test_report_of_an_unknown_run_names_it(tmp_path, capsys):
    database(tmp_path / "empty.db")
    assert main(["report", "7", "--db", str(tmp_path / "empty.db")]) == 2
    assert "run 7" in capsys.readouterr().err


def _run_exists(path) -> bool:
    """Whether run 1 exists, read-only: while the CLI is still creating the database, opening it
    through QCoDeS would race the schema set-up (seen as 'duplicate column name: guid')."""
    import contextlib
    import sqlite3

    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] > 0
    except sqlite3.Error:  # schema not there yet
        return False


def test_a_terminated_run_command_resumes_to_the_counts_of_an_uninterrupted_one(tmp_path):
    """SIGTERM mid-sweep (after the readout calibration was applied), then 'thermalink run --resume'."""
    import signal
    import subprocess
    import sys
    import time as clock

    common = ["--points", "6", "--bandwidth", "3e3", "3e5", "--shots", "400", "--bootstrap", "20",
              "--calibration-shots", "2000", "--seed", "5"]
    command = [sys.executable, "-m", "thermalink.experiments.cli", "run"]
    killed_db, reference_db = tmp_path / "killed.db", tmp_path / "reference.db"
    process = subprocess.Popen([*command, "--db", str(killed_db), "--out", str(tmp_path), *common],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = clock.monotonic() + 240
    while clock.monotonic() < deadline:  # wait until the first points are stored
        if _run_exists(killed_db):
            try:
                if len(open_sweep_run(database(killed_db), 1).completed_points()) >= 2:
                    break
            except ValueError:  # run created, its plan metadata not written yet
                pass
        clock.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 3, err
    assert "resume with 'thermalink run --resume 1'" in err
    partial = open_sweep_run(database(killed_db), 1)
    assert partial.dataset.metadata["thermalink_status"] == "interrupted"
    assert 2 <= len(partial.completed_points()) < 6

    resumed = subprocess.run([*command, "--db", str(killed_db), "--out", str(tmp_path), "--resume", "1"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    reference = subprocess.run([*command, "--db", str(reference_db), "--out", str(tmp_path / "ref"), *common],
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr
    killed_run, reference_run = open_sweep_run(database(killed_db), 1), open_sweep_run(database(reference_db), 1)
    np.testing.assert_array_equal(load_sweep(killed_run)["counts"].values, load_sweep(reference_run)["counts"].values)
    assert (killed_run.dataset.metadata["thermalink_assignment"]
            == reference_run.dataset.metadata["thermalink_assignment"])


# --- 'thermalink run --resume' on the station the run was measured on -------------------------------

def _station_copy(folder, old: str = "", new: str = ""):
    """A copy of the simulated station file, with ``old`` replaced by ``new``."""
    from thermalink.station_configs import station_config_path

    text = station_config_path("simulated").read_text()
    assert old in text
    path = folder / "station.yaml"
    path.write_text(text.replace(old, new))
    return path


def _interrupted_run(db, station) -> int:
    """A 3-point run on ``station`` stopped after its first point."""
    from qcodes.instrument import Instrument

    from thermalink.experiments.sweep_runner import SweepStopped

    def interrupt(index, run):
        raise KeyboardInterrupt

    plan = bandwidth_sweep([1e4, 1e5, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3)
    with pytest.raises(SweepStopped) as stopped:
        run_sweep(LabStation.from_config(station), plan, database(db), progress=False, on_point=interrupt)
    Instrument.close_all()
    return stopped.value.run_id


def test_resume_with_a_modified_station_file_is_refused_before_any_instrument_opens(tmp_path, capsys, monkeypatch):
    db = tmp_path / "thermalink.db"
    run_id = _interrupted_run(db, _station_copy(tmp_path))
    (tmp_path / "station.yaml").write_text(_station_copy(tmp_path, "t1: 1.55e-7", "t1: 1.50e-7").read_text())

    def no_instruments(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(LabStation, "from_config", no_instruments)
    code = main(["run", "--resume", str(run_id), "--station", str(tmp_path / "station.yaml"), "--db", str(db),
                 "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"run {run_id} was measured on station file {tmp_path / 'station.yaml'} (sha256 " in err
    assert "but the current station file" in err and "--allow-station-change" in err
    run = open_sweep_run(database(db), run_id)
    assert run.completed_points() == [0] and run.dataset.metadata["thermalink_status"] == "interrupted"


def test_resume_with_allow_station_change_continues_and_records_the_change(tmp_path, capsys):
    import json

    db = tmp_path / "thermalink.db"
    run_id = _interrupted_run(db, _station_copy(tmp_path))
    changed = _station_copy(tmp_path, "t1: 1.55e-7", "t1: 1.50e-7")
    code = main(["run", "--resume", str(run_id), "--station", str(changed), "--db", str(db), "--out", str(tmp_path),
                 "--allow-station-change"])
    assert code == 0, capsys.readouterr().err
    run = open_sweep_run(database(db), run_id)
    assert run.dataset.completed and run.completed_points() == [0, 1, 2]
    [change] = json.loads(run.dataset.metadata["thermalink_station_changes"])
    assert change["from_point"] == 1
    assert change["stored"]["sha256"] != change["current"]["sha256"]
    assert change["current"]["path"] == str(changed)


def test_resume_after_a_comment_only_edit_of_the_station_file_is_no_station_change(tmp_path, capsys):
    db = tmp_path / "thermalink.db"
    run_id = _interrupted_run(db, _station_copy(tmp_path))
    _station_copy(tmp_path, "instruments:\n", "# recabled nothing, only this comment\ninstruments:\n\n")
    code = main(["run", "--resume", str(run_id), "--station", str(tmp_path / "station.yaml"), "--db", str(db),
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    run = open_sweep_run(database(db), run_id)
    assert run.dataset.completed and "thermalink_station_changes" not in run.dataset.metadata


def test_allow_station_change_without_resume_is_rejected(tmp_path, capsys):
    assert main(["run", "--allow-station-change", "--db", str(tmp_path / "x.db"), "--out", str(tmp_path)]) == 2
    assert "--allow-station-change only applies with --resume RUN_ID" in capsys.readouterr().err


def test_live_analysis_reads_each_stored_row_once_and_equals_the_offline_analysis(tmp_path, monkeypatch):
    from thermalink.experiments import sweep_analysis
    from thermalink.experiments.sweep_analysis import SweepAnalysis

    rows_read = []
    load_stored_since = sweep_analysis.load_stored_since

    def counting(run, already_read):
        new = load_stored_since(run, already_read)
        rows_read.append(new.sizes["point"])
        return new

    monkeypatch.setattr(sweep_analysis, "load_stored_since", counting)
    conn = database(tmp_path / "live.db")
    plan = bandwidth_sweep([3e3, 1e5, 1e6, 1e8], temperature_K=40.0, attenuation_dB=0.0, shots=500, bootstrap=20,
                           seed=9)
    live: dict[int, SweepAnalysis] = {}
    outcome = run_sweep(LabStation.from_config(), plan, conn, progress=False,
                        on_point=lambda index, run: live.setdefault(run.run_id, SweepAnalysis(conn, run)).point(index))
    assert rows_read == [1, 1, 1, 1]

    run = open_sweep_run(conn, outcome.run_id)
    offline = SweepAnalysis(conn, run)  # what 'thermalink analyze' does (analyse_run)
    offline.save()
    results, expected = live[run.run_id].results, offline.results
    assert sorted(results) == sorted(expected) == [0, 1, 2, 3]
    for index in expected:
        for name, value in expected[index].items():
            np.testing.assert_array_equal(results[index][name], value, err_msg=f"point {index} {name}")


def test_resume_without_station_continues_on_the_station_file_the_run_used(tmp_path, capsys, monkeypatch):
    db = tmp_path / "thermalink.db"
    station = _station_copy(tmp_path, "t1: 1.55e-7", "t1: 1.50e-7")  # differs from the simulated default
    run_id = _interrupted_run(db, station)
    monkeypatch.chdir(tmp_path.parent)  # resumed from elsewhere: the stored path is absolute
    code = main(["run", "--resume", str(run_id), "--db", str(db), "--out", str(tmp_path), "--bootstrap", "20"])
    assert code == 0, capsys.readouterr().err
    assert f"resuming run {run_id} on its station file {station.resolve()}" in capsys.readouterr().out
    run = open_sweep_run(database(db), run_id)
    assert run.dataset.completed and sorted(run.completed_points()) == [0, 1, 2]
    assert "thermalink_station_changes" not in run.dataset.metadata


def test_resume_when_the_runs_station_file_is_gone_names_it_and_opens_nothing(tmp_path, capsys, monkeypatch):
    db = tmp_path / "thermalink.db"
    station = _station_copy(tmp_path)
    run_id = _interrupted_run(db, station)
    station.rename(tmp_path / "moved.yaml")

    def no_instruments(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(LabStation, "from_config", no_instruments)
    assert main(["run", "--resume", str(run_id), "--db", str(db), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"station file {station.resolve()} (sha256 " in err and "which no longer exists" in err
    assert open_sweep_run(database(db), run_id).completed_points() == [0]


def test_an_old_run_from_another_station_is_not_resumed_on_the_simulated_default(tmp_path, capsys, monkeypatch):
    from legacy_runs import create_legacy_run
    from qcodes.instrument import Instrument

    from thermalink.experiments import sweep_runner
    from thermalink.experiments.lab_station import load_station
    from thermalink.experiments.sweep_runner import SweepStopped

    def interrupt(index, run):
        raise KeyboardInterrupt

    db = tmp_path / "thermalink.db"
    lab = LabStation(load_station(_station_copy(tmp_path)), sample_name="lab")  # no fingerprint: an old run
    plan = bandwidth_sweep([1e4, 1e5, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3)
    with pytest.raises(SweepStopped) as stopped, monkeypatch.context() as old_code:
        old_code.setattr(sweep_runner, "create_sweep_run", create_legacy_run)
        run_sweep(lab, plan, database(db), progress=False, on_point=interrupt)
    Instrument.close_all()
    run_id = stopped.value.run_id
    assert main(["run", "--resume", str(run_id), "--db", str(db), "--out", str(tmp_path)]) == 2
    assert f"run {run_id} predates station fingerprints and was measured on station 'lab'" in capsys.readouterr().err
    assert open_sweep_run(database(db), run_id).completed_points() == [0]
