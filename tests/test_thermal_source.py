import logging

import pytest

from thermalink.drivers.thermal_source import FilteredThermalSource, InterlockError
from thermalink.drivers.tunable_filter import GenericTunableFilter
from thermalink.simulators.lab_units import LineStage, source_occupation
from thermalink.simulators.virtual_lab.source import VirtualFilteredThermalSource

@pytest.fixture
def source(parts):
    return VirtualFilteredThermalSource("source", ramp_rate=10.0, line_stages=[[20.0, 0.02]])


def test_source_is_a_filtered_thermal_source_and_reads_back_its_settings(source):
    assert isinstance(source, FilteredThermalSource)
    source.attenuation(6.0)
    source.center_frequency(6.1e9)
    source.bandwidth(50e3)
    source.output("on")
    assert source.attenuation() == 6.0
    assert source.center_frequency() == pytest.approx(6.1e9)
    assert source.bandwidth() == pytest.approx(50e3)
    assert source.output() is True


def test_setting_temperature_ramps_the_hot_load_to_within_tolerance(source, parts):
    start = source.clock.now()
    source.temperature(20.0)
    assert source.temperature() == pytest.approx(20.0, abs=source.temperature_tolerance())
    # 16 K at 10 K/min is at least 96 s of (virtual) ramp
    assert source.clock.now() - start >= 96.0
    assert parts["hot_load"].output_1.setpoint() == pytest.approx(20.0)


def test_occupation_follows_the_noise_budget_of_the_line(source):
    source.output(True)
    source.attenuation(10.0)
    source.temperature(15.0)
    stages = [LineStage(10.0, 4.0), LineStage(20.0, 0.02)]
    assert source.lab_stages() == stages
    expected = source_occupation(source.temperature(), source.center_frequency(), stages)
    assert source.occupation() == pytest.approx(expected)
    assert source.occupation() > 0.1


def test_occupation_is_zero_with_the_output_off(source):
    source.output(False)
    assert source.occupation() == 0.0


def test_heating_is_refused_while_the_mixing_chamber_is_too_warm(source, parts):
    parts["fridge"].set_simulated_temperature("ch06", 0.2)
    heater = parts["hot_load"].output_1
    with pytest.raises(InterlockError, match="mixing chamber at 0.2 K is above its limit 0.05 K"):
        source.temperature(10.0)
    assert heater.output_range() == "off"
    assert heater.setpoint() == 0.0  # nothing moved
    assert source.temperature() == pytest.approx(4.0)


def test_a_fridge_warming_mid_ramp_leaves_the_source_safe(source, parts):
    source.output(True)
    fridge = parts["fridge"]

    def warm_fridge(elapsed):
        if source.clock.now() > 30.0:
            fridge.set_simulated_temperature("ch06", 0.5)

    source.clock.add_listener(warm_fridge)
    with pytest.raises(InterlockError):
        source.temperature(30.0)
    assert source.output() is False
    assert parts["hot_load"].output_1.output_range() == "off"
    assert source.temperature() < 30.0 - 1.0


def test_an_unreachable_instrument_mid_ramp_still_leaves_the_heater_off(source, parts, caplog):
    source.output(True)
    tunable_filter = parts["tunable_filter"]

    def lose_filter(elapsed):
        if source.clock.now() > 30.0 and GenericTunableFilter.exist("tunable_filter"):
            tunable_filter.close()
            raise ConnectionError("VISA link lost")

    source.clock.add_listener(lose_filter)
    with caplog.at_level(logging.ERROR), pytest.raises(ConnectionError):
        source.temperature(30.0)
    assert parts["hot_load"].output_1.output_range() == "off"
    assert "could not switch the filter output off" in caplog.text


def test_safe_state_never_raises_when_parts_are_missing():
    source = FilteredThermalSource("lonely_source", hot_load="nowhere", tunable_filter="nothing")
    assert source.safe_state() is False


def test_temperature_above_the_code_limit_is_refused_even_without_the_validator(source):
    source.temperature.vals = None  # what a station's `limits:` can do
    with pytest.raises(ValueError, match=r"allowed range \[0, 40.0\] K"):
        source.temperature(55.0)
    with pytest.raises(ValueError, match=r"between 0.0 and 60.0"):
        source.max_temperature(100.0)


def test_ramp_rate_is_capped_in_code(source):
    with pytest.raises(ValueError, match="10.0"):
        source.ramp_rate(50.0)


def test_temperature_zero_switches_the_heater_off(source, parts):
    source.temperature(10.0)
    source.temperature(0.0)
    assert parts["hot_load"].output_1.output_range() == "off"
    source.wait(300.0)
    assert source.temperature() == pytest.approx(4.0, abs=0.01)


def test_a_hot_load_that_never_settles_times_out_into_the_safe_state(source, parts):
    source.settle_timeout(60.0)
    parts["hot_load"].thermal_time_constant(1e5)  # far too slow to follow
    with pytest.raises(TimeoutError, match="did not settle"):
        source.temperature(10.0)
    assert parts["hot_load"].output_1.output_range() == "off"


def test_source_settings_out_of_range_name_the_allowed_range(source):
    with pytest.raises(ValueError, match="between 1000.0 and 100000000.0"):
        source.bandwidth(1e9)
    with pytest.raises(ValueError, match="multiple of 2 between 0 and 60"):
        source.attenuation(5)


