"""The simulated station: loads from YAML and its counts carry the twin's state."""

import pytest
import qcodes as qc

from thermalink.simulators.figures_of_merit import concurrence, trace_distance
from thermalink.analysis.tomography import reconstruct
from thermalink.drivers.thermal_source import FilteredThermalSource
from thermalink.drivers.two_qubit_readout import TwoQubitReadout
from thermalink.station_configs import station_config_path

SHOTS = 20_000
#: Trace distance reachable with 9 x 20000 shots and the station's readout errors (about 0.01-0.02).
STATISTICAL_DISTANCE = 0.05


@pytest.fixture
def station():
    station = qc.Station(config_file=str(station_config_path("simulated")))
    station.load_all_instruments()
    yield station
    station.close_all_registered_instruments()
    qc.Station.default = None


def hot_source(station, bandwidth):
    source = station.components["source"]
    source.bandwidth(bandwidth)
    source.attenuation(0)
    source.output(True)
    source.temperature(29.0)  # about 100 photons at 6 GHz
    return source, station.components["readout"]


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


def test_narrow_hot_source_counts_reconstruct_to_the_twins_entangled_state(station):
    source, readout = hot_source(station, bandwidth=10e3)
    readout.settle(1e-3)
    # The station's frozen readout: the counts are of the state at the pre-rotation pulse, read
    # through the readout errors with the decay after the pulse folded in (what a calibration
    # through the protocol measures).
    assert readout.freeze() and readout.integration_time() > 0
    measured = readout.measured_state()
    twin = measured.rho
    assert concurrence(twin) > 0.1  # the twin predicts entanglement here
    estimate = reconstruct(readout.measure(shots=SHOTS), "mle", tuple(measured.fold(readout.assignment_matrices()))).rho
    assert trace_distance(estimate, twin) < STATISTICAL_DISTANCE
    assert concurrence(estimate) == pytest.approx(concurrence(twin), abs=STATISTICAL_DISTANCE)


def test_broadband_source_counts_show_no_entanglement(station):
    source, readout = hot_source(station, bandwidth=100e6)
    twin = readout.state()
    assert concurrence(twin) == 0.0
    estimate = reconstruct(readout.measure(shots=SHOTS), "mle", readout.assignment_matrices()).rho
    assert trace_distance(estimate, twin) < STATISTICAL_DISTANCE
    assert concurrence(estimate) < 0.02
