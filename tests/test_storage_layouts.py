"""Storage format 3 (the plan's swept settings as QCoDeS setpoints) beside runs of format 2 (every
parameter on ``point_index``): both read, resume and analyse to the same xarray views."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from qcodes.dataset import load_by_id, plot_dataset
from qcodes.instrument import Instrument

from thermalink.experiments import sweep_storage
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import analyse_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_runner import SweepStopped, run_sweep
from thermalink.experiments.sweep_storage import (
    database, export_netcdf, load_analysis, load_sweep, open_sweep_run, run_axes,
)

PLAN = bandwidth_sweep([1e4, 1e5, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=300, bootstrap=20, seed=5,
                       settle_s=0.0)


def setpoints(dataset, name: str) -> list[str]:
    """Names of the QCoDeS setpoints of parameter ``name`` of a dataset."""
    by_name = {spec.name: specs for spec, specs in dataset.description.interdeps.dependencies.items()}
    return [spec.name for spec in by_name[name]]


def stop_after_second(index, run):
    if index == 1:
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A format-3 run of PLAN, and a format-2 run of PLAN (stopped after two points by the old
    format, resumed by today's code), both analysed."""
    conn = database(tmp_path_factory.mktemp("layouts") / "runs.db")
    lab = LabStation.from_config()
    new = open_sweep_run(conn, run_sweep(lab, PLAN, conn, progress=False).run_id)
    with pytest.MonkeyPatch.context() as old_code:
        old_code.setattr(sweep_storage, "FORMAT_VERSION", 2)
        with pytest.raises(SweepStopped) as stopped:
            run_sweep(lab, PLAN, conn, progress=False, on_point=stop_after_second)
    outcome = run_sweep(lab, None, conn, resume_run_id=stopped.value.run_id, progress=False)
    Instrument.close_all()
    assert outcome.points_measured == [2]
    old = open_sweep_run(conn, stopped.value.run_id)
    return conn, new, old, analyse_run(conn, new, n_null_samples=0), analyse_run(conn, old, n_null_samples=0)


def test_the_layout_is_a_function_of_the_plan_kind_and_the_format():
    assert run_axes("bandwidth", 3) == ("bandwidth",) and run_axes("temperature", 3) == ("temperature",)
    assert run_axes("bandwidth_temperature", 3) == ("bandwidth", "temperature")
    assert run_axes("bandwidth_temperature", 2) == () and run_axes("bandwidth", 1) == ()


def test_a_new_run_and_its_analysis_are_stored_on_the_swept_bandwidth(runs):
    conn, new, _, new_analysis, _ = runs
    assert new.format_version == 3
    assert setpoints(new.dataset, "counts") == ["bandwidth", "setting_index", "outcome_index"]
    for name in ("point_index", "bandwidth_readback", "temperature", "settle_time", "lab_link"):
        assert setpoints(new.dataset, name) == ["bandwidth"], name
    analysis = load_by_id(new_analysis, conn=conn)
    for name in ("concurrence", "point_index", "bandwidth_readback"):
        assert setpoints(analysis, name) == ["bandwidth"], name
    planned = analysis.get_parameter_data("point_index")["point_index"]
    np.testing.assert_array_equal(planned["bandwidth"], [PLAN.points[int(i)]["bandwidth"] for i in planned["point_index"]])


def test_an_old_format_run_resumes_in_its_own_layout_and_reads_and_analyses_as_a_new_one(runs):
    conn, new, old, new_analysis, old_analysis = runs
    assert old.format_version == 2 and old.completed_points() == [0, 1, 2]
    assert setpoints(old.dataset, "counts") == ["point_index", "setting_index", "outcome_index"]
    assert setpoints(old.dataset, "bandwidth") == ["point_index"]  # the resumed points too: no mixed layout
    assert setpoints(load_by_id(old_analysis, conn=conn), "concurrence") == ["point_index"]
    # the same views (the simulated fridge's read-backs, and so the counts, differ from run to run)
    for old_view, new_view in ((load_sweep(old), load_sweep(new)), (load_analysis(conn, old), load_analysis(conn, new))):
        assert layout(old_view) == layout(new_view)
        np.testing.assert_array_equal(old_view["point"], [0, 1, 2])
    old_view, new_view = load_sweep(old), load_sweep(new)
    np.testing.assert_allclose(old_view["bandwidth"], new_view["bandwidth"], rtol=1e-6)
    assert old_view["counts"].sum() == new_view["counts"].sum() == 3 * 9 * 300
    assert np.all(np.isfinite(load_analysis(conn, old)["concurrence"]))


def layout(view: xr.Dataset) -> dict:
    """Names, dimensions, dtypes and attributes of a view's variables and coordinates."""
    return {name: (array.dims, array.dtype.kind, array.attrs) for name, array in view.variables.items()}


@pytest.fixture
def many_figures():
    """plot_dataset opens one figure per parameter (more than pyplot's 20 before it warns)."""
    with plt.rc_context({"figure.max_open_warning": 0}):
        yield
    plt.close("all")


def test_plot_dataset_draws_the_analysis_against_the_bandwidth_in_hz(runs, many_figures):
    conn, _, old, new_analysis, old_analysis = runs
    axes, _ = plot_dataset(load_by_id(new_analysis, conn=conn))
    labels = {axis.get_ylabel(): axis.get_xlabel() for axis in axes}
    assert labels["concurrence"] == "bandwidth (MHz)"  # QCoDeS scales the Hz of the axis to 1e4..1e6
    plt.close("all")  # one figure per parameter
    old_axes, _ = plot_dataset(load_by_id(old_analysis, conn=conn))
    assert {axis.get_ylabel(): axis.get_xlabel() for axis in old_axes}["concurrence"] == "point"  # format 2
    plt.close("all")


def test_the_netcdf_of_a_new_run_holds_the_results_on_the_planned_bandwidth(runs, tmp_path):
    conn, new, old, _, _ = runs
    exported = xr.open_dataset(export_netcdf(new, tmp_path / "new.nc", conn), engine="h5netcdf")
    assert exported["concurrence"].dims == ("point",) and exported["counts"].dims == ("point", "setting", "outcome")
    np.testing.assert_array_equal(exported["concurrence"]["bandwidth"], [1e4, 1e5, 1e6])
    assert exported["bandwidth"].attrs["units"] == "Hz"
    np.testing.assert_allclose(exported["concurrence"], load_analysis(conn, new)["concurrence"])
    np.testing.assert_allclose(exported["bandwidth_readback"], [1e4, 1e5, 1e6], rtol=1e-6)
    legacy = xr.open_dataset(export_netcdf(old, tmp_path / "old.nc", conn), engine="h5netcdf")
    np.testing.assert_allclose(legacy["concurrence"], exported["concurrence"])
    np.testing.assert_allclose(legacy["bandwidth"], exported["bandwidth_readback"])
