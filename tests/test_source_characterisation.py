"""Source characterisation on the simulated station: the fitted noise spectrum gives back the
filter's centre and bandwidth and the source occupation that were set."""

import pytest

from thermalink.drivers.spectrum_analyzer import KeysightN9030B
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.source_characterisation import characterise_source


@pytest.fixture
def lab():
    lab = LabStation.from_config()  # its analyzer has radiometer noise (seeded)
    lab.apply({"temperature": 30.0, "attenuation": 0.0, "center_frequency": 6.1e9})
    return lab


@pytest.mark.parametrize("bandwidth", [20e3, 2e6, 40e6])
def test_fit_recovers_the_set_centre_bandwidth_and_source_occupation(lab, bandwidth):
    lab.source.bandwidth(bandwidth)
    result = characterise_source(lab)
    comparison = result.comparison()
    assert result.set_bandwidth_Hz == bandwidth
    assert result.set_occupation == pytest.approx(float(lab.source.occupation()))
    assert abs(comparison["bandwidth_Hz"][3]) < 0.03
    assert abs(result.center_Hz - 6.1e9) < 0.01 * bandwidth
    assert abs(comparison["source_occupation"][3]) < 0.10
    for name, (fitted, stderr, setting, _) in comparison.items():
        assert 0 < stderr and abs(fitted - setting) < 4 * stderr, name  # honest uncertainties
    assert result.amplifier_noise == pytest.approx(lab.instrument("spectrum_analyzer").amplifier_noise(), rel=0.02)


def test_peak_occupation_at_the_filter_output_is_4_c_1_minus_c_times_the_source_occupation(lab):
    lab.source.bandwidth(1e6)
    lab.source.in_coupling(0.2)
    result = characterise_source(lab)
    true_source = lab.source.occupation()
    # physics.md: the filter passes 4 k_in k_out / k^2 of the source occupation at its centre;
    # the fitted peak is measured photons, compared with the virtual source's true occupation.
    assert result.peak_occupation == pytest.approx(4 * 0.2 * 0.8 * true_source, rel=0.10)
    assert result.source_occupation == pytest.approx(true_source, rel=0.10)


def test_a_hotter_source_is_measured_hotter(lab):
    lab.source.bandwidth(1e6)
    cold = characterise_source(lab).source_occupation
    lab.source.temperature(10.0)
    assert characterise_source(lab).source_occupation < 0.5 * cold


def test_an_overstated_chain_gain_understates_the_occupation_by_the_same_factor(lab):
    lab.source.bandwidth(1e6)
    analyzer = lab.instrument("spectrum_analyzer")
    analyzer.seed(1)
    right = characterise_source(lab)
    analyzer.seed(1)
    wrong = characterise_source(lab, chain_gain_dB=analyzer.gain() + 3.0)
    assert wrong.source_occupation == pytest.approx(right.source_occupation * 10 ** -0.3, rel=1e-6)
    assert wrong.bandwidth_Hz == pytest.approx(right.bandwidth_Hz, rel=1e-6)


def test_output_is_restored_and_the_plot_is_written(lab, tmp_path):
    lab.source.bandwidth(1e6)
    lab.source.output(False)
    result = characterise_source(lab, plot_path=tmp_path / "sub" / "source.png")
    assert lab.source.output() is False
    assert result.plot == tmp_path / "sub" / "source.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.spectrum.data_vars) == {"on", "off", "fit"}
    assert "bandwidth_Hz" in result.summary()


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"npts": 5}, r"npts=5 is outside the allowed range: integers >= 11"),
        ({"rbw_fraction": 0.5}, r"rbw_fraction=0.5 is outside the allowed range \(0, 0.2\]"),
        ({"span_bandwidths": 1.0}, r"span_bandwidths=1.0 is outside the allowed range \(2, inf\)"),
        ({"sweep_time_s": -1.0}, r"sweep_time_s=-1.0 is outside the allowed range \(0, inf\) s"),
    ],
)
def test_bad_measurement_settings_are_rejected_by_value(lab, arguments, message):
    with pytest.raises(ValueError, match=message):
        characterise_source(lab, **arguments)


def test_an_analyzer_without_a_gain_needs_the_chain_gain(lab, monkeypatch):
    plain = KeysightN9030B("plain_analyzer", "GPIB::18::INSTR", pyvisa_sim_file="thermalink.drivers.sims:KeysightN9030B.yaml")
    monkeypatch.setattr(lab, "instrument", lambda name: plain)
    with pytest.raises(ValueError, match="chain_gain_dB=None but plain_analyzer has no 'gain' parameter"):
        characterise_source(lab)


def test_a_station_without_an_analyzer_is_named(lab):
    del lab.station.config["instruments"]["spectrum_analyzer"]
    with pytest.raises(ValueError, match=r"the station has no instrument 'spectrum_analyzer'"):
        characterise_source(lab)
