"""The room-temperature station: a hot load outside the cryostat, through the line's stages."""

import math

import pytest
import qcodes as qc

from thermalink.analysis import concurrence
from thermalink.drivers.thermal_source import RoomTemperatureThermalSource
from thermalink.station_configs import station_config_path

HF_OVER_K = 6.62607015e-34 * 6e9 / 1.380649e-23  # K, at the filter centre 6 GHz


def bose(temperature):
    return 1.0 / math.expm1(HF_OVER_K / temperature)


def through(n, attenuation_dB, temperature):
    a = 10 ** (attenuation_dB / 10)
    return n / a + (1 - 1 / a) * bose(temperature)


@pytest.fixture
def station():
    station = qc.Station(config_file=str(station_config_path("room_temperature")))
    station.load_all_instruments()
    yield station
    station.close_all_registered_instruments()
    qc.Station.default = None


def test_room_temperature_source_occupation_is_the_line_budget(station):
    source = station.components["source"]
    assert isinstance(source, RoomTemperatureThermalSource)
    source.attenuation(0)
    source.center_frequency(6e9)
    source.output(True)
    # 295 K load, 0 dB step attenuator at 295 K, then 1 dB at 50 K, 3 dB at 4 K, 1 dB at 0.8 K.
    n = bose(295.0)
    for attenuation_dB, temperature in ((0.0, 295.0), (1.0, 50.0), (3.0, 4.0), (1.0, 0.8)):
        n = through(n, attenuation_dB, temperature)
    assert n == pytest.approx(343.77, abs=0.01)
    assert source.occupation() == pytest.approx(n, rel=1e-9)


def test_room_temperature_load_heats_above_the_cryogenic_cap_but_not_above_its_maximum(station):
    source = station.components["source"]
    source.temperature(320.0)
    assert source.temperature() == pytest.approx(320.0, abs=0.06)
    with pytest.raises(ValueError, match="between 0.0 and 350.0"):
        source.temperature(360.0)  # max_temperature 350 K
    assert source.TEMPERATURE_LIMIT_K == 400.0


def test_room_temperature_noise_entangles_the_qubits_through_a_narrow_filter(station):
    source, readout = station.components["source"], station.components["readout"]
    source.attenuation(0)
    source.bandwidth(5e3)
    source.output(True)
    assert readout.current_lab_link().source_occupation > 300
    assert concurrence(readout.state()) > 0.1
