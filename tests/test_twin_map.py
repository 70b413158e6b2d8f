"""Grid evaluation of the twin and the command line that writes its map."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr

from thermalink.analysis import concurrence
from thermalink.experiments.cli import main
from thermalink.simulators import LinkParameters, steady_state, twin_map
from thermalink.simulators.maps import states_from_map


def test_map_is_labelled_by_its_axes_and_matches_single_points():
    kappas, occupations = [0.01, 0.1, 10.0], [10.0, 100.0]
    data = twin_map({"transmission": 0.9}, kappa=kappas, n_source=occupations, progress=False)
    assert data["concurrence"].dims == ("kappa", "n_source")
    assert set(data.data_vars) >= {"concurrence", "negativity", "singlet_fidelity", "bell_fidelity", "purity"}
    rho = steady_state(LinkParameters(kappa=0.1, n_source=100.0, transmission=0.9))
    assert float(data["concurrence"].sel(kappa=0.1, n_source=100.0)) == pytest.approx(concurrence(rho), abs=1e-12)
    np.testing.assert_allclose(states_from_map(data).sel(kappa=0.1, n_source=100.0).values, rho, atol=1e-14)
    assert float(data["concurrence"].sel(kappa=10.0).max()) == 0.0  # broadband: separable


def test_map_through_an_executor_equals_the_serial_map():
    axes = dict(kappa=[0.05, 0.5], n_source=[3.0, 30.0])
    serial = twin_map(None, progress=False, **axes)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = twin_map(None, executor=pool, chunk_size=1, progress=False, **axes)
    xr.testing.assert_allclose(serial, parallel)


def test_map_runs_in_worker_processes():
    from concurrent.futures import ProcessPoolExecutor

    axes = dict(kappa=[0.05, 5.0], n_source=[3.0])
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = twin_map(None, executor=pool, chunk_size=1, progress=False, **axes)
    xr.testing.assert_allclose(parallel, twin_map(None, progress=False, **axes))


def test_map_validates_every_point_before_computing():
    with pytest.raises(ValueError, match="in_coupling"):
        twin_map({"in_coupling": 0.5}, kappa=[0.1], n_source=[1.0], in_coupling=[0.5, 1.2], progress=False)
    with pytest.raises(ValueError, match="unknown axes"):
        twin_map(None, kappa=[0.1], n_source=[1.0], temperature=[1.0], progress=False)


def test_twin_map_command_writes_png_and_netcdf(tmp_path, capsys):
    code = main(["twin", "map", "--kappa", "0.01", "10", "--kappa-points", "3", "--n-source", "10", "100",
                 "--n-source-points", "2", "--workers", "1", "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "twin_map.png").stat().st_size > 10_000
    data = xr.open_dataset(tmp_path / "twin_map.nc", engine="h5netcdf")
    assert data["concurrence"].shape == (3, 2)
    assert float(data["concurrence"].sel(kappa=0.01, n_source=100.0)) == pytest.approx(0.485, abs=1e-3)
    assert "entangled fraction" in capsys.readouterr().out


def test_twin_map_command_accepts_source_temperatures(tmp_path):
    code = main(["twin", "map", "--kappa", "0.01", "0.1", "--kappa-points", "2", "--temperature", "1", "300",
                 "--n-source-points", "2", "--stage", "20:4", "--workers", "1", "--out", str(tmp_path)])
    assert code == 0
    data = xr.open_dataset(tmp_path / "twin_map.nc", engine="h5netcdf")
    np.testing.assert_allclose(data["source_temperature"].values, [1.0, 300.0])
    assert data["n_source"].values[1] == pytest.approx(1041.33 / 100 + 0.99 * 13.4, rel=0.01)


def test_line_stages_without_temperatures_are_refused(tmp_path, capsys):
    assert main(["twin", "map", "--stage", "20:4", "--kappa-points", "2", "--n-source-points", "2",
                 "--out", str(tmp_path)]) == 2
    assert "give --temperature" in capsys.readouterr().err


def test_twin_point_command_rejects_bad_parameters_with_the_range(capsys):
    assert main(["twin", "point", "--kappa", "0.1", "--n-source", "10", "--set", "transmission=2"]) == 2
    assert "transmission=2.0 is outside the allowed range [0.0, 1.0]" in capsys.readouterr().err


def test_an_unknown_parameter_name_is_named_with_the_allowed_ones(capsys):
    with pytest.raises(SystemExit):
        main(["twin", "point", "--kappa", "0.1", "--n-source", "10", "--set", "tranmission=0.9"])
    err = capsys.readouterr().err
    assert "'tranmission' is not one of" in err and "'transmission'" in err


def test_twin_point_command_prints_the_figures(capsys):
    assert main(["twin", "point", "--kappa", "0.1", "--n-source", "10"]) == 0
    out = capsys.readouterr().out
    assert "concurrence: 0.28" in out and "relaxation_rate" in out


def test_twin_point_from_a_source_temperature_uses_the_line_noise_budget(capsys):
    from thermalink.analysis import concurrence
    from thermalink.simulators.lab_units import LineStage, source_occupation

    assert main(["twin", "point", "--kappa", "0.01", "--temperature", "300", "--stage", "20:4"]) == 0
    out = capsys.readouterr().out
    n_source = source_occupation(300.0, 6e9, [LineStage(20.0, 4.0)])
    assert f"N_h = {n_source:.6g}" in out
    assert f"concurrence: {concurrence(steady_state(LinkParameters(kappa=0.01, n_source=n_source))):.5f}" in out


def test_twin_point_takes_either_an_occupation_or_a_temperature(capsys):
    with pytest.raises(SystemExit):
        main(["twin", "point", "--kappa", "0.1", "--n-source", "10", "--temperature", "300"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["twin", "point", "--kappa", "0.1", "--n-source", "10", "--stage", "20:4"]) == 2
    assert "give --temperature" in capsys.readouterr().err
