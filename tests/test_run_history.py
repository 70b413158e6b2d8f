"""``thermalink runs`` and ``thermalink diff`` on runs made on the simulated station."""

from __future__ import annotations

import re

import pytest
from qcodes.instrument import Instrument

from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.run_history import diff_runs, list_runs
from thermalink.experiments.sweep_analysis import analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import SweepStopped, run_sweep
from thermalink.experiments.sweep_storage import database, open_sweep_run


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Run 1: 2-point sweep at 30 K, analysed (run 2); run 3: 3-point sweep at 20 K and 2 dB on a
    readout with another shot count, stopped after its first point."""
    db = tmp_path_factory.mktemp("history") / "thermalink.db"
    conn = database(db)
    first = bandwidth_sweep([1e4, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3,
                             settle_s=0.0)
    lab = LabStation.from_config()
    run = open_sweep_run(conn, run_sweep(lab, first, conn, progress=False).run_id)
    analyse_run(conn, run)
    lab.readout.shots(777)  # a station setting that differs in the snapshot

    def interrupt(index, run):
        raise KeyboardInterrupt

    second = bandwidth_sweep([1e4, 1e5, 1e6], temperature_K=20.0, attenuation_dB=2.0, shots=300, bootstrap=20, seed=3,
                             settle_s=0.0)
    with pytest.raises(SweepStopped):
        run_sweep(lab, second, conn, progress=False, on_point=interrupt)
    Instrument.close_all()
    return db, conn


def test_runs_lists_every_run_with_kind_status_points_and_verdict(history):
    db, conn = history
    rows = list_runs(conn)
    assert [row.id for row in rows] == [1, 2, 3]
    raw, analysis, stopped = rows
    assert (raw.kind, raw.status, raw.points) == ("bandwidth", "completed", "2/2")
    assert re.fullmatch(r"[0-2]/2 consistent", raw.verdict)
    assert (analysis.kind, analysis.points, analysis.verdict) == ("analysis", "2", raw.verdict)
    assert (stopped.kind, stopped.status, stopped.points, stopped.verdict) == ("bandwidth", "interrupted", "1/3", "-")
    assert len({row.guid for row in rows}) == 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row.started) for row in rows)


def test_runs_command_prints_a_table_with_the_guids(history, capsys):
    db, conn = history
    assert main(["runs", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "guid", "kind", "status", "points", "started", "verdict"]
    assert len(lines) == 4
    guid = open_sweep_run(conn, 3).dataset.guid
    assert lines[3].split()[:5] == ["3", guid, "bandwidth", "interrupted", "1/3"]


def test_diff_names_the_changed_snapshot_parameters_and_plan_fields(history):
    db, conn = history
    diff = diff_runs(conn, 1, 3)
    assert diff.snapshot.changed[("readout", "shots")] == (2000, 777)
    assert ("source", "temperature") not in diff.snapshot.left_only
    assert diff.plan["number_of_points"] == (2, 3)
    assert diff.plan["points.temperature"] == ([30.0, 30.0], [20.0, 20.0, 20.0])
    assert diff.plan["points.attenuation"] == ([0.0, 0.0], [2.0, 2.0, 2.0])
    assert "shots" not in diff.plan and "seed" not in diff.plan
    same = diff_runs(conn, 1, 1)
    assert not same.plan and not same.snapshot.changed


def test_diff_command_prints_the_changes_and_an_unknown_run_names_it(history, capsys):
    db, conn = history
    assert main(["diff", "1", "3", "--db", str(db)]) == 0
    printed = capsys.readouterr().out
    assert "readout.shots: 2000 -> 777" in printed
    assert "number_of_points: 2 -> 3" in printed
    assert main(["diff", "1", "2", "--db", str(db)]) == 0  # raw run against its analysis
    printed = capsys.readouterr().out
    assert "station snapshot: not stored in both runs" in printed and "plan: not stored in both runs" in printed
    assert main(["diff", "1", "9", "--db", str(db)]) == 2
    assert "run 9 is not in this database" in capsys.readouterr().err
    assert main(["runs", "--db", str(db.parent / "none.db")]) == 2
