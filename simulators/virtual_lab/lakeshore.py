"""LakeShore 336 (hot load) and 372 (fridge thermometry) on pyvisa-sim, with a thermal plant.

The QCoDeS drivers run unchanged against thermalink's sims (``thermalink.drivers.sims:
LakeshoreModel336.yaml`` / ``LakeshoreModel372.yaml``); the sims accept a simulation-only command
``SIM:KRDG <channel>,<K>`` through which these subclasses move the sensor readings:

* :class:`VirtualLakeshoreModel336` is the heated hot load: on :meth:`advance` its sensor relaxes
  exponentially (``thermal_time_constant``) towards the heater setpoint when the heater output is
  in closed loop with a range on, else towards ``stage_temperature``.
* :class:`VirtualLakeshoreModel372` is the fridge; tests and scenarios set its readings with
  :meth:`VirtualLakeshoreModel372.set_simulated_temperature`.
"""

from __future__ import annotations

import math
from typing import Any

from qcodes import validators as vals
from qcodes.instrument_drivers.Lakeshore import LakeshoreModel336, LakeshoreModel372
from qcodes.parameters import Parameter

SIM_336 = "thermalink.drivers.sims:LakeshoreModel336.yaml"
SIM_372 = "thermalink.drivers.sims:LakeshoreModel372.yaml"


def _channel_command(instrument: Any, channel: str) -> str:
    commands = instrument.channel_name_command
    if channel not in commands:
        raise ValueError(f"channel={channel!r} is not one of {sorted(commands)}")
    return commands[channel]


class VirtualLakeshoreModel336(LakeshoreModel336):
    """Simulated LakeShore 336 heating the hot load (sensor ``sensor``, heater ``heater_output``).

    Extra parameters: ``stage_temperature`` (K, where the load relaxes with the heater off) and
    ``thermal_time_constant`` (s). Setpoint writes take no real post-delay.
    """

    def __init__(
        self,
        name: str,
        address: str = "GPIB::12::INSTR",
        *,
        sensor: str = "A",
        heater_output: str = "output_1",
        stage_temperature: float = 4.0,
        thermal_time_constant: float = 20.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("pyvisa_sim_file", SIM_336)
        super().__init__(name, address, **kwargs)
        self._sensor = sensor
        self._sensor_command = _channel_command(self, sensor)
        self._heater_output = heater_output
        for output in (self.output_1, self.output_2, self.output_3, self.output_4):
            output.setpoint.post_delay = 0.0
        self.stage_temperature: Parameter = self.add_parameter(
            "stage_temperature",
            label="Hot-load stage temperature",
            unit="K",
            set_cmd=None,
            vals=vals.Numbers(0.0, 400.0),
            initial_value=stage_temperature,
            docstring="Temperature the unheated load relaxes to, K.",
        )
        self.thermal_time_constant: Parameter = self.add_parameter(
            "thermal_time_constant",
            label="Thermal time constant",
            unit="s",
            set_cmd=None,
            vals=vals.Numbers(1e-6, 1e5),
            initial_value=thermal_time_constant,
            docstring="Exponential time constant of the hot load's temperature, s.",
        )
        self.set_simulated_temperature(sensor, stage_temperature)

    def set_simulated_temperature(self, channel: str, temperature: float) -> None:
        """Force the reading of ``channel`` to ``temperature`` K (simulation only)."""
        self.write(f"SIM:KRDG {_channel_command(self, channel)},{float(temperature):.6f}")

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass for the hot load."""
        heater = getattr(self, self._heater_output)
        stage = float(self.stage_temperature())
        target = stage
        if heater.mode() == "closed_loop" and heater.output_range() != "off":
            target = max(stage, float(heater.setpoint()))
        current = float(getattr(self, self._sensor).temperature())
        decay = math.exp(-float(seconds) / float(self.thermal_time_constant()))
        self.set_simulated_temperature(self._sensor, target + (current - target) * decay)


class VirtualLakeshoreModel372(LakeshoreModel372):
    """Simulated LakeShore 372 fridge thermometry (mixing chamber on ``ch06`` by default)."""

    def __init__(self, name: str, address: str = "GPIB::13::INSTR", **kwargs: Any) -> None:
        kwargs.setdefault("pyvisa_sim_file", SIM_372)
        super().__init__(name, address, **kwargs)

    def set_simulated_temperature(self, channel: str, temperature: float) -> None:
        """Force the reading of ``channel`` (``"ch06"``) to ``temperature`` K (simulation only)."""
        self.write(f"SIM:KRDG {_channel_command(self, channel)},{float(temperature):.6f}")
