"""The design optimiser: finds the reference table's best values and agrees with brute force."""

import itertools
import math

import numpy as np
import pytest

from thermalink.analysis import singlet_fidelity
from thermalink.experiments.operating_point import (
    CoarseGrid,
    TwinEvaluator,
    optimise_operating_point,
)
from thermalink.experiments.station_limits import Settings, StationLimits
from thermalink.simulators import solve_exact

F = 6e9
HF_OVER_K = 6.62607015e-34 * F / 1.380649e-23  # K


def temperature_for(n):
    """Hot-load temperature whose Bose-Einstein occupation at 6 GHz is n."""
    return HF_OVER_K / math.log1p(1 / n)


def ideal_station(kappa, n_source, **changes):
    """physics.md's ideal link: resonant qubits, gamma/2pi = 1 MHz (the rate unit), no local terms,
    a cold attenuator at 0 dB, so the knobs are kappa = bandwidth / 1 MHz and N_h = N(T)."""
    values = dict(
        temperature_range_K=tuple(temperature_for(n) for n in n_source),
        attenuation_steps_dB=(0.0,),
        bandwidth_range_Hz=tuple(k * 1e6 for k in kappa),
        center_range_Hz=(F, F),
        qubit1_frequency_Hz=F, qubit2_frequency_Hz=F,
        qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6,
        attenuator_temperature_K=0.0,
    )
    values.update(changes)
    return StationLimits(**values)


def test_ideal_link_reaches_the_reference_tables_best_value_in_the_low_box():
    # Table: kappa in {0.01, 0.1} x N_h in {10, 100}; the best corner is 0.614 (0.1, 100).
    limits = ideal_station((0.01, 0.1), (10, 100))
    point = optimise_operating_point(limits, "singlet", tolerances=False, relaxation=False)
    assert point.value >= 0.614
    assert point.parameters.gamma_local == point.parameters.gamma_phi == 0.0
    assert 0.01 <= point.parameters.kappa <= 0.1 and 10 - 1e-6 <= point.parameters.n_source <= 100 + 1e-6
    assert point.value == pytest.approx(singlet_fidelity(solve_exact(point.parameters).rho), abs=1e-5)


def test_ideal_link_reaches_0838_with_kappa_001_and_a_1000_photon_source():
    limits = ideal_station((0.005, 0.01), (300, 1000))
    grid = CoarseGrid(bandwidths=2, temperatures=2, centres=1, starts=1)
    point = optimise_operating_point(limits, "singlet", grid=grid, tolerances=False, relaxation=False)
    assert point.value >= 0.838
    assert point.twin_solves > 4


def brute_force(limits, figure, bandwidths, temperatures, centres):
    evaluate = TwinEvaluator(limits, figure)
    return max(evaluate(Settings(b, a, t, c)) for a, b, t, c in itertools.product(
        limits.attenuation_steps_dB, bandwidths, temperatures, centres))


def test_optimiser_agrees_with_a_brute_force_grid_over_bandwidth_and_temperature():
    limits = ideal_station((0.01, 0.3), (3, 20))
    point = optimise_operating_point(limits, "concurrence", tolerances=False, relaxation=False)
    grid = brute_force(limits, "concurrence", np.geomspace(1e4, 3e5, 25),
                       np.linspace(*limits.temperature_range_K, 25), [F])
    assert point.value >= grid - 1e-6
    assert point.value - grid <= 1e-3


def test_optimiser_agrees_with_brute_force_with_detuned_lossy_qubits_and_attenuator_steps():
    limits = StationLimits(
        temperature_range_K=(6.0, 6.0), attenuation_steps_dB=(0.0, 2.0, 4.0),
        bandwidth_range_Hz=(2e4, 2e5), center_range_Hz=(5.999e9, 6.001e9),
        qubit1_frequency_Hz=6.0003e9, qubit2_frequency_Hz=5.9997e9,
        qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6,
        t1_s=1.5e-7, t2_s=2.8e-7, local_occupation=0.01, link_loss_dB=0.2, attenuator_temperature_K=0.5,
    )
    point = optimise_operating_point(limits, "bell", tolerances=False, relaxation=False)
    low, high = (5.9995e9, 6.0005e9)  # the centre window around the qubits
    grid = brute_force(limits, "bell", np.geomspace(2e4, 2e5, 14), [6.0], np.linspace(low, high, 15))
    assert point.value >= grid - 1e-6
    assert point.value - grid <= 1e-3
    assert point.settings.attenuation_dB in limits.attenuation_steps_dB


