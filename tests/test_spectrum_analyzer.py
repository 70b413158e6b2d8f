import numpy as np
import pytest

from thermalink.drivers.spectrum_analyzer import KeysightN9030B
from thermalink.simulators.virtual_lab.source import VirtualFilteredThermalSource
from thermalink.simulators.virtual_lab.spectrum_analyzer import VirtualKeysightN9030B

SIM = "thermalink.drivers.sims:KeysightN9030B.yaml"


def test_spectrum_analyzer_driver_runs_on_its_sim_with_ascii_traces():
    analyzer = KeysightN9030B("spectrum_analyzer", "GPIB::18::INSTR", pyvisa_sim_file=SIM)
    analyzer.sa.res_bw(1e3)
    analyzer.sa.npts(101)
    assert analyzer.sa.res_bw() == 1e3
    trace = analyzer.sa.trace()
    assert trace.shape == (101,)
    assert np.argmax(trace) == 50  # the sim's Lorentzian sits at the centre
    with pytest.raises(ValueError, match="8000000.0"):
        analyzer.sa.res_bw(1e9)
    analyzer.close()
    assert not KeysightN9030B.exist("spectrum_analyzer")


def test_a_sweep_longer_than_the_visa_timeout_reads_back(monkeypatch):
    analyzer = KeysightN9030B("spectrum_analyzer", "GPIB::18::INSTR", pyvisa_sim_file=SIM)
    analyzer.timeout(5.0)
    analyzer.sa.sweep_time(160.0)  # what calibrate source sets at narrow bandwidths
    timeouts = []
    query = analyzer.visa_handle.query_ascii_values

    def timed_query(*args, **kwargs):
        timeouts.append(analyzer.timeout())
        return query(*args, **kwargs)

    monkeypatch.setattr(analyzer.visa_handle, "query_ascii_values", timed_query)
    assert analyzer.sa.trace().shape == (analyzer.sa.npts(),)
    assert timeouts and timeouts[-1] >= 160.0
    assert analyzer.timeout() == 5.0  # restored after the sweep
    analyzer.close()


@pytest.fixture
def analyzer(parts):
    source = VirtualFilteredThermalSource("source", ramp_rate=10.0)
    source.output(True)
    source.attenuation(0)
    source.center_frequency(6.1e9)
    source.bandwidth(2e6)
    return VirtualKeysightN9030B("spectrum_analyzer", source="source"), source


def test_virtual_spectrum_shows_the_filter_lorentzian_at_its_centre_and_width(analyzer):
    analyzer, source = analyzer
    source.temperature(20.0)
    analyzer.amplifier_noise(0.0)
    spectrum = analyzer.noise_spectrum(6.1e9, 20e6, 401)
    peak = float(spectrum.idxmax())
    assert peak == pytest.approx(6.1e9, abs=0.1e6)
    linear = 10 ** (spectrum / 10)
    above_half = spectrum.frequency[linear >= linear.max() / 2]
    assert float(above_half.max() - above_half.min()) == pytest.approx(2e6, rel=0.05)


def test_a_hotter_source_raises_the_noise_peak(analyzer):
    analyzer, source = analyzer
    cold = float(analyzer.noise_spectrum(6.1e9, 20e6, 101).max())
    source.temperature(30.0)
    hot = float(analyzer.noise_spectrum(6.1e9, 20e6, 101).max())
    assert hot > cold + 3.0


def test_radiometer_noise_shrinks_as_one_over_root_rbw_times_dwell(analyzer):
    analyzer, source = analyzer
    analyzer.radiometer_noise(True)
    analyzer.seed(3)
    source.bandwidth(1e8)  # flat over the 1 MHz span
    analyzer.sa.res_bw(1e4)
    spreads = []
    for sweep_time in (0.4, 40.0):
        analyzer.sa.sweep_time(sweep_time)
        linear = 10 ** (analyzer.noise_spectrum(6.1e9, 1e6, 401).values / 10)
        spreads.append(np.std(linear / np.mean(linear)))
    # dwell 1 ms and 100 ms at 10 kHz: 1/sqrt(10) and 1/sqrt(1000)
    assert spreads[0] == pytest.approx(10 ** -0.5, rel=0.15)
    assert spreads[1] == pytest.approx(10 ** -1.5, rel=0.15)
