import numpy as np
import pytest

from thermalink.drivers.step_attenuator import Weinschel8320

SIM = "thermalink.drivers.sims:Weinschel8320.yaml"


@pytest.fixture
def attenuator():
    instrument = Weinschel8320("attenuator", "GPIB::7::INSTR", pyvisa_sim_file=SIM)
    yield instrument
    instrument.close()


@pytest.mark.parametrize("value", [0, 10, 10.0, np.float64(36.0), 60])
def test_attenuator_accepts_ints_and_floats_on_the_2_dB_grid(attenuator, value):
    attenuator.attenuation(value)
    assert attenuator.attenuation() == float(value)


@pytest.mark.parametrize("value", [3.0, 61, 62, -2, 10.5])
def test_attenuator_rejects_off_grid_or_out_of_range_values(attenuator, value):
    attenuator.attenuation(20)
    with pytest.raises(ValueError, match="multiple of 2 between 0 and 60"):
        attenuator.attenuation(value)
    assert attenuator.attenuation() == 20.0


def test_attenuator_closes_cleanly(attenuator):
    attenuator.close()
    assert not Weinschel8320.exist("attenuator")