def test_report_holds_the_relaxation_time_and_tolerances_of_every_knob():
    limits = ideal_station((0.01, 0.3), (3, 20), center_range_Hz=(5.998e9, 6.002e9))
    point = optimise_operating_point(limits, "bell")
    p = point.parameters
    assert point.figures["bell"] == pytest.approx(point.value)
    assert set(point.tolerances) == {"bandwidth_Hz", "temperature_K", "center_Hz", "attenuation_dB"}
    for knob, tolerance in point.tolerances.items():
        assert tolerance.low <= getattr(point.settings, knob) <= tolerance.high
    evaluate = TwinEvaluator(limits, "bell")
    band = point.tolerances["bandwidth_Hz"]
    for edge, at_limit in ((band.low, band.low_at_limit), (band.high, band.high_at_limit)):
        if not at_limit:  # the figure has dropped by the loss exactly there
            moved = Settings(edge, 0.0, point.settings.temperature_K, point.settings.center_Hz)
            assert evaluate(moved) == pytest.approx(point.value - 0.01, abs=2e-4)
    # 1 / (2 pi gamma/2pi rate): the twin's slowest rate in lab seconds, of order 1/kappa.
    assert 0.1 / (2 * math.pi * 1e6 * p.kappa) < point.relaxation_time_s < 100 / (2 * math.pi * 1e6 * p.kappa)
    assert "relaxation time" in point.summary()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda L: optimise_operating_point(L, "fidelity"), "figure='fidelity' is not one of"),
        (lambda L: optimise_operating_point(L, loss=1.5), r"loss=1.5 is outside the allowed range \(0, 1\)"),
        (lambda L: L.restricted(bandwidth_Hz=(1e3, 1e6)), r"bandwidth_Hz range \[1000, 1e\+06\] Hz is outside"),
        (lambda L: L.restricted(temperature_K=(1.0, 4.0)), r"temperature_K range .* is outside the station's"),
        (lambda L: L.restricted(attenuation_dB=(0.0, 70.0)), r"attenuation_dB range \[0, 70\] dB is outside"),
    ],
)
def test_bad_design_input_is_refused_naming_the_value_and_range(call, message):
    limits = ideal_station((0.01, 0.1), (10, 100))
    with pytest.raises(ValueError, match=message):
        call(limits)


def test_station_limits_are_read_from_the_simulated_station_file():
    limits = StationLimits.from_config()
    assert limits.temperature_range_K == (4.0, 40.0)  # unheated stage to max_temperature
    assert limits.attenuation_steps_dB == tuple(float(s) for s in range(0, 61, 2))
    assert limits.bandwidth_range_Hz == (1e3, 100e6) and limits.center_range_Hz == (4e9, 8e9)
    assert (limits.t1_s, limits.t2_s, limits.link_loss_dB) == (1.55e-7, 3.0e-7, 0.1)
    assert limits.readout_errors == (0.02, 0.05, 0.02, 0.05)
    assert limits.assignment_matrices()[1].ravel() == pytest.approx([0.98, 0.05, 0.02, 0.95])
    # n_source at 40 K, 0 dB: the hot load's Bose-Einstein occupation at 6 GHz
    assert limits.occupation(40.0, 0.0, 6e9) == pytest.approx(1 / math.expm1(HF_OVER_K / 40.0))


# ---- the readout protocol (issue 15): the design maximises what the tomography estimates ----------

def _lossy_station(**changes):
    """Resonant qubits with a short local T1 (80 ns against 159 ns from the waveguide)."""
    values = dict(t1_s=8e-8, t2_s=1.2e-7, excited_population=0.02)
    values.update(changes)
    return ideal_station((0.02, 0.2), (5, 20), **values)


