import pytest
from qcodes.instrument_drivers.Lakeshore import LakeshoreModel336, LakeshoreModel372

from thermalink.simulators.virtual_lab.lakeshore import VirtualLakeshoreModel336, VirtualLakeshoreModel372


def test_lakeshore_336_driver_runs_on_the_shipped_sim():
    hot_load = LakeshoreModel336(
        "hot_load", "GPIB::12::INSTR", pyvisa_sim_file="thermalink.drivers.sims:LakeshoreModel336.yaml"
    )
    heater = hot_load.output_1
    heater.setpoint.post_delay = 0
    heater.setpoint(12.5)
    heater.output_range("medium")
    heater.mode("closed_loop")
    assert heater.setpoint() == 12.5
    assert heater.output_range() == "medium"
    assert heater.mode() == "closed_loop"
    assert hot_load.A.temperature() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="400"):
        heater.setpoint(500)
    hot_load.close()
    assert not LakeshoreModel336.exist("hot_load")


def test_lakeshore_372_driver_runs_on_the_shipped_sim_with_every_parameter_readable():
    fridge = LakeshoreModel372(
        "fridge", "GPIB::13::INSTR", pyvisa_sim_file="thermalink.drivers.sims:LakeshoreModel372.yaml"
    )
    snapshot = fridge.snapshot(update=True)
    assert fridge.ch06.temperature() == pytest.approx(0.015)
    assert snapshot["submodules"]["ch06"]["parameters"]["temperature"]["value"] == pytest.approx(0.015)
    fridge.close()


def test_virtual_hot_load_relaxes_to_its_setpoint_when_heating_and_to_its_stage_when_off():
    hot_load = VirtualLakeshoreModel336("hot_load", stage_temperature=4.0, thermal_time_constant=10.0)
    heater = hot_load.output_1
    heater.setpoint(20.0)
    hot_load.advance(100.0)
    assert hot_load.A.temperature() == pytest.approx(4.0)  # heater still off
    heater.mode("closed_loop")
    heater.output_range("low")
    hot_load.advance(100.0)
    assert hot_load.A.temperature() == pytest.approx(20.0, abs=1e-2)
    heater.output_range("off")
    hot_load.advance(100.0)
    assert hot_load.A.temperature() == pytest.approx(4.0, abs=1e-2)


def test_virtual_fridge_reading_can_be_forced_for_scenarios():
    fridge = VirtualLakeshoreModel372("fridge")
    fridge.set_simulated_temperature("ch06", 0.3)
    assert fridge.ch06.temperature() == pytest.approx(0.3)
    with pytest.raises(ValueError, match="ch17"):
        fridge.set_simulated_temperature("ch17", 0.3)


def test_lakeshore_372_heater_rejects_out_of_range_setpoints_and_closes():
    fridge = LakeshoreModel372(
        "fridge", "GPIB::13::INSTR", pyvisa_sim_file="thermalink.drivers.sims:LakeshoreModel372.yaml"
    )
    fridge.sample_heater.setpoint.post_delay = 0
    fridge.sample_heater.setpoint(0.1)
    assert fridge.sample_heater.setpoint() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="400"):
        fridge.sample_heater.setpoint(1000)
    fridge.close()
    assert not LakeshoreModel372.exist("fridge")
