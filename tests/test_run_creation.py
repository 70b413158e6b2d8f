"""A run is created whole or not at all (issue 14), and a run that is not whole is never resumed.

The kill test instruments every database write ``thermalink run`` makes until its first point is
stored (the experiment, the dataset, its snapshot and start, each metadata entry), and kills the
command with SIGKILL just before each one in turn; each killed database is then resumed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from qcodes.instrument import Instrument

from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import SweepStopped, run_sweep
from thermalink.experiments.sweep_storage import database, load_sweep, open_sweep_run

SWEEP = ["--points", "2", "--bandwidth", "1e4", "1e6", "--shots", "100", "--bootstrap", "20",
         "--calibration-shots", "500", "--seed", "11"]

#: Runs ``thermalink run`` in forked children (imports paid once), each killed with SIGKILL just
#: before its K-th database write; child 0 is not killed and lists the writes it made.
KILLER = textwrap.dedent(
    """
    import json, os, signal, sys
    from qcodes.dataset.data_set import DataSet
    from thermalink.experiments import experiment_session, sweep_storage  # imported once, before the forks
    from thermalink.experiments.cli import main
    from thermalink.experiments.lab_station import LabStation

    LabStation.from_config().close()  # the twin's caches and the pyvisa-sim resources, loaded once

    folder, sweep = sys.argv[1], json.loads(sys.argv[2])
    writes, kill_at = [], [0]

    def instrumented(name, original, key_of=lambda args: ""):
        def write(*args, **kwargs):
            writes.append(f"{name}{key_of(args)}")
            if len(writes) == kill_at[0]:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return write

    for name in ("add_snapshot", "mark_started", "add_results", "mark_completed"):
        setattr(DataSet, name, instrumented(name, getattr(DataSet, name)))
    DataSet.add_metadata = instrumented("add_metadata", DataSet.add_metadata, lambda args: f" {args[1]}")
    for name in ("load_or_create_experiment", "new_data_set"):
        setattr(sweep_storage, name, instrumented(name, getattr(sweep_storage, name)))

    def child(k):
        pid = os.fork()
        if pid == 0:
            kill_at[0] = k
            sys.stdout = sys.stderr = open(os.devnull, "w")
            code = main(["run", "--db", f"{folder}/kill{k}.db", "--out", f"{folder}/out{k}", *sweep])
            if k == 0:
                with open(f"{folder}/writes.json", "w") as file:
                    json.dump(writes, file)
            os._exit(code)
        return os.waitpid(pid, 0)[1]

    assert child(0) == 0
    reference = json.load(open(f"{folder}/writes.json"))
    creation = reference[: reference.index("add_results") + 1]  # every write up to the first point
    print(json.dumps({"writes": creation, "status": [child(k) for k in range(1, len(creation) + 1)]}))
    """
)


def _runs(path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_a_run_killed_at_any_write_of_its_creation_is_resumed_to_the_same_counts_or_refused_clearly(
        tmp_path, capsys):
    killer = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path), json.dumps(SWEEP)],
                            capture_output=True, text=True, timeout=600)
    assert killer.returncode == 0, killer.stderr
    report = json.loads(killer.stdout.splitlines()[-1])
    writes = report["writes"]
    assert set(report["status"]) == {9}  # every child died of SIGKILL (wait status 9)
    reference = load_sweep(open_sweep_run(database(tmp_path / "kill0.db"), 1))["counts"].values
    # The creation transaction ends before run_sweep's first own write (the status "running" again).
    created = writes.index("add_metadata thermalink_status", writes.index("add_metadata thermalink_status") + 1)
    created_keys = [w.split()[1] for w in writes[:created] if w.startswith("add_metadata")]
    assert created_keys[0] == "thermalink_format" and {
        "thermalink_plan", "thermalink_assignment", "thermalink_status", "thermalink_station",
        "thermalink_readout_calibration"} <= set(created_keys)  # every entry a resume needs is a kill point
    outcomes = []
    for k, write in enumerate(writes, start=1):
        db = tmp_path / f"kill{k}.db"
        capsys.readouterr()
        code = main(["run", "--resume", "1", "--db", str(db), "--out", str(tmp_path / f"resumed{k}")])
        Instrument.close_all()
        err = capsys.readouterr().err
        assert "Traceback" not in err and "KeyError" not in err, (write, err)
        if k <= created:  # killed inside the creation transaction: no run at all
            assert _runs(db) == 0, write
            assert code == 2 and "thermalink: error: run 1 is not in this database" in err, (write, err)
            outcomes.append("refused")
        else:  # killed after it: the whole run is there and resumes to the uninterrupted counts
            assert code == 0, (write, err)
            np.testing.assert_array_equal(load_sweep(open_sweep_run(database(db), 1))["counts"].values, reference,
                                          err_msg=write)
            outcomes.append("resumed")
    assert outcomes.count("resumed") == 2  # killed before the status update and before the first point


# --- runs stored entry by entry by older thermalink (format 1) -------------------------------------------

def _legacy_run(db, entries: int | None, station: bool = True) -> int:
    """A format-1 run of a 2-point plan whose creation stopped after ``entries`` metadata entries."""
    from legacy_runs import create_legacy_run

    lab = LabStation.from_config()
    plan = bandwidth_sweep([1e4, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=100, bootstrap=20, seed=3)
    station_json = lab.fingerprint.to_json() if station else "null"
    run = create_legacy_run(database(db), plan, "simulated", {}, lab.assignment(), station=station_json,
                            entries=entries)
    Instrument.close_all()
    return run.run_id


@pytest.mark.parametrize("entries, message", [
    (0, "run 1 is not a thermalink sweep (no 'thermalink_plan' metadata entry"),
    (1, "run 1 was not created completely"),
    (3, "run 1 was not created completely"),
])
def test_a_half_made_old_run_is_never_resumed_and_says_how_to_start_again(tmp_path, capsys, monkeypatch, entries,
                                                                         message):
    db = tmp_path / "old.db"
    _legacy_run(db, entries)

    def no_instruments(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(LabStation, "from_config", no_instruments)
    assert main(["run", "--resume", "1", "--db", str(db), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if entries:
        assert "Start the sweep anew: 'thermalink run'" in err and '"kind": "bandwidth"' in err


def test_analyze_and_report_of_a_run_missing_an_entry_name_the_run_and_the_entry(tmp_path, capsys):
    db = tmp_path / "old.db"
    _legacy_run(db, entries=1)  # only the plan
    assert main(["analyze", "1", "--db", str(db)]) == 2
    assert ("run 1 has no 'thermalink_assignment' metadata entry (the readout assignment matrices)"
            in capsys.readouterr().err)
    assert main(["report", "1", "--db", str(db), "--out", str(tmp_path)]) == 2
    assert "run 1 has no measured points yet" in capsys.readouterr().err


def test_a_run_without_a_station_file_is_told_apart_from_one_before_fingerprints_by_its_format(tmp_path, caplog):
    from thermalink.experiments.lab_station import load_station
    from thermalink.experiments.sweep_storage import FORMAT_KEY, FORMAT_VERSION

    def interrupt(index, run):
        raise KeyboardInterrupt

    conn = database(tmp_path / "python.db")
    lab = LabStation(load_station())  # built in Python: no station file, no fingerprint
    plan = bandwidth_sweep([1e4, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=100, bootstrap=20, seed=3)
    with pytest.raises(SweepStopped) as stopped:
        run_sweep(lab, plan, conn, progress=False, on_point=interrupt)
    run = open_sweep_run(conn, stopped.value.run_id)
    assert run.metadata[FORMAT_KEY] == str(FORMAT_VERSION) == "3" and run.metadata["thermalink_station"] == "null"
    Instrument.close_all()
    with caplog.at_level("WARNING"):
        outcome = run_sweep(LabStation.from_config(), None, conn, resume_run_id=run.run_id, progress=False)
    assert outcome.points_measured == [1]
    assert "has no station fingerprint (it was started on a station built in Python" in caplog.text
    assert "predates" not in caplog.text


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_run_whose_creation_fails_leaves_no_run_and_the_database_usable(tmp_path, monkeypatch, failure):
    from qcodes.dataset.data_set import DataSet

    from thermalink.experiments.sweep_storage import create_sweep_run

    conn = database(tmp_path / "failing.db")
    plan = bandwidth_sweep([1e4], temperature_K=30.0, shots=100, bootstrap=20)
    add_metadata = DataSet.add_metadata

    def failing(self, key, value):
        if key == "thermalink_station":
            raise failure
        return add_metadata(self, key, value)

    with monkeypatch.context() as broken:
        broken.setattr(DataSet, "add_metadata", failing)
        with pytest.raises(type(failure)):
            create_sweep_run(conn, plan, "simulated", {}, np.eye(2)[None].repeat(2, 0))
    assert _runs(tmp_path / "failing.db") == 0
    run = create_sweep_run(conn, plan, "simulated", {}, np.eye(2)[None].repeat(2, 0))
    assert run.run_id == 1 and run.metadata["thermalink_format"] == "3"
