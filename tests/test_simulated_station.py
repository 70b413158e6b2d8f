"""The simulated station: loads from YAML and its counts carry the twin's state."""

import itertools

import numpy as np
import pytest
import qcodes as qc

from thermalink.drivers.thermal_source import FilteredThermalSource
from thermalink.drivers.two_qubit_readout import PAULI_SETTINGS, TwoQubitReadout
from thermalink.station_configs import station_config_path

PAULI = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


def linear_inversion(counts, assignment):
    """Test-only estimator: readout-corrected linear inversion of the 9 Pauli settings."""
    inverse = np.linalg.inv(np.kron(*assignment))
    sums = {}
    for setting in PAULI_SETTINGS:
        p = inverse @ (counts.sel(setting=setting).values / counts.sel(setting=setting).values.sum())
        signs = {"IQ": [1, -1, 1, -1], "PI": [1, 1, -1, -1], "PQ": [1, -1, -1, 1]}
        for key, (a, b) in (("PQ", setting), ("PI", setting[0] + "I"), ("IQ", "I" + setting[1])):
            sums.setdefault(a + b, []).append(float(np.dot(signs[key], p)))
    expectation = {k: np.mean(v) for k, v in sums.items()}
    expectation["II"] = 1.0
    rho = sum(expectation[a + b] * np.kron(PAULI[a], PAULI[b]) for a, b in itertools.product("IXYZ", repeat=2))
    return rho / 4


def pauli_expectations(rho):
    return np.array(
        [np.trace(rho @ np.kron(PAULI[a], PAULI[b])).real for a, b in itertools.product("IXYZ", repeat=2)]
    )


def min_partial_transpose_eigenvalue(rho):
    pt = rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    return float(np.linalg.eigvalsh((pt + pt.conj().T) / 2).min())


@pytest.fixture
def station():
    station = qc.Station(config_file=str(station_config_path("simulated")))
    station.load_all_instruments()
    yield station
    station.close_all_registered_instruments()
    qc.Station.default = None


def test_simulated_station_provides_source_fridge_and_readout(station):
    assert isinstance(station.components["source"], FilteredThermalSource)
    assert isinstance(station.components["readout"], TwoQubitReadout)
    assert station.components["fridge"].ch06.temperature() < 0.05
    assert station.components["readout"].qubit1_linewidth() == pytest.approx(1e6)
    assert 5.9e9 < station.components["readout"].qubit1_frequency() < 6.1e9


def test_source_alone_loads_its_parts_from_the_station():
    station = qc.Station(config_file=str(station_config_path("simulated")))
    try:
        source = station.load_instrument("source")
        assert source.attenuation() == 20.0
        assert "attenuator" in station.components
    finally:
        station.close_all_registered_instruments()
        qc.Station.default = None


def test_narrow_hot_source_counts_reconstruct_the_twins_entangled_state(station):
    source, readout = station.components["source"], station.components["readout"]
    source.bandwidth(10e3)
    source.attenuation(0)
    source.output(True)
    source.temperature(29.0)  # about 100 photons at 6 GHz
    readout.settle(1e-3)
    twin = readout.state()
    assert min_partial_transpose_eigenvalue(twin) < -0.03  # the twin predicts entanglement
    shots = 50_000
    estimate = linear_inversion(readout.measure(shots=shots), readout.assignment_matrices())
    # Pauli expectations agree within 5 standard errors (readout inversion inflates them ~1.3x).
    tolerance = 5 * 1.3 / np.sqrt(shots)
    np.testing.assert_allclose(pauli_expectations(estimate), pauli_expectations(twin), atol=tolerance)
    assert min_partial_transpose_eigenvalue(estimate) == pytest.approx(
        min_partial_transpose_eigenvalue(twin), abs=tolerance
    )


def test_broadband_source_counts_show_no_entanglement(station):
    source, readout = station.components["source"], station.components["readout"]
    source.bandwidth(100e6)
    source.attenuation(0)
    source.output(True)
    source.temperature(29.0)
    shots = 20_000
    estimate = linear_inversion(readout.measure(shots=shots), readout.assignment_matrices())
    assert min_partial_transpose_eigenvalue(readout.state()) >= -1e-9
    assert min_partial_transpose_eigenvalue(estimate) > -5 * 1.3 / np.sqrt(shots)
