import pytest

from thermalink.drivers.tunable_filter import GenericTunableFilter, TunableFilterError

SIM = "thermalink.drivers.sims:TunableFilter.yaml"


@pytest.fixture
def tunable_filter():
    instrument = GenericTunableFilter("tunable_filter", "GPIB::10::INSTR", pyvisa_sim_file=SIM)
    yield instrument
    instrument.close()


def test_filter_reads_back_centre_bandwidth_and_output(tunable_filter):
    tunable_filter.center_frequency(6.25e9)
    tunable_filter.bandwidth(12.5e3)
    tunable_filter.output("on")
    assert tunable_filter.center_frequency() == pytest.approx(6.25e9)
    assert tunable_filter.bandwidth() == pytest.approx(12.5e3)
    assert tunable_filter.output() is True
    tunable_filter.output(False)
    assert tunable_filter.output() is False


@pytest.mark.parametrize(
    ("parameter", "value", "bound"),
    [("bandwidth", 100.0, "1000.0"), ("bandwidth", 2e8, "100000000.0"), ("center_frequency", 9e9, "8000000000.0")],
)
def test_filter_rejects_out_of_range_values_naming_the_range(tunable_filter, parameter, value, bound):
    before = tunable_filter.parameters[parameter]()
    with pytest.raises(ValueError, match=bound):
        tunable_filter.parameters[parameter](value)
    assert tunable_filter.parameters[parameter]() == before


def test_filter_error_queue_reports_a_bad_command_once(tunable_filter):
    assert tunable_filter.errors() == []
    tunable_filter.write("NOT:A:COMMAND 1")
    with pytest.raises(TunableFilterError, match="Command error"):
        tunable_filter.check_errors()
    assert tunable_filter.errors() == []


def test_filter_closes_cleanly(tunable_filter):
    tunable_filter.close()
    assert not GenericTunableFilter.exist("tunable_filter")
