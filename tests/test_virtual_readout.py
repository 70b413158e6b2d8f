import numpy as np
import pytest
import xarray as xr
from qcodes.dataset import Measurement, initialise_or_create_database_at, load_or_create_experiment

from thermalink.drivers.two_qubit_readout import (
    OUTCOMES,
    PAULI_SETTINGS,
    TwoQubitReadout,
    counts_from_codes,
    setting_codes,
)
from thermalink.simulators import steady_state
from thermalink.simulators.virtual_lab.readout import VirtualTwoQubitReadout
from thermalink.simulators.virtual_lab.source import VirtualFilteredThermalSource


@pytest.fixture
def source(parts):
    source = VirtualFilteredThermalSource("source", ramp_rate=10.0)
    source.output(True)
    source.attenuation(0)
    source.bandwidth(30e3)
    return source


@pytest.fixture
def readout(source):
    return VirtualTwoQubitReadout(
        "readout", source="source", seed=11, t1=155e-9, t2=300e-9, assignment_errors=(0.02, 0.05, 0.03, 0.06)
    )


def test_virtual_readout_implements_the_two_qubit_readout_interface(readout):
    assert isinstance(readout, TwoQubitReadout)


def test_counts_come_in_the_tomography_format(readout):
    counts = readout.measure(shots=500)
    assert isinstance(counts, xr.DataArray)
    assert counts.dims == ("setting", "outcome")
    assert list(counts.setting.values) == list(PAULI_SETTINGS)
    assert list(counts.outcome.values) == list(OUTCOMES)
    assert np.issubdtype(counts.dtype, np.integer)
    np.testing.assert_array_equal(counts.sum("outcome").values, 500)


def test_same_seed_gives_the_same_counts(readout):
    first = readout.measure(["ZZ", "XY"], shots=300)
    readout.seed(11)
    second = readout.measure(["ZZ", "XY"], shots=300)
    xr.testing.assert_equal(first, second)
    assert not np.array_equal(readout.measure(["ZZ", "XY"], shots=300).values, second.values)


def test_sampled_frequencies_follow_the_born_rule_through_the_readout_errors(readout):
    from thermalink.analysis.tomography_data import measurement_model

    shots = 200_000
    counts = readout.measure(shots=shots).values
    p = measurement_model(PAULI_SETTINGS, readout.assignment_matrices()).probabilities(readout.state())
    sigma = np.sqrt(p * (1 - p) / shots) + 1e-12
    assert np.all(np.abs(counts / shots - p) < 5 * sigma)


def test_the_state_is_the_twins_steady_state_at_the_current_settings(readout, source):
    link = readout.lab_link(source)
    assert link.source_occupation == pytest.approx(source.occupation())
    assert link.bandwidth_Hz == pytest.approx(30e3)
    np.testing.assert_allclose(readout.state(), steady_state(link.to_parameters()), atol=1e-12)


def test_the_state_follows_source_changes_and_is_cached_otherwise(readout, source):
    cold = readout.state()
    assert readout.state() is cold
    source.temperature(20.0)
    hot = readout.state()
    assert not np.allclose(hot, cold)
    readout.qubit2_frequency(6.0003e9)
    assert not np.allclose(readout.state(), hot)


def test_assignment_matrices_are_column_stochastic_calibrations(readout):
    a1, a2 = readout.assignment_matrices()
    np.testing.assert_allclose(a1, [[0.98, 0.05], [0.02, 0.95]])
    np.testing.assert_allclose(a2, [[0.97, 0.06], [0.03, 0.94]])


def test_bad_settings_and_shots_are_rejected_with_the_allowed_range(readout):
    with pytest.raises(ValueError, match="two-letter strings over X, Y, Z"):
        readout.measure(["XQ"], shots=10)
    with pytest.raises(ValueError, match=r"shots=0 is outside the allowed range"):
        readout.measure(shots=0)
    with pytest.raises(ValueError, match="between 0.0 and 0.5"):
        readout.qubit1_p1_given_0(0.7)


def test_settle_advances_the_virtual_clock_of_the_source(readout, source):
    before = source.clock.now()
    readout.settle(5.0)
    assert source.clock.now() == pytest.approx(before + 5.0)


def test_counts_parameter_goes_into_a_qcodes_dataset(readout, tmp_path):
    initialise_or_create_database_at(tmp_path / "counts.db")
    experiment = load_or_create_experiment("readout_test", sample_name="virtual")
    readout.settings(["ZZ", "XX", "YY"])
    readout.shots(100)
    readout.seed(3)
    expected = readout.measure(["ZZ", "XX", "YY"], shots=100)
    readout.seed(3)
    measurement = Measurement(exp=experiment)
    measurement.register_parameter(readout.counts)
    with measurement.run() as datasaver:
        datasaver.add_result((readout.counts, readout.counts()))
    data = datasaver.dataset.to_xarray_dataset()
    stored = data[readout.counts.full_name]
    assert stored.shape == (3, 4)
    counts = counts_from_codes(stored.values, stored[readout.setting_code.full_name].values)
    assert sorted(counts.setting.values) == ["XX", "YY", "ZZ"]
    xr.testing.assert_equal(counts.sel(setting=["ZZ", "XX", "YY"]).drop_attrs(), expected.drop_attrs())


