"""Shared test set-up: a headless plotting backend, test-only helpers on the path, and every
test starting and ending with no open instrument and no default station (a default station left
behind by ``LabStation.from_config`` would let ``source.part`` silently reload closed parts)."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import pytest
from qcodes import Station
from qcodes.instrument import Instrument

matplotlib.use("Agg")
# Test-only helpers (e.g. the QuTiP reference) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def close_instruments():
    Instrument.close_all()
    Station.default = None
    yield
    Instrument.close_all()
    Station.default = None


SIMS = "thermalink.drivers.sims"


@pytest.fixture
def parts():
    """The source's parts on pyvisa-sim, opened under their station names."""
    from thermalink.drivers.step_attenuator import Weinschel8320
    from thermalink.drivers.tunable_filter import GenericTunableFilter
    from thermalink.simulators.virtual_lab.lakeshore import VirtualLakeshoreModel336, VirtualLakeshoreModel372

    return {
        "hot_load": VirtualLakeshoreModel336("hot_load", stage_temperature=4.0, thermal_time_constant=20.0),
        "fridge": VirtualLakeshoreModel372("fridge"),
        "attenuator": Weinschel8320("attenuator", "GPIB::7::INSTR", pyvisa_sim_file=f"{SIMS}:Weinschel8320.yaml"),
        "tunable_filter": GenericTunableFilter(
            "tunable_filter", "GPIB::10::INSTR", pyvisa_sim_file=f"{SIMS}:TunableFilter.yaml"
        ),
    }
