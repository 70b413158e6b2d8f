"""The raw and analysis runs open in plottr's QCoDeS loader (headless: Qt's offscreen platform)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from qcodes.dataset import load_by_id
from qcodes.instrument import Instrument

from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
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


def test_plottr_reads_the_counts_with_their_setpoints_and_units(runs, qt_application):
    db, run, _ = runs
    data = plottr_data(db, run.run_id)
    assert data.meta_val("qcodes_guid") == run.dataset.guid
    # plottr combines the dependents: the point axis of the counts (one value per count) is renamed
    # beside the per-point scalars' (issue 16's setpoints change gives them real axes)
    point, setting, outcome = data.axes("counts")
    assert point.startswith("point_index") and (setting, outcome) == ("setting_index", "outcome_index")
    counts = np.asarray(data["counts"]["values"])
    assert counts.sum() == 2 * 9 * 300 and counts.size == 2 * 9 * 4
    assert sorted(set(np.asarray(data[setting]["values"]).ravel())) == list(range(9))
    assert sorted(set(np.asarray(data[outcome]["values"]).ravel())) == list(range(4))
    assert data["counts"]["label"] == "tomography counts"
    assert data[point]["label"] == "point"
    assert data["bandwidth"]["unit"] == "Hz" and data["temperature"]["unit"] == "K"
    assert data["settle_time"]["unit"] == "s" and data["attenuation"]["unit"] == "dB"
    [scalar_point] = data.axes("bandwidth")
    np.testing.assert_allclose(sorted(np.asarray(data["bandwidth"]["values"]).ravel()), [1e4, 1e6], rtol=1e-6)
    assert sorted(np.asarray(data[scalar_point]["values"]).ravel()) == [0, 1]


def test_plottr_reads_the_analysis_on_the_point_axis_with_the_settings(runs, qt_application):
    db, _, analysis = runs
    data = plottr_data(db, analysis.run_id)
    [point] = data.axes("concurrence")
    for name in ("concurrence_low", "concurrence_high", "gof_p_value", "twin_concurrence", "bandwidth", "temperature"):
        assert data.axes(name) == [point], name
    assert data["bandwidth"]["unit"] == "Hz" and data["temperature"]["unit"] == "K"
    np.testing.assert_allclose(sorted(np.asarray(data["bandwidth"]["values"]).ravel()), [1e4, 1e6], rtol=1e-6)
    assert data.axes("rho_real")[1:] == ["ket", "bra"]
    low, high = np.asarray(data["concurrence_low"]["values"]), np.asarray(data["concurrence_high"]["values"])
    assert np.all(low <= high)
