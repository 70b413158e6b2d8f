"""Analysis runs linked to their raw run by QCoDeS GUID links; export through QCoDeS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from qcodes.dataset import extract_runs_into_db, load_by_id
from qcodes.instrument import Instrument

from legacy_runs import save_legacy_analysis
from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import SweepAnalysis, analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import run_sweep
from thermalink.experiments.sweep_storage import (
    ANALYSIS_EDGE, StoredRunError, database, export_netcdf, load_analysis, open_sweep_run,
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
    exported = xr.open_dataset(export_netcdf(run, tmp_path / "legacy.nc", conn), engine="h5netcdf")
    assert exported.attrs["analysis_run_id"] == analysis_id
    assert float(exported["concurrence"][0]) == pytest.approx(analysis.point(0)["concurrence"])


RESULTS = ("concurrence", "concurrence_low", "concurrence_high", "singlet_fidelity", "bell_fidelity_low",
           "bell_fidelity_lower_bound", "concurrence_lower_bound", "twin_concurrence", "twin_singlet_fidelity",
           "twin_rho_real", "gof_p_value", "consistent")


def test_report_writes_qcodes_exports_of_both_runs_and_one_netcdf_with_the_results(source, tmp_path, capsys):
    db, conn = source
    out = tmp_path / "report"
    assert main(["report", "1", "--db", str(db), "--out", str(out)]) == 0
    raw, analysis = load_by_id(1, conn=conn), load_by_id(2, conn=conn)

    [raw_file] = out.glob(f"*{raw.guid}.nc")  # QCoDeS' DataSet.export, its default name elements
    exported_raw = xr.open_dataset(raw_file, engine="h5netcdf")
    # format 3: the swept bandwidth (planned, Hz) is the QCoDeS setpoint, its read-back beside it
    assert exported_raw["counts"].dims == ("bandwidth", "setting_index", "outcome_index")
    assert exported_raw["bandwidth"].attrs["units"] == "Hz" and exported_raw["bandwidth_readback"].attrs["units"] == "Hz"
    assert exported_raw["point_index"].dims == ("bandwidth",)
    assert json.loads(exported_raw.attrs["thermalink_assignment"]) == json.loads(raw.metadata["thermalink_assignment"])
    assert exported_raw.attrs["thermalink_analysis_guid"] == analysis.guid

    [analysis_file] = out.glob(f"*{analysis.guid}.nc")
    exported = xr.open_dataset(analysis_file, engine="h5netcdf")
    np.testing.assert_allclose(exported["bandwidth"], [1e4, 1e6])
    np.testing.assert_allclose(exported["bandwidth_readback"], [1e4, 1e6], rtol=1e-6)
    assert exported["bandwidth"].attrs["units"] == "Hz" and exported["temperature"].attrs["units"] == "K"
    np.testing.assert_allclose(exported["temperature"], exported_raw["temperature"])  # the read-back, ~30 K
    np.testing.assert_allclose(exported["temperature"], 30.0, rtol=0.01)
    assert "source" in json.loads(exported.attrs["snapshot"])["station"]["instruments"]
    assert exported.attrs["thermalink_raw_guid"] == raw.guid
    assert float(exported.attrs["thermalink_certification_confidence"]) == 0.95
    assert raw.guid in exported.attrs["parent_dataset_links"]
    for name in RESULTS:
        assert exported[name].dims[0] == "bandwidth", name
    assert np.all(exported["concurrence_low"] <= exported["concurrence_high"])
    assert np.all((exported["gof_p_value"] >= 0) & (exported["gof_p_value"] <= 1))

    combined = xr.open_dataset(out / "run1.nc", engine="h5netcdf")
    assert combined["counts"].dims == ("point", "setting", "outcome")
    assert combined.attrs["guid"] == raw.guid and combined.attrs["analysis_guid"] == analysis.guid
    assert "instruments" in json.loads(combined.attrs["snapshot"])["station"]
    np.testing.assert_allclose(combined["concurrence"], load_analysis(conn, open_sweep_run(conn, 1))["concurrence"])
    for name in RESULTS:  # on the point axis, with the planned bandwidth (Hz) as its coordinate
        assert combined[name].dims[0] == "point", name
        np.testing.assert_allclose(combined[name]["bandwidth"], [1e4, 1e6], err_msg=name)
    assert combined["bandwidth"].attrs["units"] == "Hz" and "bandwidth" in combined.coords
    np.testing.assert_allclose(combined["bandwidth_readback"], [1e4, 1e6], rtol=1e-6)
    assert combined["bandwidth_readback"].attrs["units"] == "Hz"


def test_a_users_automatic_export_setting_fires_for_the_raw_and_the_analysis_run(tmp_path, monkeypatch):
    import qcodes

    folder = tmp_path / "exports"
    monkeypatch.setitem(qcodes.config["dataset"], "export_automatic", True)
    monkeypatch.setitem(qcodes.config["dataset"], "export_type", "netcdf")
    monkeypatch.setitem(qcodes.config["dataset"], "export_path", str(folder))
    monkeypatch.setitem(qcodes.config["dataset"], "export_prefix", "lab_")
    conn = database(tmp_path / "auto.db")
    plan = bandwidth_sweep([1e5], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3,
                           settle_s=0.0)
    run = open_sweep_run(conn, run_sweep(LabStation.from_config(), plan, conn, progress=False).run_id)
    Instrument.close_all()
    [raw_file] = folder.glob("lab_*.nc")
    assert run.dataset.guid in raw_file.name
    assert int(xr.open_dataset(raw_file, engine="h5netcdf")["counts"].sum()) == 9 * 300
    analysis_id = analyse_run(conn, run, n_null_samples=0)
    guid = load_by_id(analysis_id, conn=conn).guid
    [analysis_file] = folder.glob(f"lab_*{guid}.nc")
    assert "concurrence_lower_bound" in xr.open_dataset(analysis_file, engine="h5netcdf")
