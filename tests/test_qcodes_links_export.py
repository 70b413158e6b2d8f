"""Analysis runs linked to their raw run by QCoDeS GUID links; export through QCoDeS."""

from __future__ import annotations

import pytest
from qcodes.dataset import extract_runs_into_db, load_by_id
from qcodes.instrument import Instrument

from legacy_runs import save_legacy_analysis
from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import SweepAnalysis, analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import run_sweep
from thermalink.experiments.sweep_storage import (
    ANALYSIS_EDGE, StoredRunError, database, load_analysis, open_sweep_run,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Run 1: a 2-point sweep at 30 K, analysed as run 2; run 3: a 2-point sweep at 20 K, analysed as run 4."""
    db = tmp_path_factory.mktemp("links") / "source.db"
    conn = database(db)
    lab = LabStation.from_config()
    for temperature in (30.0, 20.0):
        plan = bandwidth_sweep([1e4, 1e6], temperature_K=temperature, attenuation_dB=0.0, shots=300, bootstrap=20,
                               seed=3, settle_s=0.0)
        analyse_run(conn, open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id), n_null_samples=0)
    Instrument.close_all()
    return db, conn


def test_the_analysis_links_to_its_raw_run_with_a_qcodes_guid_link(source):
    _, conn = source
    raw, analysis = load_by_id(1, conn=conn), load_by_id(2, conn=conn)
    [link] = analysis.parent_dataset_links
    assert (link.head, link.tail, link.edge_type) == (analysis.guid, raw.guid, ANALYSIS_EDGE)
    with pytest.raises(StoredRunError, match="run 2 is the analysis of run 1; use run 1"):
        open_sweep_run(conn, 2)


def test_report_on_a_copy_made_by_extract_runs_into_db_shows_the_right_analysis(source, tmp_path, capsys):
    db, conn = source
    copy = tmp_path / "copy.db"
    # Another run first, then the analysis before its raw run: every run number changes.
    extract_runs_into_db(db, copy, 3)
    extract_runs_into_db(db, copy, 2)
    extract_runs_into_db(db, copy, 1)
    copied = database(copy, create=False)
    assert [load_by_id(i, conn=copied).guid for i in (1, 2, 3)] == [load_by_id(i, conn=conn).guid for i in (3, 2, 1)]

    expected = load_analysis(conn, open_sweep_run(conn, 1))
    found = load_analysis(copied, open_sweep_run(copied, 3))
    assert found.attrs["analysis_run_id"] == 2 and found.attrs["raw_run_id"] == 3
    assert found["concurrence"].values.tolist() == expected["concurrence"].values.tolist()

    capsys.readouterr()
    assert main(["report", "1", "--db", str(db), "--out", str(tmp_path / "original")]) == 0
    original_table = capsys.readouterr().out.split("wrote")[0]
    assert main(["report", "3", "--db", str(copy), "--out", str(tmp_path / "copied")]) == 0
    assert capsys.readouterr().out.split("wrote")[0] == original_table
    with pytest.raises(StoredRunError, match="run 2 is the analysis of run 3; use run 3"):
        open_sweep_run(copied, 2)
    # run 1 of the copy (source run 3) has its analysis (source run 4) elsewhere: said so, by GUID
    with pytest.raises(StoredRunError, match="is not in this database"):
        load_analysis(copied, open_sweep_run(copied, 1))


def test_runs_analysed_before_guid_links_still_open_by_run_number(tmp_path):
    conn = database(tmp_path / "legacy.db")
    plan = bandwidth_sweep([1e4], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3,
                           settle_s=0.0)
    run = open_sweep_run(conn, run_sweep(LabStation.from_config(), plan, conn, progress=False).run_id)
    Instrument.close_all()
    analysis = SweepAnalysis(conn, run, n_null_samples=0)
    analysis_id = save_legacy_analysis(conn, run, [analysis.point(0)])
    loaded = load_analysis(conn, open_sweep_run(conn, run.run_id))
    assert loaded.attrs["analysis_run_id"] == analysis_id
    assert float(loaded["concurrence"][0]) == pytest.approx(analysis.point(0)["concurrence"])
    with pytest.raises(StoredRunError, match=f"run {analysis_id} is the analysis of run {run.run_id}"):
        open_sweep_run(conn, analysis_id)