def test_setting_codes_number_the_nine_pauli_settings_in_order():
    np.testing.assert_array_equal(setting_codes(PAULI_SETTINGS), np.arange(9))


def test_a_missing_source_is_reported_by_name():
    readout = VirtualTwoQubitReadout("readout", source="no_such_source")
    with pytest.raises(KeyError, match="no_such_source"):
        readout.measure(["ZZ"], shots=10)


def test_prepared_basis_states_are_read_through_the_readouts_assignment_errors(readout):
    shots = 200_000
    counts = readout.measure_prepared(shots=shots)
    assert counts.dims == ("prepared", "outcome")
    assert list(counts.prepared.values) == ["00", "01", "10", "11"]
    np.testing.assert_array_equal(counts.sum("outcome").values, shots)
    a1, a2 = readout.assignment_matrices()
    expected = np.kron(a1, a2).T  # row: prepared j, column: read i
    stderr = np.sqrt(expected * (1 - expected) / shots)
    assert np.all(np.abs(counts.values / shots - expected) <= 5 * stderr + 1e-12)


def test_readout_error_parameters_are_labelled_with_the_outcome_they_read(readout):
    assert readout.qubit1_p1_given_0.label == "Qubit 1 P(read 1 | 0)"
    assert readout.qubit2_p0_given_1.label == "Qubit 2 P(read 0 | 1)"


def test_prepared_states_must_be_two_bit_labels(readout):
    with pytest.raises(ValueError, match=r"states \['0g'\] are invalid; allowed: \('00', '01', '10', '11'\)"):
        readout.measure_prepared(["00", "0g"], shots=10)
    with pytest.raises(ValueError, match="shots=0 is outside the allowed range"):
        readout.measure_prepared(shots=0)


def test_with_transients_the_qubits_relax_to_the_new_steady_state_with_the_twins_slowest_rate(readout, source):
    from thermalink.simulators.virtual_lab.twin_cache import twin_relaxation_time_s, twin_state

    readout.transients(True)
    before = readout.state()  # first look: the steady state at 30 kHz
    np.testing.assert_allclose(before, twin_state(readout.current_lab_link()), atol=1e-14)
    source.bandwidth(1e6)
    new_link = readout.current_lab_link()
    steady, tau = twin_state(new_link), twin_relaxation_time_s(new_link)
    assert np.abs(before - steady).max() > 1e-2  # a real change of state
    np.testing.assert_allclose(readout.state(), before, atol=1e-14)  # no time has passed
    readout.settle(tau)
    np.testing.assert_allclose(readout.state(), steady + (before - steady) * np.exp(-1), atol=1e-12)
    readout.settle(4 * tau)
    np.testing.assert_allclose(readout.state(), steady + (before - steady) * np.exp(-5), atol=1e-12)


def test_without_transients_the_qubits_are_always_in_the_steady_state(readout, source):
    from thermalink.simulators.virtual_lab.twin_cache import twin_state

    assert not readout.transients()
    readout.state()
    source.bandwidth(1e6)
    np.testing.assert_allclose(readout.state(), twin_state(readout.current_lab_link()), atol=1e-14)


def _correlation(counts, setting):
    n00, n01, n10, n11 = counts.sel(setting=setting).values
    return (n00 - n01 - n10 + n11) / (n00 + n01 + n10 + n11)


@pytest.mark.parametrize("splitting, washes_out", [(400.00e3, False), (399.99e3, True), (422e3, True)])
def test_free_running_drive_frames_wash_out_the_coherence_unless_commensurate(source, readout, splitting, washes_out):
    center = source.center_frequency()
    readout.qubit1_frequency(center + splitting / 2)
    readout.qubit2_frequency(center - splitting / 2)
    readout.repetition_time(100e-6)
    rho = readout.state()
    expected = 4 * np.real(rho[1, 2])  # <XX> + <YY> of the steady state, before readout errors
    assert abs(expected) > 0.1  # a strong |eg><ge| coherence
    shots = 4000
    with_reset = readout.measure(["XX", "YY"], shots=shots)
    readout.oscillator_phase_reset(False)
    free_running = readout.measure(["XX", "YY"], shots=shots)
    contrast = np.prod([1 - 0.02 - 0.05, 1 - 0.03 - 0.06])  # the readout errors shrink every <PP>
    tolerance = 5 * np.sqrt(2 / shots)
    coherent = sum(_correlation(with_reset, s) for s in ("XX", "YY"))
    assert coherent == pytest.approx(contrast * expected, abs=tolerance)
    remaining = sum(_correlation(free_running, s) for s in ("XX", "YY"))
    assert remaining == pytest.approx(0.0 if washes_out else contrast * expected, abs=tolerance)
