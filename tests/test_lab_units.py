"""The one conversion layer between lab units and the twin."""

import math

import pytest

from thermalink.simulators.lab_units import (
    BOLTZMANN,
    PLANCK,
    LabLink,
    LineStage,
    awg_noise_occupation,
    bose_einstein,
    dbm_per_hz_to_watt_per_hz,
    noise_diode_occupation,
    noise_diode_temperature,
    spectral_density_occupation,
    line_occupation,
    source_occupation,
)


def test_bose_einstein_reaches_the_classical_limit_when_hot():
    f, t = 6e9, 300.0
    classical = BOLTZMANN * t / (PLANCK * f)
    assert bose_einstein(t, f) == pytest.approx(classical - 0.5, rel=1e-6)
    assert bose_einstein(t, f) == pytest.approx(1041.3, abs=0.1)  # a room-temperature load at 6 GHz


def test_bose_einstein_vanishes_when_cold():
    assert bose_einstein(0.0, 6e9) == 0.0
    assert bose_einstein(0.01, 6e9) < 1e-12


@pytest.mark.parametrize("temperature, frequency", [(-1.0, 6e9), (1.0, 0.0), (math.nan, 6e9)])
def test_bose_einstein_rejects_unphysical_input(temperature, frequency):
    with pytest.raises(ValueError, match="allowed range"):
        bose_einstein(temperature, frequency)


def test_an_attenuator_mixes_the_input_with_its_own_thermal_noise():
    f = 6e9
    n_stage = bose_einstein(4.0, f)
    assert line_occupation(100.0, [LineStage(0.0, 4.0)], f) == pytest.approx(100.0)
    assert line_occupation(100.0, [LineStage(10.0, 4.0)], f) == pytest.approx(10.0 + 0.9 * n_stage)
    assert line_occupation(100.0, [LineStage(200.0, 4.0)], f) == pytest.approx(n_stage, rel=1e-9)


def test_stages_are_chained_from_the_source_to_the_filter():
    f = 6e9
    stages = [LineStage(20.0, 4.0), LineStage(20.0, 0.02)]
    by_hand = line_occupation(line_occupation(bose_einstein(300.0, f), stages[:1], f), stages[1:], f)
    assert source_occupation(300.0, f, stages) == pytest.approx(by_hand)
    assert source_occupation(300.0, f, stages) < source_occupation(300.0, f, stages[::-1])


def test_line_stage_rejects_gain():
    with pytest.raises(ValueError, match="attenuation_dB"):
        LineStage(-3.0, 4.0)


def lab_link(**changes) -> LabLink:
    values = dict(
        bandwidth_Hz=10e3, source_occupation=1000.0, filter_center_Hz=6.0e9,
        qubit1_frequency_Hz=6.0e9 + 0.2e6, qubit2_frequency_Hz=6.0e9 - 0.2e6,
        qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=0.8e6,
    )
    values.update(changes)
    return LabLink(**values)


def test_lab_link_converts_to_rates_in_units_of_qubit_one_linewidth():
    p = lab_link(link_loss_dB=3.0).to_parameters()
    assert p.gamma1 == 1.0
    assert p.gamma2 == pytest.approx(0.8)
    assert p.kappa == pytest.approx(0.01)
    assert (p.delta1, p.delta2) == (pytest.approx(0.2), pytest.approx(-0.2))
    assert p.transmission == pytest.approx(10 ** -0.3)
    assert p.n_source == 1000.0
    assert (p.gamma_local, p.gamma_phi) == (0.0, 0.0)


def test_coherence_times_become_local_decay_and_dephasing():
    waveguide_t1 = 1 / (2 * math.pi * 1e6)
    link = lab_link(qubit2_linewidth_Hz=1e6, t1_s=waveguide_t1 / 1.5, t2_s=waveguide_t1)
    p = link.to_parameters()
    # 1/T1 = 1.5 gamma: half a linewidth of local decay; 1/T2 - 1/(2 T1) = 0.25 gamma.
    assert p.gamma_local == pytest.approx(0.5)
    assert p.gamma_phi == pytest.approx(0.25)


def test_twin_rates_convert_to_seconds():
    link = lab_link()
    assert link.seconds(1.0) == pytest.approx(1 / (2 * math.pi * 1e6))
    assert link.seconds(0.01) == pytest.approx(100 / (2 * math.pi * 1e6))


@pytest.mark.parametrize(
    "field, value",
    [("bandwidth_Hz", 0.0), ("source_occupation", -1.0), ("in_coupling", 2.0), ("link_loss_dB", -1.0),
     ("t1_s", 1.0), ("qubit1_linewidth_Hz", -5.0)],
)
def test_lab_link_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        lab_link(**{field: value})


# Hand-worked from the definitions: h f / k_B at 6 GHz = 6.62607015e-34 * 6e9 / 1.380649e-23
# = 0.2879546 K; h f = 3.9756421e-24 J; N(4 K, 6 GHz) = 1 / (exp(0.2879546 / 4) - 1) = 13.39708.

def test_noise_diode_temperature_from_its_excess_noise_ratio():
    # ENR 15 dB: T_excess = 290 K * 10**1.5 = 9170.605 K above the 290 K off state.
    assert noise_diode_temperature(15.0) == pytest.approx(9460.605, abs=1e-3)
    assert noise_diode_temperature(0.0, off_temperature_K=0.0) == pytest.approx(290.0)


def test_noise_diode_occupation_is_bose_einstein_of_its_on_temperature_through_the_line():
    # 15 dB: 1 / (exp(0.2879546 / 9460.605) - 1) = 32854.00 photons at the diode.
    assert noise_diode_occupation(15.0, 6e9) == pytest.approx(32854.00, abs=0.01)
    # 6 dB: T_on = 290 (1 + 10**0.6) = 1444.511 K, N = 5015.954; 20 dB at 4 K: 50.16 + 0.99 * 13.397.
    assert noise_diode_occupation(6.0, 6e9, [LineStage(20.0, 4.0)]) == pytest.approx(63.4226, abs=1e-3)


def test_awg_noise_occupation_is_its_spectral_density_over_h_f():
    assert dbm_per_hz_to_watt_per_hz(-150.0) == pytest.approx(1e-18, rel=1e-12)
    # 1e-18 W/Hz / 3.9756421e-24 J = 251531.7 photons; 40 dB at 4 K: 25.153 + 0.9999 * 13.397.
    assert spectral_density_occupation(1e-18, 6e9) == pytest.approx(251531.7, abs=0.1)
    assert awg_noise_occupation(-150.0, 6e9, [LineStage(40.0, 4.0)]) == pytest.approx(38.5489, abs=1e-3)


def test_awg_noise_at_the_thermal_density_of_a_290_kelvin_load_gives_its_classical_occupation():
    # k_B * 290 K = 4.0039e-21 W/Hz = -173.975 dBm/Hz; k T / h f = 290 / 0.2879546 = 1007.103.
    assert awg_noise_occupation(-173.97519, 6e9) == pytest.approx(1007.103, abs=1e-2)
    assert awg_noise_occupation(-173.97519, 6e9) == pytest.approx(bose_einstein(290.0, 6e9) + 0.5, abs=1e-2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: noise_diode_temperature(math.nan),
        lambda: noise_diode_occupation(10.0, -1.0),
        lambda: spectral_density_occupation(-1e-20, 6e9),
        lambda: dbm_per_hz_to_watt_per_hz(math.inf),
    ],
)
def test_noise_source_conversions_refuse_unphysical_input(call):
    with pytest.raises(ValueError, match="allowed range"):
        call()
