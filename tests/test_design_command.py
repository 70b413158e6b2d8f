"""``thermalink design`` on the bundled stations: the answer, the maps, and refused input."""

import re

import numpy as np
import pytest
import xarray as xr

from thermalink.experiments.cli import main
from thermalink.simulators.errors import InputError

#: Narrow knob ranges around the simulated station's optimum, so the command runs in seconds.
NARROW = ["--bandwidth", "2e4", "3.5e4", "--temperature", "38", "40", "--attenuation", "0", "2",
          "--center", "5.9999e9", "6.0001e9"]


def test_design_prints_the_optimum_settle_time_and_tolerances(capsys):
    assert main(["design", *NARROW, "--no-advice", "--workers", "1", "--target-fidelity", "0.45"]) == 0
    out = capsys.readouterr().out
    best = float(re.search(r"best Bell fidelity \(phase-optimised\) (\S+)", out).group(1))
    assert 0.45 < best < 0.70  # the simulated station's qubits cannot reach the milestone
    assert "(target 0.45: reached)" in out
    for figure in ("bell_fidelity > 0.45", "concurrence > 0"):  # the certification's shot budget
        shots = int(re.search(rf"certify {figure} at 95 % \(90 % success\): (\d+) shots per setting", out).group(1))
        assert shots >= 200
    bandwidth = float(re.search(r"filter bandwidth (\S+) kHz", out).group(1))
    assert 20 <= bandwidth <= 35
    assert re.search(r"relaxation time \S+ us", out)
    assert "tolerance for a 0.01 loss" in out
    assert int(re.search(r"twin solves: (\d+)", out).group(1)) > 10
    # the simulated station freezes: 20 ns before the pulse, 520 ns after it; P(1|0) 0.02 -> 0.05
    readout = re.search(r"readout: frozen, figures of the state at the pulse \(20 ns of local decay\), read in "
                        r"520 ns more; errors q1 P\(1\|0\) (\S+) P\(0\|1\) (\S+),", out)
    assert float(readout.group(1)) == pytest.approx(0.050, abs=0.002)
    assert float(readout.group(2)) == pytest.approx(0.098, abs=0.002)


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


def test_the_optimum_plan_measures_the_optimum_with_its_shot_budget():
    from thermalink.analysis import shot_budget
    from thermalink.experiments.design_command import optimum_plan
    from thermalink.experiments.station_limits import StationLimits

    limits = StationLimits.from_config().restricted(bandwidth_Hz=(2e4, 3.5e4), temperature_K=(40, 40),
                                                     attenuation_dB=(0, 0), center_Hz=(6e9, 6e9))
    plan, point, budget = optimum_plan(limits, "bell", target=0.45, seed=7)
    (settings,) = plan.points
    assert settings == {"temperature": 40.0, "attenuation": 0.0, "center_frequency": 6e9,
                        "bandwidth": point.settings.bandwidth_Hz}
    assert plan.shots == budget.shots_per_setting and plan.seed == 7
    # the budget is that of what the tomography estimates: the state at the pulse, read through the
    # station's errors with the frozen readout decay folded in (the simulated station freezes)
    rho, assignment = limits.measured_state(point.settings)
    expected = shot_budget(rho, assignment, target=0.45, figure="bell_fidelity", calibration_shots=20_000)
    assert budget.shots_per_setting == expected.shots_per_setting
    # the budget uses the calibration the run will take (run --calibration-shots), not a fixed one
    _, _, small_calibration = optimum_plan(limits, "bell", target=0.45, calibration_shots=2000)
    expected = shot_budget(rho, assignment, target=0.45, figure="bell_fidelity", calibration_shots=2000)
    assert small_calibration.shots_per_setting == expected.shots_per_setting
    # a target the station cannot reach falls back to certifying C > 0
    _, _, fallback = optimum_plan(limits, "bell", target=0.70)
    assert fallback.figure == "concurrence" and fallback.target == 0.0


def test_the_shot_budget_reads_through_the_folded_matrices_and_is_unchanged_without_readout_times():
    from thermalink.analysis import shot_budget
    from thermalink.experiments.design_command import optimum_plan
    from thermalink.experiments.station_limits import StationLimits
    from thermalink.experiments.sweep_analysis import protocol_assignment
    from thermalink.simulators import solve_exact
    from thermalink.simulators.lab_units import ReadoutProtocol
    from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state

    limits = StationLimits.from_config().restricted(bandwidth_Hz=(2e4, 3.5e4), temperature_K=(40, 40),
                                                     attenuation_dB=(0, 0), center_Hz=(6e9, 6e9))
    assert limits.readout_protocol.freeze and not limits.assignment_errors_include_readout_decay
    _, point, folded = optimum_plan(limits, "bell", target=0.45)
    # the matrices are the sweep analysis's for a run without a stored calibration
    measured = twin_measured_state(limits.lab_link(point.settings))
    rho, assignment = limits.measured_state(point.settings)
    np.testing.assert_array_equal(assignment, protocol_assignment(measured, limits.assignment_matrices(), None, None)[0])
    assert assignment[0][1, 0] > limits.readout_errors[0] + 0.02  # the decay after the pulse: P(1|0) 0.02 -> 0.05
    # errors measured through the protocol already hold the decay: used as they are, fewer shots
    _, _, measured_errors = optimum_plan(limits.replaced(assignment_errors_include_readout_decay=True), "bell",
                                         target=0.45)
    assert folded.shots_per_setting > 1.2 * measured_errors.shots_per_setting
    np.testing.assert_array_equal(limits.replaced(assignment_errors_include_readout_decay=True)
                                  .measured_state(point.settings)[1], limits.assignment_matrices())
    # all protocol times zero: the steady state and the raw errors, as before the protocol
    instant = limits.replaced(readout_protocol=ReadoutProtocol(freeze=True))
    _, instant_point, instant_budget = optimum_plan(instant, "bell", target=0.45)
    before = shot_budget(solve_exact(instant_point.parameters).rho, instant.assignment_matrices(), target=0.45,
                         figure="bell_fidelity", calibration_shots=20_000,
                         settle_time_s=5.0 * instant_point.relaxation_time_s)
    assert instant_budget == before
    assert instant_point.value == pytest.approx(point.value, abs=0.05) and instant_point.value != point.value


def test_the_design_refuses_an_unfrozen_readout_with_times():
    from thermalink.experiments.station_limits import StationLimits
    from thermalink.simulators.lab_units import ReadoutProtocol

    limits = StationLimits.from_config()
    with pytest.raises(InputError, match="frozen readout .freeze=True. or an instantaneous one"):
        limits.replaced(readout_protocol=ReadoutProtocol(freeze=False, prerotation_time_s=4e-8))
    limits.replaced(readout_protocol=ReadoutProtocol(freeze=False))  # instantaneous: the steady state


def test_at_optimum_with_resume_is_refused(tmp_path, capsys):

    assert main(["run", "--at-optimum", "--resume", "1", "--db", str(tmp_path / "x.db")]) == 2
    assert "--at-optimum starts a new run" in capsys.readouterr().err
