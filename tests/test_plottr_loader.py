"""The raw and analysis runs open in plottr's QCoDeS loader (headless: Qt's offscreen platform)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from qcodes.dataset import load_by_id
from qcodes.instrument import Instrument

from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep, bandwidth_temperature_map
from thermalink.experiments.sweep_runner import run_sweep
from thermalink.experiments.sweep_storage import database, open_sweep_run

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # plottr imports Qt (qtpy) even for its data module
QCodesDSLoader = pytest.importorskip(
    "plottr.data.qcodes_dataset", reason="plottr and a Qt binding (PyQt5) come with the 'test' extra").QCodesDSLoader


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    db = tmp_path_factory.mktemp("plottr") / "thermalink.db"
    conn = database(db)
    plan = bandwidth_sweep([1e4, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=3,
                           settle_s=0.0)
    run = open_sweep_run(conn, run_sweep(LabStation.from_config(), plan, conn, progress=False).run_id)
    Instrument.close_all()
    analysis = load_by_id(analyse_run(conn, run, n_null_samples=0), conn=conn)
    return db, run, analysis


@pytest.fixture(scope="module")
def qt_application():
    """The loader node is a Qt object with a graphics item: it needs a QApplication (offscreen here)."""
    from qtpy.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def plottr_data(db, run_id: int):
    """What plottr's QCoDeS loader node hands its plots for run ``run_id`` (as the inspectr/autoplot apps do)."""
    loader = QCodesDSLoader("loader")
    loader.pathAndId = (str(db), run_id)  # setting it runs the node (its process())
    data = loader.outputValues()["dataOut"]
    assert data.validate()
    return data


def axis_names(data, name: str) -> list[str]:
    """The axes of ``name`` in plottr's data, without the ``_<n>`` plottr appends to tell apart the
    same setpoint of dependents of different shapes."""
    return [re.sub(r"_\d+$", "", axis) for axis in data.axes(name)]


def test_plottr_reads_the_counts_on_the_bandwidth_axis_with_units(runs, qt_application):
    db, run, _ = runs
    data = plottr_data(db, run.run_id)
    assert data.meta_val("qcodes_guid") == run.dataset.guid
    bandwidth, setting, outcome = data.axes("counts")
    assert bandwidth.startswith("bandwidth") and (setting, outcome) == ("setting_index", "outcome_index")
    assert data[bandwidth]["unit"] == "Hz" and data[bandwidth]["label"] == "bandwidth"
    counts = np.asarray(data["counts"]["values"])
    assert counts.sum() == 2 * 9 * 300 and counts.size == 2 * 9 * 4
    np.testing.assert_allclose(sorted(set(np.asarray(data[bandwidth]["values"]).ravel())), [1e4, 1e6])  # planned
    assert sorted(set(np.asarray(data[setting]["values"]).ravel())) == list(range(9))
    assert data["counts"]["label"] == "tomography counts"
    for name in ("point_index", "bandwidth_readback", "temperature", "settle_time", "attenuation"):
        [axis] = data.axes(name)
        assert axis.startswith("bandwidth"), name
    assert data["bandwidth_readback"]["unit"] == "Hz" and data["temperature"]["unit"] == "K"
    assert data["settle_time"]["unit"] == "s" and data["attenuation"]["unit"] == "dB"
    np.testing.assert_allclose(sorted(np.asarray(data["bandwidth_readback"]["values"]).ravel()), [1e4, 1e6], rtol=1e-6)
    assert sorted(np.asarray(data["point_index"]["values"]).ravel()) == [0, 1]


def test_plottr_reads_the_analysis_on_the_bandwidth_axis_with_the_settings(runs, qt_application):
    db, _, analysis = runs
    data = plottr_data(db, analysis.run_id)
    [axis] = data.axes("concurrence")
    assert axis == "bandwidth" and data[axis]["unit"] == "Hz"
    for name in ("concurrence_low", "concurrence_high", "gof_p_value", "twin_concurrence", "point_index",
                 "bandwidth_readback", "temperature"):
        assert data.axes(name) == [axis], name
    assert data["bandwidth_readback"]["unit"] == "Hz" and data["temperature"]["unit"] == "K"
    np.testing.assert_allclose(sorted(np.asarray(data["bandwidth_readback"]["values"]).ravel()), [1e4, 1e6], rtol=1e-6)
    assert axis_names(data, "rho_real") == ["bandwidth", "ket", "bra"]
    low, high = np.asarray(data["concurrence_low"]["values"]), np.asarray(data["concurrence_high"]["values"])
    assert np.all(low <= high)


def test_plottr_reads_a_map_on_both_axes(tmp_path, qt_application):
    db = tmp_path / "map.db"
    conn = database(db)
    plan = bandwidth_temperature_map([1e4, 1e6], [20.0, 40.0], attenuation_dB=0.0, shots=50, bootstrap=20, seed=4,
                                     settle_s=0.0)
    run = open_sweep_run(conn, run_sweep(LabStation.from_config(), plan, conn, progress=False).run_id)
    Instrument.close_all()
    raw = plottr_data(db, run.run_id)
    assert axis_names(raw, "counts") == ["bandwidth", "temperature", "setting_index", "outcome_index"]
    b, t = raw.axes("counts")[:2]
    assert raw[b]["unit"] == "Hz" and raw[t]["unit"] == "K"
    assert axis_names(raw, "temperature_readback") == ["bandwidth", "temperature"]
    b, t = raw.axes("temperature_readback")
    pairs = set(zip(np.asarray(raw[b]["values"]).ravel(), np.asarray(raw[t]["values"]).ravel()))
    assert pairs == {(1e4, 20.0), (1e4, 40.0), (1e6, 20.0), (1e6, 40.0)}
    analysis = plottr_data(db, analyse_run(conn, run, n_null_samples=0))
    assert axis_names(analysis, "concurrence") == ["bandwidth", "temperature"]