def test_with_a_frozen_readout_the_design_figure_is_the_measured_states_not_the_steady_states():
    from thermalink.analysis import bell_fidelity
    from thermalink.simulators.lab_units import ReadoutProtocol
    from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state, twin_state

    limits = _lossy_station(readout_protocol=ReadoutProtocol(freeze=True, prerotation_time_s=1e-7,
                                                             integration_time_s=1e-6))
    grid = CoarseGrid(bandwidths=3, temperatures=2, centres=1, starts=1)
    point = optimise_operating_point(limits, "bell", grid=grid, tolerances=False, relaxation=False)
    link = limits.lab_link(point.settings)
    measured = bell_fidelity(twin_measured_state(link).rho)
    steady = bell_fidelity(twin_state(link))
    assert steady - measured > 0.02  # 50 ns of local decay before the pulse
    assert point.value == pytest.approx(measured, abs=1e-5)
    assert point.figures["bell"] == point.value
    # the state at the pulse is the measured state's for every setting the optimiser evaluates
    evaluate = TwinEvaluator(limits, "concurrence")
    settings = limits.centre_settings()
    np.testing.assert_allclose(evaluate.state(settings), twin_measured_state(limits.lab_link(settings)).rho,
                               atol=1e-5)


def test_with_all_protocol_times_zero_the_design_is_unchanged_bit_for_bit():
    from thermalink.simulators.lab_units import ReadoutProtocol

    base = _lossy_station()
    frozen_now = base.replaced(readout_protocol=ReadoutProtocol(freeze=True, freeze_time_s=2e-8))
    grid = CoarseGrid(bandwidths=3, temperatures=2, centres=1, starts=1)
    points = [optimise_operating_point(limits, "bell", grid=grid, relaxation=False) for limits in (base, frozen_now)]
    assert points[0].value == points[1].value and points[0].settings == points[1].settings
    assert points[0].figures == points[1].figures and points[0].tolerances == points[1].tolerances
    assert points[0].twin_solves == points[1].twin_solves
    p = base.lab_link(points[0].settings).to_parameters()
    np.testing.assert_array_equal(TwinEvaluator(frozen_now).state(points[0].settings),
                                  solve_exact(p, tol=1e-6).rho)


def test_per_qubit_coherence_reaches_the_twin():
    limits = _lossy_station(qubit2_t1_s=1.2e-7, qubit1_t2_s=1e-7, qubit2_excited_population=0.05)
    p = limits.lab_link(limits.centre_settings()).to_parameters()
    shared = _lossy_station().lab_link(limits.centre_settings()).to_parameters()
    assert p.qubit_bath(1).gamma_local == pytest.approx(shared.qubit_bath(1).gamma_local)
    assert p.qubit_bath(1).gamma_phi > shared.qubit_bath(1).gamma_phi  # T2 100 ns < 120 ns
    assert p.qubit_bath(2).gamma_local < shared.qubit_bath(2).gamma_local  # T1 120 ns > 80 ns
    assert p.qubit_bath(2).n_qubit > shared.qubit_bath(2).n_qubit
    assert limits.qubit_value("t1_s", 1) == 8e-8 and limits.qubit_value("t1_s", 2) == 1.2e-7


def test_the_station_gives_the_design_its_readout_protocol_per_qubit_values_and_decay_flag():
    import qcodes

    from thermalink.experiments.lab_station import LabStation

    lab = LabStation.from_config()
    try:
        lab.readout.qubit1_t1(1.5e-7)
        lab.readout.qubit2_t2(2.0e-7)
        lab.readout.qubit2_residual_excitation(0.011)
        lab.readout.assignment_errors_include_readout_decay(True)
        limits = StationLimits.from_lab_station(lab)
        link = lab.lab_link()
    finally:
        lab.station.close_all_registered_instruments()
        qcodes.Station.default = None
    assert limits.readout_protocol == link.readout_protocol and limits.readout_protocol.freeze
    assert limits.readout_protocol.prerotation_time_s == 4e-8
    assert limits.assignment_errors_include_readout_decay
    assert limits.qubit_value("t1_s", 1) == 1.5e-7 and limits.qubit_value("t1_s", 2) == 1.55e-7
    assert limits.qubit_value("t2_s", 2) == 2.0e-7 and limits.qubit_value("excited_population", 2) == 0.011
    assert limits.qubit_value("excited_population", 1) == 0.01
    design_link = limits.lab_link(Settings(link.bandwidth_Hz, 0.0, 4.0, link.filter_center_Hz))
    for name in ("qubit1_t1_s", "qubit2_t2_s", "qubit2_excited_population", "readout_freeze",
                 "readout_prerotation_time_s", "readout_integration_time_s", "readout_decay_fraction"):
        assert getattr(design_link, name) == getattr(link, name), name
    assert design_link.to_parameters().qubit_bath(1) != design_link.to_parameters().qubit_bath(2)