def test_source_closes_cleanly_without_touching_its_parts(source, parts):
    source.close()
    assert not FilteredThermalSource.exist("source")
    assert parts["hot_load"].A.temperature() == pytest.approx(4.0)


def test_source_settings_validate_against_the_parts_before_anything_moves(source, parts):
    before = parts["tunable_filter"].bandwidth()
    source.bandwidth.validate(50e3)
    with pytest.raises(ValueError, match="between 1000.0 and 100000000.0"):
        source.bandwidth.validate(10.0)
    with pytest.raises(ValueError, match="between 4000000000.0 and 8000000000.0"):
        source.center_frequency.validate(9e9)
    with pytest.raises(ValueError, match="multiple of 2"):
        source.attenuation.validate(3)
    with pytest.raises(ValueError, match="between 0.0 and 40.0"):
        source.temperature.validate(45.0)
    assert parts["tunable_filter"].bandwidth() == before


# ---- safety on the instruments themselves (issue 13, item 9) ---------------------------------
def test_the_lakeshore_336_limits_are_written_on_connect(parts):
    heater, sensor = parts["hot_load"].output_1, parts["hot_load"].A
    heater.powerup_enable(True)  # what a previous user may have left
    VirtualFilteredThermalSource("source", max_temperature=40.0, heater_max_current=0.05, tlimit_margin=5.0)
    assert sensor.t_limit() == pytest.approx(45.0)
    assert heater.output_heater_resistance() == "50ohm"
    assert heater.output_max_current() == "user"
    assert heater.output_max_user_current() == pytest.approx(0.05)
    assert heater.powerup_enable() is False


@pytest.mark.parametrize("reading", [0.0, -1.0, 1e-4])
def test_a_broken_mixing_chamber_thermometer_refuses_heating(source, parts, reading):
    parts["fridge"].set_simulated_temperature("ch06", reading)
    with pytest.raises(InterlockError, match="implausible .* heating refused") as error:
        source.temperature(30.0)
    assert error.value.safe is None  # nothing had moved
    assert parts["hot_load"].output_1.output_range() == "off"
    assert source.temperature() == pytest.approx(4.0)


def test_a_mixing_chamber_thermometer_without_valid_status_or_not_scanned_refuses_heating(source, parts):
    fridge = parts["fridge"]
    fridge.write("SIM:RDGST 6,1")  # invalid reading
    with pytest.raises(InterlockError, match="status"):
        source.temperature(10.0)
    fridge.write("SIM:RDGST 6,0")
    fridge.ch06.enabled(False)  # not measured: the reading is stale
    with pytest.raises(InterlockError, match="stale"):
        source.temperature(10.0)
    assert parts["hot_load"].output_1.output_range() == "off"


def test_a_thermometer_reading_zero_mid_ramp_stops_the_ramp_in_the_safe_state(source, parts):
    source.output(True)
    fridge = parts["fridge"]

    def break_thermometer(elapsed):
        if source.clock.now() > 30.0:
            fridge.set_simulated_temperature("ch06", 0.0)

    source.clock.add_listener(break_thermometer)
    with pytest.raises(InterlockError, match=r"implausible.*safe state confirmed") as error:
        source.temperature(30.0)
    assert error.value.safe is True
    assert parts["hot_load"].output_1.output_range() == "off"
    assert source.output() is False
    assert source.temperature() < 29.0


def test_an_invalid_hot_load_sensor_refuses_heating(source, parts):
    parts["hot_load"].write("SIM:RDGST A,1")
    with pytest.raises(InterlockError, match="hot-load sensor A reports status 'Invalid Reading'") as error:
        source.temperature(10.0)
    assert error.value.safe is None  # refused before the heater was switched on
    assert parts["hot_load"].output_1.output_range() == "off"


def test_a_new_target_refused_while_the_load_is_heated_switches_the_heater_off(source, parts):
    source.temperature(20.0)
    assert parts["hot_load"].output_1.output_range() != "off"
    parts["hot_load"].write("SIM:RDGST A,1")  # the sensor fails while the loop holds 20 K
    with pytest.raises(InterlockError, match="hot-load sensor A") as error:
        source.temperature(25.0)
    assert error.value.safe is True
    assert parts["hot_load"].output_1.output_range() == "off"


@pytest.mark.parametrize("target, expected", [(8.0, "low"), (20.0, "medium"), (35.0, "high")])
def test_the_lowest_heater_range_that_reaches_the_target_is_used(parts, target, expected):
    source = VirtualFilteredThermalSource("source", ramp_rate=10.0, heater_range_limits=(10.0, 30.0))
    parts["hot_load"].output_1.powerup_enable(True)
    source.temperature(target)
    heater = parts["hot_load"].output_1
    assert heater.output_range() == expected
    assert heater.powerup_enable() is False


def test_an_interlock_says_when_the_safe_state_could_not_be_confirmed(source, parts):
    source.temperature(10.0)
    parts["fridge"].set_simulated_temperature("ch06", 0.5)
    parts["tunable_filter"].close()  # the filter output cannot be switched off any more
    with pytest.raises(InterlockError, match="SAFE STATE NOT CONFIRMED") as error:
        source.check_hold()
    assert error.value.safe is False
    assert parts["hot_load"].output_1.output_range() == "off"
