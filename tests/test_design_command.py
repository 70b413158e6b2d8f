"""``thermalink design`` on the bundled stations: the answer, the maps, and refused input."""

import re

import pytest
import xarray as xr

from thermalink.experiments.cli import main

#: Narrow knob ranges around the simulated station's optimum, so the command runs in seconds.
NARROW = ["--bandwidth", "2e4", "3.5e4", "--temperature", "38", "40", "--attenuation", "0", "2",
          "--center", "5.9999e9", "6.0001e9"]


def test_design_prints_the_optimum_settle_time_and_tolerances(capsys):
    assert main(["design", *NARROW, "--no-advice", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    best = float(re.search(r"best Bell fidelity \(phase-optimised\) (\S+)", out).group(1))
    assert 0.45 < best < 0.70  # the simulated station's qubits cannot reach the milestone
    assert "NOT reached" in out
    bandwidth = float(re.search(r"filter bandwidth (\S+) kHz", out).group(1))
    assert 20 <= bandwidth <= 35
    assert re.search(r"relaxation time \S+ us", out)
    assert "tolerance for a 0.01 loss" in out
    assert int(re.search(r"twin solves: (\d+)", out).group(1)) > 10


def test_design_requirement_map_writes_png_and_netcdf(tmp_path, capsys):
    fixed = ["--bandwidth", "2e4", "3.5e4", "--temperature", "40", "40", "--attenuation", "0", "0",
             "--center", "6e9", "6e9"]
    code = main(["design", *fixed, "--requirements", "transmission", "--range", "transmission", "0.9", "1.0",
                 "--points", "2", "--workers", "1", "--out", str(tmp_path)])
    assert code == 0
    dataset = xr.open_dataset(tmp_path / "requirements_transmission.nc", engine="h5netcdf")
    assert list(dataset["transmission"].values) == [0.9, 1.0]
    assert float(dataset["best"].sel(transmission=1.0)) > float(dataset["best"].sel(transmission=0.9))
    assert (tmp_path / "requirements_transmission.png").stat().st_size > 1000
    assert "target 0.7 reached at 0 of 2 points" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--target-fidelity", "1.2"], r"--target-fidelity 1.2 is outside the allowed range \(0, 1\]"),
        (["--figure", "negativity", "--target-fidelity", "0.6"],
         r"--target-fidelity 0.6 is outside the allowed range \(0, 0.5\] for the negativity"),
        (["--confidence", "1.0"], r"--confidence 1.0 is outside the allowed range \(0, 1\)"),
        (["--bandwidth", "1e2", "1e4"], r"bandwidth_Hz range \[100, 10000\] Hz is outside the station's allowed "
                                        r"range \[1000, 1e\+08\] Hz"),
        (["--temperature", "4", "80"], r"temperature_K range \[4, 80\] K is outside the station's allowed range "
                                       r"\[4, 40\] K"),
        (["--requirements", "t1", "--range", "t2", "1e-7", "2e-7"], r"--range t2 needs --requirements"),
    ],
)
def test_design_refuses_bad_input_naming_the_value_and_range(arguments, message, capsys):
    assert main(["design", *arguments]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_design_refuses_an_unknown_figure(capsys):
    with pytest.raises(SystemExit):
        main(["design", "--figure", "purity"])
    err = capsys.readouterr().err
    assert "invalid choice: 'purity'" in err and "bell" in err and "negativity" in err
